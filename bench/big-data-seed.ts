import { randomBytes, randomUUID } from 'node:crypto';
import { statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { fileURLToPath } from 'node:url';
import { headMac, verifiedMac } from '../src/audit/audit-chain.js';
import { createBarrier } from '../src/barrier/barrier.js';
import { createAuditStore } from '../src/storage/audit-store.js';
import { openStorage, pgConnectionFields } from '../src/storage/database.js';
import { createSystemStore } from '../src/storage/system-store.js';
import { AUDIT_SPAN_MS, postgresRowWriter, prng, restampStoreEvents, seedEvents, sqliteRowWriter } from './big-data-events.js';
import { ensureMonthPartitions } from '../src/storage/audit-partitions.js';
import { positiveOption } from './lib.js';
import pino from 'pino';
import { createFingerprintIndex } from '../src/engines/fingerprints/fingerprint-index.js';
import { createLocalChangeBus } from '../src/lib/change-bus.js';
import { createFingerprintStore } from '../src/storage/fingerprint-store.js';
import { createSecretStore } from '../src/storage/secret-store.js';

/**
 * Fills an initialized Custos store with N secrets and M audit events, in-process through the
 * store's own modules: the barrier (unsealed with the store's unseal key) encrypts every
 * version, and the audit chain key from the same keyring chains every event, so the server
 * started on the store afterwards reads the secrets and verifies the chain as its own.
 *
 *   node dist/bench/big-data-seed.js --storage sqlite:/tmp/x/custos.db --secrets 1000000 --events 10000000
 *   (CUSTOS_UNSEAL_KEY: the store's unseal key (threshold 1); CUSTOS_STORAGE_PASSWORD for PostgreSQL)
 */
const USAGE = 'usage: big-data-seed --storage URL [--secrets N] [--events M] [--region R] (env CUSTOS_UNSEAL_KEY, CUSTOS_STORAGE_PASSWORD)';
const ENVS = ['prod', 'staging', 'dev'];
const KINDS = ['warehouse-db', 'api-key', 's3-credentials', 'kafka-sasl', 'smtp', 'oauth-client', 'ssh-deploy-key', 'redis'];
/** Audit events name this many of the secrets, and come from this many accessors. */
export const AUDITED_SECRETS = 1000;
export const ACCESSORS = 200;

/** The i-th seeded secret's name: `prod|staging|dev/pipeline-<p>/<kind>-<i>`, about 170 per env/pipeline at 1M. */
export function seededName(i: number, total: number): string {
  const pipelines = Math.max(1, Math.floor(total / 500));
  return `${ENVS[i % ENVS.length]}/pipeline-${Math.floor(i / ENVS.length) % pipelines}/${KINDS[i % KINDS.length]}-${i}`;
}

/** The accessor names the seeded events carry (hex like real token accessors). */
export const seededAccessor = (i: number): string => `acc${i.toString(16).padStart(4, '0')}${'0'.repeat(20)}`;

export interface SeedOptions {
  url: string;
  password?: string;
  unsealKey: string;
  secrets: number;
  events: number;
  region?: string;
  log?: (line: string) => void;
  /** Disk the store takes now (called after the secrets and after the events). */
  measureBytes?: () => Promise<number>;
}

export interface SeedResult {
  secrets: number;
  versions: number;
  events: number;
  secretsSeconds: number;
  /** Building the scan fingerprint index over the seeded secrets. */
  indexSeconds: number;
  eventsSeconds: number;
  /** Names the events are about (for audit queries), and the accessors. */
  auditedSecrets: string[];
  accessors: string[];
  firstEventTime: number;
  lastEventTime: number;
  /** From measureBytes: what the events added to the store. */
  eventBytes?: number;
}

async function insertChunked(insert: (rows: Record<string, unknown>[]) => Promise<unknown>, rows: Record<string, unknown>[], perStatement: number) {
  for (let i = 0; i < rows.length; i += perStatement) await insert(rows.slice(i, i + perStatement));
}

export async function seedBigData(options: SeedOptions): Promise<SeedResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const region = options.region ?? 'us-east-1';
  const storage = await openStorage({ url: options.url, password: options.password });
  const { db, dialect } = storage;
  const barrier = createBarrier({ db, systemStore: createSystemStore(), now: Date.now });
  const status = await barrier.submitUnsealShare(options.unsealKey);
  if (status.sealed) throw new Error('the unseal key did not unseal the store (a store initialized with threshold 1 is needed)');
  if (dialect === 'sqlite') await sql`pragma synchronous = OFF`.execute(db);
  const random = prng(7);
  const now = Date.now();

  // Secrets: 1..5 versions each, CURRENT on the newest, PREVIOUS on the one before.
  const secretsStart = performance.now();
  let versions = 0;
  const PER_TX = 1000;
  for (let base = 0; base < options.secrets; base += PER_TX) {
    const secretRows: Record<string, unknown>[] = [];
    const versionRows: Record<string, unknown>[] = [];
    const labelRows: Record<string, unknown>[] = [];
    for (let i = base; i < Math.min(base + PER_TX, options.secrets); i++) {
      const id = randomUUID();
      const created = now - Math.floor(random() * AUDIT_SPAN_MS);
      secretRows.push({ id, region, name: seededName(i, options.secrets), arn_suffix: randomBytes(3).toString('hex'), description: null, owner: 'data-platform', kms_key_id: null, created_at: created, updated_at: created, last_accessed_at: null, last_rotated_at: null, deleted_at: null, delete_after: null, rotation: null, primary_region: null });
      const count = 1 + Math.floor(random() * 5);
      const ids: string[] = [];
      for (let v = 0; v < count; v++) {
        const versionId = randomUUID();
        ids.push(versionId);
        const value = Buffer.from(JSON.stringify({ username: `svc_${i}`, password: randomBytes(12).toString('base64url') }));
        const encrypted = barrier.encryptValue(id, versionId, value);
        versionRows.push({ secret_id: id, version_id: versionId, created_at: created + v * 86_400_000, value_kind: 'string', key_term: encrypted.keyTerm, wrapped_key: encrypted.wrappedKey, ciphertext: encrypted.ciphertext, last_accessed_at: null });
      }
      versions += count;
      labelRows.push({ secret_id: id, label: 'CURRENT', version_id: ids[count - 1] });
      if (count > 1) labelRows.push({ secret_id: id, label: 'PREVIOUS', version_id: ids[count - 2] });
    }
    await db.transaction().execute(async (tx) => {
      // Statement sizes stay under SQLite's 32,766 bound parameters.
      await insertChunked((rows) => tx.insertInto('secrets').values(rows as never).execute(), secretRows, 1000);
      await insertChunked((rows) => tx.insertInto('secret_versions').values(rows as never).execute(), versionRows, 2000);
      await insertChunked((rows) => tx.insertInto('version_labels').values(rows as never).execute(), labelRows, 5000);
    });
    if ((base / PER_TX) % 100 === 99) log(`secrets: ${base + PER_TX} (${Math.round((base + PER_TX) / ((performance.now() - secretsStart) / 1000))}/s)`);
  }
  const secretsSeconds = (performance.now() - secretsStart) / 1000;
  log(`secrets: ${options.secrets} with ${versions} versions in ${secretsSeconds.toFixed(1)} s`);

  // The scan index, by the server's own indexer: secrets written through the API are indexed as
  // they are written, so a server started on the seeded store finds it built, as it would.
  const indexStart = performance.now();
  const index = createFingerprintIndex({
    db, secretStore: createSecretStore(dialect), fingerprintStore: createFingerprintStore(), barrier, changes: createLocalChangeBus(), isLeader: () => true,
    logger: pino({ level: 'warn' }, process.stderr),
  });
  index.start();
  await index.settled();
  const indexSeconds = (performance.now() - indexStart) / 1000;
  log(`scan index: ${options.secrets} secrets in ${indexSeconds.toFixed(1)} s`);

  const bytesBefore = await options.measureBytes?.();
  // Audit events, continuing the chain from the store's current head (the init/unseal events).
  const auditStore = createAuditStore(dialect);
  const key = barrier.auditKey();
  const stored = (await auditStore.head(db)) ?? { seq: 0, hash: '0'.repeat(64) };
  const checkpoint = await auditStore.headCheckpoint(db);
  if (checkpoint && (Number(checkpoint.seq) !== Number(stored.seq) || checkpoint.hash !== stored.hash)) throw new Error('the stored head checkpoint does not match the last event: seed a store that verifies');
  const auditedSecrets = Array.from({ length: Math.min(AUDITED_SECRETS, options.secrets) }, (_, k) => seededName(Math.floor((k * options.secrets) / Math.min(AUDITED_SECRETS, options.secrets)), options.secrets));
  const accessors = Array.from({ length: ACCESSORS }, (_, k) => seededAccessor(k));
  const startTime = Date.now() - AUDIT_SPAN_MS;
  const shape = { secretNames: auditedSecrets, accessors, startTime, total: options.events };
  // The store's own events (init, unseal) go just before the seeded history, and on PostgreSQL
  // each month of it gets its partition, as a server running through those months would have made.
  if (dialect === 'postgres') await ensureMonthPartitions(db, Array.from({ length: Math.ceil(AUDIT_SPAN_MS / (28 * 86_400_000)) + 2 }, (_, i) => startTime + (i - 1) * 28 * 86_400_000));
  const head = await restampStoreEvents(db, auditStore, key, startTime);
  if (dialect === 'sqlite') await storage.close();
  const writer = dialect === 'sqlite' ? sqliteRowWriter(storage.sqlitePath!) : postgresRowWriter(pgConnectionFields(options.url, options.password));
  const eventsStart = performance.now();
  let lastLog = eventsStart;
  let newHead: { seq: number; hash: string };
  try {
    newHead = await seedEvents(writer, key, { seq: Number(head.seq), hash: head.hash }, shape, (written) => {
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`events: ${written} (${Math.round(written / ((lastLog - eventsStart) / 1000))}/s)`);
      }
    });
    log(`events: ${options.events} written in ${((performance.now() - eventsStart) / 1000).toFixed(1)} s; building indexes`);
  } finally {
    await writer.close();
  }
  const eventsSeconds = (performance.now() - eventsStart) / 1000;
  log(`events: ${options.events} in ${eventsSeconds.toFixed(1)} s, indexes included`);

  // The head checkpoint and the verified mark, MAC'd with the chain key as the server does.
  const after = dialect === 'sqlite' ? await openStorage({ url: options.url }) : storage;
  const fullAt = Date.now();
  await auditStore.setHeadCheckpoint(after.db, { seq: newHead.seq, hash: newHead.hash, mac: headMac(key, newHead.seq, newHead.hash) });
  await auditStore.setVerifiedMark(after.db, { seq: newHead.seq, hash: newHead.hash, fullAt, mac: verifiedMac(key, newHead.seq, newHead.hash, fullAt) });
  await after.close();
  barrier.seal();
  const bytesAfter = await options.measureBytes?.();
  const eventBytes = bytesBefore !== undefined && bytesAfter !== undefined ? bytesAfter - bytesBefore : undefined;
  return { secrets: options.secrets, versions, events: options.events, secretsSeconds, indexSeconds, eventsSeconds, auditedSecrets, accessors, firstEventTime: startTime, lastEventTime: startTime + AUDIT_SPAN_MS, eventBytes };
}

/** Bytes of the SQLite file (with its WAL), or of the PostgreSQL database. */
export function sqliteBytes(file: string): number {
  const dir = path.dirname(file);
  return readdirSync(dir).filter((f) => f.startsWith(path.basename(file))).reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const url = option('storage');
  const unsealKey = process.env.CUSTOS_UNSEAL_KEY;
  if (!url || !unsealKey) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  const result = await seedBigData({
    url, unsealKey, password: process.env.CUSTOS_STORAGE_PASSWORD, region: option('region'),
    secrets: positiveOption('secrets', option('secrets') ?? '1000000', USAGE), events: positiveOption('events', option('events') ?? '100000000', USAGE),
  });
  const { auditedSecrets: _names, accessors: _accessors, ...summary } = result;
  process.stdout.write(JSON.stringify(summary) + '\n');
}
