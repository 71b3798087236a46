import type { Kysely, Transaction } from 'kysely';

/**
 * The relational schema, shared by SQLite and PostgreSQL. Only portable column types are
 * used: text, integer/bigint (times are epoch milliseconds), and blob/bytea. Secret values
 * and data keys only ever appear here as ciphertext.
 */
export interface Database {
  system_state: { key: string; value: string };
  keyring: {
    key_id: string;
    purpose: 'data' | 'audit' | 'token' | 'checkpoint' | 'fingerprint';
    term: number;
    sealed_key: Buffer;
    created_at: number;
  };
  secrets: {
    id: string;
    region: string;
    name: string;
    arn_suffix: string;
    description: string | null;
    owner: string | null;
    kms_key_id: string | null;
    created_at: number;
    updated_at: number;
    last_accessed_at: number | null;
    last_rotated_at: number | null;
    deleted_at: number | null;
    delete_after: number | null;
    /** JSON rotation settings, owned by the rotation engine. */
    rotation: string | null;
    /** Null for a primary secret; the primary's region for a read-only replica. */
    primary_region: string | null;
  };
  secret_tags: { secret_id: string; key: string; value: string };
  /** AWS resource policy documents (PutResourcePolicy), one per secret at most. */
  secret_resource_policies: { secret_id: string; document: string; updated_at: number };
  /** Scan index: OPRF fingerprints of CURRENT/PREVIOUS values and their fields (never values). */
  scan_fingerprints: { secret_id: string; version_id: string; label: string; field: string; fingerprint: string };
  secret_versions: {
    secret_id: string;
    version_id: string;
    created_at: number;
    value_kind: 'string' | 'binary';
    key_term: number;
    wrapped_key: Buffer;
    ciphertext: Buffer;
    last_accessed_at: number | null;
  };
  version_labels: { secret_id: string; label: string; version_id: string };
  policies: { name: string; document: string; created_at: number; updated_at: number };
  tokens: {
    accessor: string;
    token_hash: string;
    parent_accessor: string | null;
    display_name: string;
    policies: string;
    env: string | null;
    is_root: number;
    created_at: number;
    ttl_seconds: number | null;
    expires_at: number | null;
    max_expires_at: number | null;
    revoked_at: number | null;
    /** The auth mount and role whose login issued the token (null for tokens made by tokens). */
    auth_mount?: string | null;
    auth_role?: string | null;
    /** JSON array of CIDRs the token may be presented from; null: anywhere. */
    bound_cidrs?: string | null;
    /** 1: a web UI session whose parent is a login made for it alone; ending the session revokes the parent. */
    owns_parent?: number | null;
  };
  audit_events: {
    seq: number;
    time: number;
    request_id: string;
    accessor: string | null;
    source: string | null;
    operation: string;
    secret_name: string | null;
    version_id: string | null;
    outcome: string;
    error_code: string | null;
    status: number;
    latency_us: number;
    detail: string | null;
    prev_hash: string;
    hash: string;
  };
  /** Where the chain starts after retention pruned its head: the hash the first kept event follows. */
  audit_anchor: { id: number; seq: number; hash: string; pruned_before: number; mac: string | null };
  /** The newest event of the chain, MAC'd under the audit key; updated with every append. */
  audit_head: { id: number; seq: number; hash: string; mac: string };
  /** SigV4 key pairs for the AWS-compatible API; the secret key only as barrier ciphertext. */
  aws_access_keys: {
    access_key_id: string;
    secret_ciphertext: Buffer;
    display_name: string;
    policies: string;
    env: string | null;
    is_root: number;
    created_by: string;
    created_at: number;
    revoked_at: number | null;
    /** Null only for keys made by a non-expiring (root) identity without an explicit expiry. */
    expires_at: number | null;
  };
  /** One row per rotation run: the persisted four-phase state machine (see engines/rotation). */
  rotations: {
    id: string;
    secret_id: string;
    secret_name: string;
    /** The secret's region; NULL on runs recorded before regions were stored (the default region). */
    secret_region: string | null;
    /** The secret id while the run is in flight, NULL after: unique, so one run per secret. */
    active_secret_id: string | null;
    /** The rotation token, also the PENDING version's id. */
    token: string;
    rotator: string;
    trigger: string;
    requested_by: string;
    step: 'create' | 'set' | 'test' | 'finish';
    status: 'running' | 'rolling_back' | 'grace' | 'succeeded' | 'failed';
    attempts: number;
    error: string | null;
    previous_version_id: string | null;
    owner_node: string | null;
    lease_until: number | null;
    next_attempt_at: number | null;
    grace_until: number | null;
    started_at: number;
    updated_at: number;
    finished_at: number | null;
  };
  /** Auth methods mounted by name; `config` is the method's JSON settings (no secrets). */
  auth_mounts: { path: string; type: string; description: string | null; config: string; created_at: number; updated_at: number };
  auth_roles: { mount: string; name: string; role_id: string | null; config: string; created_at: number; updated_at: number };
  /** OIDC authorization-code logins in flight (see storage/oidc-state-store.ts). */
  oidc_states: { state_hash: string; mount: string; role: string; redirect_uri: string; created_at: number; expires_at: number };
  approle_secret_ids: {
    accessor: string;
    mount: string;
    role_name: string;
    secret_hash: string;
    created_by: string;
    created_at: number;
    expires_at: number | null;
    uses_remaining: number | null;
    cidrs: string | null;
    revoked_at: number | null;
  };
  auth_login_failures: { mount: string; name: string; failures: number; locked_until: number | null; last_failure_at: number };
  wrapped_responses: {
    accessor: string;
    token_hash: string;
    creation_path: string;
    created_by: string | null;
    created_at: number;
    expires_at: number;
    ciphertext: Buffer | null;
    unwrapped_at: number | null;
  };
  identity_groups: { name: string; policies: string; description: string | null; created_at: number; updated_at: number };
  identity_group_members: { group_name: string; kind: 'role' | 'accessor' | 'aws_key'; value: string; added_by: string; added_at: number };
  rotation_schedules: { secret_id: string; next_due_at: number; overdue_since: number | null; updated_at: number };
  /** Transit engine keys (metadata); their material lives in transit_key_versions, sealed. */
  transit_keys: {
    name: string;
    key_id: string;
    type: string;
    derived: number;
    exportable: number;
    deletion_allowed: number;
    latest_version: number;
    min_decryption_version: number;
    min_encryption_version: number;
    min_available_version: number;
    created_at: number;
    updated_at: number;
  };
  transit_key_versions: {
    key_name: string;
    version: number;
    /** Barrier ciphertext of the version's key material. */
    sealed_material: Buffer;
    public_key: string | null;
    encryptions_reserved: number;
    created_at: number;
  };
  /** Alert engine (see storage/alert-store.ts). */
  alert_cursor: { name: string; seq: number; updated_at: number };
  alerts: {
    id: string;
    rule: string;
    dedupe_key: string;
    active_key: string | null;
    status: 'firing' | 'resolved';
    severity: 'info' | 'warning' | 'critical';
    principal: string | null;
    secret_name: string | null;
    summary: string;
    /** JSON: the numbers that triggered the alert. */
    facts: string;
    /** JSON array of the audit seqs behind it. */
    event_seqs: string;
    occurrences: number;
    fired_at: number;
    last_seen_at: number;
    resolved_at: number | null;
    acked_at: number | null;
    acked_by: string | null;
  };
  alert_silences: { rule: string; dedupe_key: string; until_at: number; created_by: string; created_at: number };
  alert_deliveries: {
    id: string;
    alert_id: string;
    sink: string;
    event: 'fired' | 'resolved';
    status: 'pending' | 'delivered' | 'dead' | 'cancelled';
    attempts: number;
    next_attempt_at: number;
    last_error: string | null;
    created_at: number;
    updated_at: number;
  };
  alert_access: { principal: string; secret_name: string; last_read_at: number };
  alert_read_counts: { principal: string; hour_start: number; reads: number };
  /** Change requests (see storage/change-request-store.ts). */
  change_requests: {
    id: string;
    state: 'pending' | 'approved' | 'applied' | 'failed' | 'denied' | 'cancelled' | 'expired';
    operation: string;
    resource: string;
    summary: string;
    requester_accessor: string;
    requester_key: string;
    requester_name: string;
    requester: string;
    approvers: string;
    min_approvals: number;
    policy: string;
    /** Barrier ciphertext of the operation; null once the request is closed. */
    payload: Buffer | null;
    created_at: number;
    expires_at: number;
    closed_at: number | null;
    closed_by: string | null;
    close_reason: string | null;
    error_code: string | null;
    result: string | null;
    /** JSON: the metadata diff approvers review (MetadataChange[]); never a value. */
    changes: string | null;
  };
  change_request_approvals: { request_id: string; approver_key: string; approver_accessor: string; approver_name: string; approved_at: number };
  /** Generic leases (see src/leases/): the engine's handle in `data`, never a password. */
  leases: {
    id: string;
    engine: string;
    role: string;
    env: string | null;
    accessor: string | null;
    data: string;
    handle: string | null;
    issued_at: number;
    expires_at: number;
    max_expires_at: number;
    renewable: number;
    state: 'active' | 'revoking' | 'revoked';
    revoke_attempts: number;
    next_attempt_at: number | null;
    last_error: string | null;
    revoked_at: number | null;
  };
  /** Database engine connections; the admin credential is the named secret. */
  database_connections: { name: string; plugin: string; admin_secret: string; allowed_roles: string; created_at: number; updated_at: number; root_rotated_at: number | null; command: string | null };
  database_roles: {
    name: string;
    connection: string;
    env: string | null;
    creation_statements: string;
    revocation_statements: string;
    renew_statements: string;
    rollback_statements: string;
    username_template: string | null;
    password_length: number;
    default_ttl: number;
    max_ttl: number;
    created_at: number;
    updated_at: number;
  };
}

export type Queryable = Kysely<Database> | Transaction<Database>;
export type Dialect = 'sqlite' | 'postgres';
