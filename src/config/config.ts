import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AlertsConfigSchema } from './alerts-config.js';

/**
 * The one server configuration schema. Precedence: flags > CUSTOS_* env > file > defaults.
 * Nothing secret has a default; the storage password and unseal keys come from env or files,
 * never from a flag (flags show in `ps`).
 */
const ConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8420),
    data_dir: z.string().min(1).default('./.custos'),
    /** `sqlite:PATH` (default `sqlite:<data_dir>/custos.db`) or `postgres://user@host:port/db`. */
    storage: z.string().min(1).optional(),
    /** Read from a file so it never appears in a flag or a URL in `ps`. */
    storage_password_file: z.string().min(1).optional(),
    storage_password: z.string().min(1).optional(),
    dev: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).default(false),
    /** Unseal key shares separated by commas or newlines. */
    unseal_key: z.string().min(1).optional(),
    unseal_key_file: z.string().min(1).optional(),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    audit_retention_days: z.coerce.number().int().min(1).max(3650).default(365),
    /** Start-up walks an audit chain of up to this many events whole; a longer one from the verified mark, then whole in the background. */
    audit_startup_walk_max_events: z.coerce.number().int().min(0).default(1_000_000),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must look like us-east-1').default('us-east-1'),
    account_id: z.string().regex(/^\d{12}$/, 'must be 12 digits').default('123456789012'),
    body_limit_bytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(512 * 1024),
    /** FULL fsyncs every commit (acknowledged writes survive power loss); NORMAL survives process crashes only. */
    sqlite_synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
    /**
     * fsync each audit batch too. Unset: on with PostgreSQL, where a database crash that loses the
     * last batches leaves the node's chain head behind and stops audited requests until an operator
     * acknowledges it; off with SQLite, where the events and the head roll back together.
     */
    audit_fsync: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).optional(),
    /** How often the rotation scheduler looks for due work. */
    rotation_tick_seconds: z.coerce.number().min(0.1).max(3600).default(10),
    /** How often the leader revokes expired leases (dynamic database users). */
    lease_sweep_seconds: z.coerce.number().min(0.1).max(3600).default(5),
    /** Revocations the lease sweeper runs at once. */
    lease_sweep_concurrency: z.coerce.number().int().min(1).max(64).default(4),
    /** Connections each dynamic-credentials database connection may open (its pool's bound). */
    database_pool_size: z.coerce.number().int().min(1).max(64).default(4),
    /**
     * The longest a read of CURRENT waits while a single-user rotation is between `set` and
     * `finish` (then it returns the old CURRENT); 0 never waits.
     */
    rotation_read_hold_ms: z.coerce.number().int().min(0).max(30_000).default(2000),
    /**
     * PostgreSQL only: cache label lookups (ciphertext, never plaintext) on each node, for at most
     * this long. Another node's write empties the cache through LISTEN/NOTIFY within milliseconds
     * (so a read right after a write elsewhere may still see the old value for that long); the
     * age bounds a lost notification. 0: no cache, every read goes to the database.
     */
    read_cache_max_age_ms: z.coerce.number().int().min(0).max(60_000).default(1000),
    /** PostgreSQL: connections in this node's request pool. */
    storage_pool_max: z.coerce.number().int().min(1).max(1000).default(10),
    /** PostgreSQL: the longest a request waits for a free connection; then 503 storage_busy with Retry-After. */
    storage_pool_wait_ms: z.coerce.number().int().min(1).max(60_000).default(2000),
    /** PostgreSQL: requests already waiting for a connection beyond which another is refused at once (storage_busy). */
    storage_pool_queue_max: z.coerce.number().int().min(0).max(100_000).default(500),
    /** PostgreSQL: statements running longer are cancelled (503 storage_timeout, the transaction rolled back); 0 for none. */
    storage_statement_timeout_ms: z.coerce.number().int().min(0).max(3_600_000).default(5000),
    /** Testing aid only: crash-before:<step> / crash-after:<step> kills the process with SIGKILL at that rotation phase. */
    rotation_fault: z.string().regex(/^crash-(before|after):(create|set|test|finish)$/).optional(),
    /** This node's name in logs and audit details (several nodes on PostgreSQL); hostname plus a random suffix by default. */
    node_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Za-z0-9_.:-').optional(),
    /** Signed audit checkpoints: one after this many events ... */
    audit_checkpoint_events: z.coerce.number().int().min(1).max(10_000_000).default(1000),
    /** ... or this many seconds after the last one if the chain moved. */
    audit_checkpoint_seconds: z.coerce.number().int().min(1).max(86_400).default(60),
    /** Append-only JSONL file for signed checkpoints; keep it off the data dir's disk (default ~/.custos/audit-checkpoints.jsonl). */
    audit_checkpoint_file: z.string().min(1).optional(),
    /** Testing aid only: POST /v1/sys/testing/clock (root) moves this server's clock forward. */
    testing_clock: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).default(false),
    /** How often the leader runs the purge and audit-retention jobs (default: hourly purge, 6-hourly prune). */
    maintenance_interval_seconds: z.coerce.number().int().min(1).max(86_400).optional(),
    /** GET /metrics without a token (only where the port is reachable from a trusted network); otherwise read on sys:metrics. */
    metrics_public: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).default(false),
    /** Environments that get their own label in custos_secret_reads_total; the rest count as "other" (bounded cardinality). */
    metrics_environments: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
      z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/)).max(32)).default(['dev', 'staging', 'prod']),
    /** Open change feed subscriptions (GET /v1/changes) a node serves at most; more get 503 too_many_subscribers. */
    change_feed_max_subscribers: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    /** ... and one token holds at most on a node. */
    change_feed_max_subscribers_per_token: z.coerce.number().int().min(1).max(1_000_000).default(20),
    /**
     * Server processes sharing the listener (`custos server --workers N`): a whole number, or
     * `auto` for one per CPU core. 1 (the default) serves from this one process.
     */
    workers: z.preprocess((v) => (v === 'auto' ? os.availableParallelism() : v), z.coerce.number().int().min(1).max(256)).default(1),
    /** Alert rules over the audit stream and where alerts go (see docs/monitoring.md). */
    alerts: AlertsConfigSchema.prefault({}),
  })
  .strict();

export type Config = Readonly<z.infer<typeof ConfigSchema>> & { readonly storage: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const ENV_KEYS: Record<string, keyof z.infer<typeof ConfigSchema>> = {
  CUSTOS_HOST: 'host',
  CUSTOS_PORT: 'port',
  CUSTOS_DATA_DIR: 'data_dir',
  CUSTOS_STORAGE: 'storage',
  CUSTOS_STORAGE_PASSWORD: 'storage_password',
  CUSTOS_STORAGE_PASSWORD_FILE: 'storage_password_file',
  CUSTOS_UNSEAL_KEY: 'unseal_key',
  CUSTOS_UNSEAL_KEY_FILE: 'unseal_key_file',
  CUSTOS_LOG_LEVEL: 'log_level',
  CUSTOS_AUDIT_RETENTION_DAYS: 'audit_retention_days',
  CUSTOS_AUDIT_STARTUP_WALK_MAX_EVENTS: 'audit_startup_walk_max_events',
  CUSTOS_REGION: 'region',
  CUSTOS_ACCOUNT_ID: 'account_id',
  CUSTOS_SQLITE_SYNCHRONOUS: 'sqlite_synchronous',
  CUSTOS_AUDIT_FSYNC: 'audit_fsync',
  CUSTOS_ROTATION_TICK_SECONDS: 'rotation_tick_seconds',
  CUSTOS_LEASE_SWEEP_SECONDS: 'lease_sweep_seconds',
  CUSTOS_LEASE_SWEEP_CONCURRENCY: 'lease_sweep_concurrency',
  CUSTOS_DATABASE_POOL_SIZE: 'database_pool_size',
  CUSTOS_ROTATION_READ_HOLD_MS: 'rotation_read_hold_ms',
  CUSTOS_READ_CACHE_MAX_AGE_MS: 'read_cache_max_age_ms',
  CUSTOS_STORAGE_POOL_MAX: 'storage_pool_max',
  CUSTOS_STORAGE_POOL_WAIT_MS: 'storage_pool_wait_ms',
  CUSTOS_STORAGE_POOL_QUEUE_MAX: 'storage_pool_queue_max',
  CUSTOS_STORAGE_STATEMENT_TIMEOUT_MS: 'storage_statement_timeout_ms',
  CUSTOS_ROTATION_FAULT: 'rotation_fault',
  CUSTOS_NODE_ID: 'node_id',
  CUSTOS_MAINTENANCE_INTERVAL_SECONDS: 'maintenance_interval_seconds',
  CUSTOS_AUDIT_CHECKPOINT_EVENTS: 'audit_checkpoint_events',
  CUSTOS_AUDIT_CHECKPOINT_SECONDS: 'audit_checkpoint_seconds',
  CUSTOS_AUDIT_CHECKPOINT_FILE: 'audit_checkpoint_file',
  CUSTOS_TESTING_CLOCK: 'testing_clock',
  CUSTOS_METRICS_PUBLIC: 'metrics_public',
  CUSTOS_METRICS_ENVIRONMENTS: 'metrics_environments',
  CUSTOS_CHANGE_FEED_MAX_SUBSCRIBERS: 'change_feed_max_subscribers',
  CUSTOS_CHANGE_FEED_MAX_SUBSCRIBERS_PER_TOKEN: 'change_feed_max_subscribers_per_token',
  CUSTOS_WORKERS: 'workers',
};

export interface ConfigSources {
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Path to a YAML or JSON config file. */
  file?: string;
}

/** Parses and validates configuration once at start-up; the result is frozen. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const fromFile = sources.file ? readConfigFile(sources.file) : {};
  const fromEnv: Record<string, unknown> = {};
  for (const [envName, key] of Object.entries(ENV_KEYS)) {
    const value = sources.env?.[envName];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const fromFlags = Object.fromEntries(Object.entries(sources.flags ?? {}).filter(([, v]) => v !== undefined));
  const parsed = ConfigSchema.safeParse({ ...fromFile, ...fromEnv, ...fromFlags });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issue.path.join('.') || '(root)';
      return issue.code === 'unrecognized_keys' ? `unknown setting(s): ${issue.keys.join(', ')}` : `${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = parsed.data;
  const storage = config.storage ?? `sqlite:${path.join(config.data_dir, 'custos.db')}`;
  if (typeof fromFlags.storage === 'string' && /^postgres(ql)?:\/\/[^/@]*:[^@/]*@/.test(fromFlags.storage)) {
    // A flag is visible to every user in `ps`; the URL with a password belongs in the file or env.
    throw new ConfigError('invalid configuration: storage: do not pass a PostgreSQL password in a flag; use CUSTOS_STORAGE, the config file, storage_password_file or CUSTOS_STORAGE_PASSWORD');
  }
  if (!storage.startsWith('sqlite:') && !/^postgres(ql)?:\/\//.test(storage)) {
    throw new ConfigError('invalid configuration: storage: must be sqlite:PATH or postgres://...');
  }
  return Object.freeze({ ...config, storage });
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    // The parser's own message can quote the file, which may hold a storage password.
    const line = (error as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new ConfigError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}${line ? ` (line ${line})` : ''}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${file} must hold a mapping of settings`);
  }
  return data as Record<string, unknown>;
}

/** Resolves the storage password from its file or env value, if any. */
export function storagePassword(config: Config): string | undefined {
  if (config.storage_password) return config.storage_password;
  if (config.storage_password_file) return readFileSync(config.storage_password_file, 'utf8').trim();
  return undefined;
}

/** The PostgreSQL request pool's limits (storage/pg-pool-guard.ts) from their settings. */
export function pgPoolSettings(config: Config) {
  return { max: config.storage_pool_max, acquireTimeoutMs: config.storage_pool_wait_ms, maxWaiting: config.storage_pool_queue_max, statementTimeoutMs: config.storage_statement_timeout_ms };
}
