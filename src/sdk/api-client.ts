/**
 * Typed HTTP client for the native Custos API. The CLI and the pipeline SDK build on it.
 * It depends on nothing in the server: only fetch and the wire shapes below.
 */
export interface ApiErrorBody {
  error: { code: string; message: string; request_id: string; details?: Record<string, unknown> };
}

export class CustosApiError extends Error {
  override name = 'CustosApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

export interface SecretValueResponse {
  name: string;
  arn: string;
  version_id: string;
  labels: string[];
  created_at: string;
  value?: string;
  value_base64?: string;
}

export interface BatchValuesResponse {
  values: (SecretValueResponse & { index: number })[];
  errors: { index: number; name: string; code: string; status: number; message: string }[];
}

export interface SecretMetadataResponse {
  name: string;
  arn: string;
  region: string;
  description: string | null;
  owner: string | null;
  tags: Record<string, string>;
  created_at: string;
  updated_at: string;
  last_accessed_at: string | null;
  last_rotated_at: string | null;
  deleted_at: string | null;
  deletion_date: string | null;
  rotation: Record<string, unknown> | null;
  primary_region: string | null;
  versions?: { version_id: string; labels: string[]; created_at: string; last_accessed_at: string | null }[];
}

export interface TokenResponse {
  token?: string;
  accessor: string;
  display_name: string;
  policies: string[];
  env: string | null;
  root: boolean;
  parent_accessor: string | null;
  created_at: string;
  expires_at: string | null;
  max_expires_at: string | null;
  ttl_seconds: number | null;
  revoked: boolean;
}

export interface AuditCheckpointResponse {
  seq: number; hash: string; time: string; node: string; key: string;
  /** The signature verifies under the server's checkpoint key. */
  signature_valid: boolean;
  /** The named event is still in the chain with that hash, differs, is missing, or was pruned by retention. */
  chain: 'matches' | 'differs' | 'missing' | 'pruned';
}

export interface AuditVerifyResponse {
  ok: boolean;
  checked: number;
  first_seq: number | null;
  last_seq: number | null;
  head_hash: string;
  problem: { seq: number; kind: string; message: string } | null;
  /** What the server found when it stopped appending (null while the chain is intact). */
  tampered: string | null;
  last_good: { seq: number; hash: string };
  acknowledged_breaks: { after_seq: number; after_hash: string; resumed_at: number; found: string; reason: string; accessor: string | null; time: string; unverified_events: number }[];
}

export interface AuditEventResponse {
  seq: number;
  time: string;
  request_id: string;
  accessor: string | null;
  source: string | null;
  operation: string;
  secret: string | null;
  version_id: string | null;
  outcome: string;
  error_code: string | null;
  status: number;
  latency_ms: number;
  detail: Record<string, unknown> | null;
}

export interface SealStatusResponse {
  initialized: boolean;
  sealed: boolean;
  shares: number;
  threshold: number;
  progress: number;
  key_term: number | null;
  version: string;
}

/** A SigV4 access key for the AWS-compatible API (the secret key only appears once, on creation). */
export interface AwsKeyResponse {
  access_key_id: string;
  display_name: string;
  policies: string[];
  env: string | null;
  root: boolean;
  created_by: string;
  /** The creating token's display name, when the creator is a token. */
  created_by_name: string | null;
  created_at: string;
  /** Null only for a permanent key (made by a non-expiring identity without a TTL). */
  expires_at: string | null;
  revoked: boolean;
}

export interface ApiClientOptions {
  address: string;
  token?: string;
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const enc = (name: string) => name.split('/').map(encodeURIComponent).join('/');
const onBehalfOfHeader = (tag: string | undefined) => (tag === undefined ? undefined : { 'x-custos-on-behalf-of': tag });
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

export function createApiClient(options: ApiClientOptions) {
  const base = options.address.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  async function call<T>(method: string, path: string, body?: unknown, query?: Record<string, string | number | boolean | undefined>, extraHeaders?: Record<string, string>): Promise<T> {
    // URL parsing resolves `.` and `..` segments (even percent-encoded ones), so `dev/../x` would
    // leave as `x` and the server would act on a name nobody typed. No valid secret or policy
    // name has them, so every path is checked here rather than each route's name.
    if (DOT_SEGMENT.test(path)) throw new CustosApiError('invalid_name', 'a name has a "." or ".." segment, which no secret or policy name may have', 400, null);
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { ...extraHeaders };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await doFetch(url, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (cause) {
      throw Object.assign(new CustosApiError('unreachable', `cannot reach Custos at ${base}: ${(cause as Error).message}`, 0, null), { cause });
    }
    const text = await response.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new CustosApiError('invalid_response', `Custos answered ${response.status} with a body that is not JSON`, response.status, response.headers.get('x-request-id'));
    }
    if (!response.ok) {
      const error = (data as Partial<ApiErrorBody>).error;
      throw new CustosApiError(error?.code ?? 'http_error', error?.message ?? `HTTP ${response.status}`, response.status, error?.request_id ?? response.headers.get('x-request-id'));
    }
    return data as T;
  }

  return {
    address: base,
    /** Any native API call (used by the typed clients for auth methods in auth-client.ts). */
    request: call,
    health: () => call<{ initialized: boolean; sealed: boolean; version: string }>('GET', '/v1/health').catch((e: CustosApiError) => {
      if (e.status === 503) return { initialized: true, sealed: true, version: '' };
      throw e;
    }),
    sealStatus: () => call<SealStatusResponse>('GET', '/v1/sys/seal-status'),
    init: (shares?: number, threshold?: number) => call<{ root_token: string; keys: string[]; shares: number; threshold: number }>('POST', '/v1/sys/init', { shares, threshold }),
    unseal: (key: string) => call<SealStatusResponse>('POST', '/v1/sys/unseal', { key }),
    seal: () => call<SealStatusResponse>('POST', '/v1/sys/seal'),
    rotateKey: () => call<{ key_term: number }>('POST', '/v1/sys/rotate-key'),

    /** Several reads in one request; each item succeeds or fails on its own (`index` is its position in `secrets`). */
    batchGetValues: (secrets: { name: string; label?: string; versionId?: string }[]) =>
      call<BatchValuesResponse>('POST', '/v1/batch/values', { secrets: secrets.map((s) => ({ name: s.name, label: s.label, version_id: s.versionId })) }),
    /** `onBehalfOf` names the workload a proxy (the agent) reads for: recorded in the audit event, never used to authorize. */
    getValue: (name: string, selector: { label?: string; versionId?: string; onBehalfOf?: string } = {}) =>
      call<SecretValueResponse>('GET', `/v1/values/${enc(name)}`, undefined, { label: selector.label, version_id: selector.versionId }, onBehalfOfHeader(selector.onBehalfOf)),
    /** With `createIfMissing`, a missing secret is created with that metadata (`secret_created` says so) instead of failing. */
    /**
     * A write a policy grants only with approval is held: the answer (202) is then only
     * `change_request`. `breakGlassReason` skips approval where a rule allows break-glass (audited, alerted).
     */
    putValue: (name: string, input: { value?: string; valueBase64?: string; labels?: string[]; idempotencyToken?: string; createIfMissing?: { description?: string; owner?: string; tags?: Record<string, string> }; breakGlassReason?: string }) =>
      call<{ name: string; arn: string; version_id: string; labels: string[]; created: boolean; secret_created: boolean; change_request?: ChangeRequestResponse }>('POST', `/v1/values/${enc(name)}`, {
        value: input.value, value_base64: input.valueBase64, labels: input.labels, idempotency_token: input.idempotencyToken, create_if_missing: input.createIfMissing,
      }, undefined, input.breakGlassReason === undefined ? undefined : { 'x-custos-break-glass': input.breakGlassReason }),
    createSecret: (input: { name: string; value?: string; valueBase64?: string; description?: string; owner?: string; tags?: Record<string, string>; labels?: string[]; idempotencyToken?: string }) =>
      call<SecretMetadataResponse & { version_id: string | null; change_request?: ChangeRequestResponse }>('POST', '/v1/secrets', {
        name: input.name, value: input.value, value_base64: input.valueBase64, description: input.description, owner: input.owner,
        tags: input.tags, labels: input.labels, idempotency_token: input.idempotencyToken,
      }),
    describe: (name: string, options: { onBehalfOf?: string } = {}) => call<SecretMetadataResponse>('GET', `/v1/secrets/${enc(name)}`, undefined, undefined, onBehalfOfHeader(options.onBehalfOf)),
    /** A caching agent reached the server again after serving stale answers (becomes an `agent_recovered` alert). */
    reportAgentRecovered: (report: { outageSeconds: number; staleAnswers: number }) =>
      call<{ accepted: boolean }>('POST', '/v1/agent/recovered', { outage_seconds: report.outageSeconds, stale_answers: report.staleAnswers }),
    /** One page of a secret's versions, newest first; pass `next_cursor` back for the next. */
    versions: (name: string, query: { limit?: number; cursor?: string } = {}) =>
      call<{ name: string; arn: string; versions: NonNullable<SecretMetadataResponse['versions']>; next_cursor: string | null }>('GET', `/v1/versions/${enc(name)}`, undefined, {
        limit: query.limit, cursor: query.cursor,
      }),
    updateSecret: (name: string, patch: { description?: string | null; owner?: string | null }) => call<SecretMetadataResponse & { change_request?: ChangeRequestResponse }>('PATCH', `/v1/secrets/${enc(name)}`, patch),
    list: (query: { prefix?: string; includeDeleted?: boolean; limit?: number; cursor?: string } = {}) =>
      call<{ secrets: SecretMetadataResponse[]; next_cursor: string | null }>('GET', '/v1/secrets', undefined, {
        prefix: query.prefix, include_deleted: query.includeDeleted, limit: query.limit, cursor: query.cursor,
      }),
    moveLabel: (name: string, input: { label: string; moveTo?: string; removeFrom?: string }) =>
      call<{ name: string; arn: string; change_request?: ChangeRequestResponse }>('POST', `/v1/labels/${enc(name)}`, { label: input.label, move_to_version_id: input.moveTo, remove_from_version_id: input.removeFrom }),
    deleteSecret: (name: string, options: { recoveryDays?: number; force?: boolean } = {}) =>
      call<{ name: string; arn: string; deletion_date: string; change_request?: ChangeRequestResponse }>('DELETE', `/v1/secrets/${enc(name)}`, undefined, { recovery_days: options.recoveryDays, force: options.force }),
    restore: (name: string) => call<{ name: string; arn: string; change_request?: ChangeRequestResponse }>('POST', `/v1/restore/${enc(name)}`),
    tag: (name: string, tags: Record<string, string>) => call<{ name: string; change_request?: ChangeRequestResponse }>('POST', `/v1/tags/${enc(name)}`, { tags }),
    untag: (name: string, keys: string[]) => call<{ name: string; change_request?: ChangeRequestResponse }>('DELETE', `/v1/tags/${enc(name)}`, undefined, { keys: keys.join(',') }),
    password: (options: Record<string, unknown> = {}) => call<{ password: string }>('POST', '/v1/password', options),

    createToken: (input: { policies: string[]; ttl?: string; maxTtl?: string; env?: string; displayName?: string; allowMissingPolicies?: boolean }) =>
      call<TokenResponse & { token: string }>('POST', '/v1/tokens', {
        policies: input.policies, ttl: input.ttl, max_ttl: input.maxTtl, env: input.env, display_name: input.displayName, allow_missing_policies: input.allowMissingPolicies,
      }),
    lookupSelf: () => call<TokenResponse>('GET', '/v1/tokens/self'),
    lookupToken: (accessor: string) => call<TokenResponse>('POST', '/v1/tokens/lookup', { accessor }),
    renewToken: (accessor?: string, increment?: string) => call<TokenResponse>('POST', '/v1/tokens/renew', { accessor, increment }),
    revokeToken: (accessor?: string) => call<{ revoked: string[] }>('POST', '/v1/tokens/revoke', { accessor }),

    writePolicy: (name: string, document: string) => call<{ name: string }>('PUT', `/v1/policies/${encodeURIComponent(name)}`, { document }),
    readPolicy: (name: string) => call<{ name: string; document: string; rules: unknown[] }>('GET', `/v1/policies/${encodeURIComponent(name)}`),
    listPolicies: () => call<{ policies: string[] }>('GET', '/v1/policies'),
    deletePolicy: (name: string) => call<{ deleted: string }>('DELETE', `/v1/policies/${encodeURIComponent(name)}`),

    auditEvents: (query: { secret?: string; principal?: string; since?: string; until?: string; outcome?: string; operation?: string; limit?: number; order?: 'asc' | 'desc'; afterSeq?: number } = {}) =>
      call<{ events: AuditEventResponse[] }>('GET', '/v1/audit/events', undefined, {
        secret: query.secret, principal: query.principal, since: query.since, until: query.until, outcome: query.outcome, operation: query.operation, limit: query.limit, order: query.order, after_seq: query.afterSeq,
      }),
    createAwsKey: (input: { policies: string[]; env?: string; displayName?: string; ttl?: string; allowMissingPolicies?: boolean }) =>
      call<AwsKeyResponse & { secret_access_key: string }>('POST', '/v1/aws/keys', {
        policies: input.policies, env: input.env, display_name: input.displayName, ttl: input.ttl, allow_missing_policies: input.allowMissingPolicies,
      }),
    listAwsKeys: () => call<{ keys: AwsKeyResponse[] }>('GET', '/v1/aws/keys'),
    revokeAwsKey: (accessKeyId: string) => call<{ revoked: string }>('POST', '/v1/aws/keys/revoke', { access_key_id: accessKeyId }),
    auditVerify: () => call<AuditVerifyResponse>('POST', '/v1/audit/verify'),
    auditAcknowledgeBreak: (reason: string) => call<{ after_seq: number; after_hash: string; resumed_at: number; found: string }>('POST', '/v1/audit/acknowledge-break', { reason }),
    auditCheckpointKey: () => call<{ public_key: string; fingerprint: string; algorithm: string }>('GET', '/v1/audit/checkpoint-key'),
    /** This node's signed checkpoints, newest first; `beforeSeq` (the previous page's next_before_seq) pages back. */
    auditCheckpoints: (query: { beforeSeq?: number; limit?: number } = {}) =>
      call<{ checkpoints: AuditCheckpointResponse[]; next_before_seq: number | null }>('GET', '/v1/audit/checkpoints', undefined, { before_seq: query.beforeSeq, limit: query.limit }),
    auditHashes: (seqs: number[]) => call<{ hashes: { seq: number; hash: string }[]; pruned_through: number }>('POST', '/v1/audit/hashes', { seqs }),

    // `region`: a secret outside the server's default region (absent: the default one).
    /** Under an approval rule the change is held: the answer (202) is then only `change_request` (so for `rotate`). */
    setRotation: (name: string, settings: Record<string, unknown> | null, region?: string) => call<RotationStatusResponse & { change_request?: ChangeRequestResponse }>('PUT', `/v1/rotation/${enc(name)}`, { settings }, { region }),
    /** Starts a rotation; with `waitSeconds` the server answers once it ended (or is waiting to retry). */
    rotate: (name: string, waitSeconds?: number, region?: string) => call<RotationRunResponse & { change_request?: ChangeRequestResponse }>('POST', `/v1/rotate/${enc(name)}`, undefined, { wait: waitSeconds, region }),
    rotationStatus: (name: string, region?: string) => call<RotationStatusResponse>('GET', `/v1/rotation-status/${enc(name)}`, undefined, { region }),
    rotationHistory: (name: string, limit?: number, region?: string) => call<{ secret: string; rotations: RotationRunResponse[] }>('GET', `/v1/rotation-history/${enc(name)}`, undefined, { limit, region }),
    listRotations: (query: { overdue?: boolean; limit?: number } = {}) => call<RotationListResponse>('GET', '/v1/rotations', undefined, { overdue: query.overdue, limit: query.limit }),

    /** Known-value matching (custos scan): the OPRF step over blinded points (hex), never candidates. */
    scanEvaluate: (points: string[]) => call<{ points: string[] }>('POST', '/v1/scan/evaluate', { points }),
    /** Fingerprints (hex) to the stored secrets they match, among those the token may list. */
    scanMatch: (fingerprints: string[]) => call<{ matches: ScanMatchResponse[] }>('POST', '/v1/scan/match', { fingerprints }),
    listAlerts: (query: { status?: 'firing' | 'resolved'; rule?: string; limit?: number } = {}) => call<{ alerts: AlertResponse[] }>('GET', '/v1/alerts', undefined, query),
    showAlert: (id: string) => call<AlertDetailResponse>('GET', `/v1/alerts/${encodeURIComponent(id)}`),
    ackAlert: (id: string) => call<AlertDetailResponse>('POST', `/v1/alerts/${encodeURIComponent(id)}/ack`),
    /** A report as data (kinds: inventory, access, rotation, unused). */
    report: (kind: string, query: { since?: string; days?: number } = {}) => call<Record<string, unknown>>('GET', `/v1/reports/${encodeURIComponent(kind)}`, undefined, query),
    /** One quarter's SOC 2 evidence as data (`period` like 2026-Q3); `custos report evidence` signs and packs it. */
    evidence: (period: string) => call<{ period: string; period_start: string; period_end: string; generated_at: string; files: Record<string, unknown> }>('GET', '/v1/reports/evidence', undefined, { period }),
    silenceAlert: (id: string, duration: string) => call<AlertDetailResponse>('POST', `/v1/alerts/${encodeURIComponent(id)}/silence`, { duration }),

    /** Change requests the token may see: its own, those it may approve (`state` filters). */
    listRequests: (query: { state?: ChangeRequestResponse['state']; limit?: number } = {}) => call<{ requests: ChangeRequestResponse[] }>('GET', '/v1/requests', undefined, query),
    showRequest: (id: string) => call<{ change_request: ChangeRequestResponse }>('GET', `/v1/requests/${encodeURIComponent(id)}`),
    /** The `min`-th distinct approval carries the held write out (as its requester) and answers its state. */
    approveRequest: (id: string) => call<{ change_request: ChangeRequestResponse }>('POST', `/v1/requests/${encodeURIComponent(id)}/approve`),
    denyRequest: (id: string, reason?: string) => call<{ change_request: ChangeRequestResponse }>('POST', `/v1/requests/${encodeURIComponent(id)}/deny`, { reason }),
    cancelRequest: (id: string, reason?: string) => call<{ change_request: ChangeRequestResponse }>('POST', `/v1/requests/${encodeURIComponent(id)}/cancel`, { reason }),
  };
}

/** A change request: the held write's summary (never its value), who asked, who approved. */
export interface ChangeRequestResponse {
  id: string;
  state: 'pending' | 'approved' | 'applied' | 'failed' | 'denied' | 'cancelled' | 'expired';
  operation: string;
  resource: string;
  summary: string;
  requester: { accessor: string; name: string };
  approvers: string[];
  min_approvals: number;
  approvals: { accessor: string; name: string; approved_at: string }[];
  policy: string;
  created_at: string;
  expires_at: string;
  closed_at: string | null;
  closed_by: string | null;
  close_reason: string | null;
  error_code: string | null;
  /** The metadata diff to review: `from` is absent when the requester could not see the current value; a value shows only as sealed. */
  changes: { field: string; from?: string | null; to: string | null }[];
  result: Record<string, unknown> | null;
}

/** An alert: who, which secret, the numbers and the audit seqs behind it (never a value). */
export interface AlertResponse {
  id: string;
  rule: string;
  status: 'firing' | 'resolved';
  severity: 'info' | 'warning' | 'critical';
  principal: string | null;
  secret: string | null;
  summary: string;
  facts: Record<string, unknown>;
  audit_seqs: number[];
  occurrences: number;
  fired_at: string;
  last_seen_at: string;
  resolved_at: string | null;
  acked_at: string | null;
  acked_by: string | null;
}

export interface AlertDetailResponse extends AlertResponse {
  silenced_until: string | null;
  deliveries: { sink: string; event: string; status: string; attempts: number; last_error: string | null; next_attempt_at: string | null; updated_at: string | null }[];
}

export type ApiClient = ReturnType<typeof createApiClient>;

export interface ScanMatchResponse {
  fingerprint: string;
  secret: string;
  version_id: string;
  label: string;
  field: string;
}

// ---- rotation ----

export interface RotationRunResponse {
  id: string;
  secret: string;
  token: string;
  rotator: string;
  trigger: string;
  requested_by: string;
  step: 'create' | 'set' | 'test' | 'finish';
  status: 'running' | 'rolling_back' | 'grace' | 'succeeded' | 'failed';
  attempts: number;
  error: string | null;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  next_attempt_at: string | null;
  grace_until: string | null;
}

export interface RotationStatusResponse {
  secret: string;
  region: string;
  settings: Record<string, unknown> | null;
  last_rotated_at: string | null;
  next_due_at: string | null;
  overdue_since: string | null;
  overdue: boolean;
  latest: RotationRunResponse | null;
}

export interface RotationListResponse {
  secrets: {
    secret: string; region: string; rotator: string | null; last_rotated_at: string | null; next_due_at: string | null; overdue_since: string | null; overdue: boolean;
    latest_status: string | null;
    /** Why the rotation needs a person (latest run failed, rolling back, retrying after an error, or stuck); null when healthy. */
    failing: 'failed' | 'rolling_back' | 'retrying' | 'stuck' | null;
    error: string | null; failing_since: string | null;
  }[];
}
