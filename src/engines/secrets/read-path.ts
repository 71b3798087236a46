/**
 * The read path: a value by label (default CURRENT) or by version id, opened through the
 * barrier. On a single-writer store it keeps a cache of label lookups (ciphertext rows, never
 * plaintext), bounded (least recently used go first) and emptied on every secret change this
 * process publishes.
 */
import { AppError } from '../../errors/app-error.js';
import { createBoundedCache } from '../../lib/bounded-cache.js';
import { SYSTEM_IDENTITY, type Identity } from '../../auth/identity.types.js';
import type { LabelledVersionRow, SecretRow } from '../../storage/secret-store.js';
import type { AccessTracking } from './access-tracking.js';
import { LABEL_CURRENT, validateLabel, validateSecretName } from './secret-rules.js';
import type { SecretRefs } from './secret-refs.js';
import type { SecretRef, SecretsServiceDeps, SecretVersionValue } from './secrets.types.js';

export function createReadPath(deps: SecretsServiceDeps, refs: SecretRefs, access: AccessTracking) {
  const { db, secretStore: store, authorizer } = deps;
  const { arnOf, findLive, decrypt } = refs;
  const { recordAccess } = access;
  type CachedRead = { row: LabelledVersionRow; labels: string[] };
  const readCache = deps.readCache ? createBoundedCache<CachedRead>({ maxEntries: deps.readCacheMaxEntries ?? 10_000, ttlMs: deps.readCacheMaxAgeMs, now: deps.now }) : null;
  // Bumped on every change, so a read that raced a write cannot re-insert what it read before.
  let generation = 0;
  deps.changes.subscribe((topic) => {
    if (topic !== 'secret') return;
    generation += 1;
    readCache?.clear();
  });

  // With the cache on, concurrent misses of one key share one query (when an entry expires under
  // load, every request in flight would otherwise miss at once), unless a change came in between.
  const loading = new Map<string, { generation: number; promise: Promise<CachedRead | undefined> }>();

  async function readLabelled(region: string, name: string, label: string): Promise<CachedRead | undefined> {
    if (!readCache) return store.readLabelled(db, region, name, label);
    const key = `${region}\u0000${name}\u0000${label}`;
    const cached = readCache.get(key);
    if (cached) return cached;
    const inFlight = loading.get(key);
    if (inFlight && inFlight.generation === generation) return inFlight.promise;
    const startGeneration = generation;
    const promise = store.readLabelled(db, region, name, label).then((entry) => {
      if (entry && generation === startGeneration) readCache.set(key, entry);
      return entry;
    });
    loading.set(key, { generation: startGeneration, promise });
    const forget = () => {
      if (loading.get(key)?.promise === promise) loading.delete(key);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** Reads the version a label (default CURRENT) or a version id names. */
  async function getValue(caller: Identity, ref: SecretRef, selector: { label?: string; versionId?: string } = {}): Promise<SecretVersionValue> {
    validateSecretName(ref.name);
    await authorizer.require(caller, 'read', ref.name);
    if (selector.label !== undefined) validateLabel(selector.label);
    const region = ref.region ?? deps.region;
    let row: SecretRow;
    let versionId: string;
    let stored: { wrapped_key: Buffer; ciphertext: Buffer; value_kind: string; created_at: number };
    let labels: string[];
    if (selector.versionId === undefined) {
      const label = selector.label ?? LABEL_CURRENT;
      // The rotation engine itself reads as SYSTEM and must never wait for its own finish.
      const held = label === LABEL_CURRENT && caller !== SYSTEM_IDENTITY ? deps.currentHold?.waitIfHeld(region, ref.name) : null;
      if (held) await held;
      const hit = await readLabelled(region, ref.name, label);
      if (!hit) {
        await findLive(db, ref);
        throw new AppError('version_not_found', `secret "${ref.name}" has no version labelled ${label}`, { details: { label } });
      }
      if (hit.row.deleted_at !== null) throw new AppError('secret_scheduled_for_deletion', `secret "${ref.name}" is scheduled for deletion; restore it first`);
      row = hit.row;
      versionId = hit.row.version_id;
      stored = { wrapped_key: hit.row.wrapped_key, ciphertext: hit.row.ciphertext, value_kind: hit.row.value_kind, created_at: hit.row.version_created_at };
      labels = hit.labels;
    } else {
      row = await findLive(db, ref);
      const version = await store.findVersion(db, row.id, selector.versionId);
      if (!version) throw new AppError('version_not_found', `secret "${ref.name}" has no version ${selector.versionId}`, { details: { version_id: selector.versionId } });
      versionId = version.version_id;
      stored = version;
      labels = (await store.labels(db, row.id)).filter((l) => l.version_id === versionId).map((l) => l.label);
      if (selector.label !== undefined && !labels.includes(selector.label)) {
        throw new AppError('version_not_found', `version ${versionId} is not labelled ${selector.label}`, { details: { version_id: versionId, label: selector.label } });
      }
    }
    const value = await decrypt(row.id, versionId, stored);
    recordAccess(row);
    return { name: row.name, arn: arnOf(row), region: row.region, versionId, labels, createdAt: stored.created_at, value };
  }

  return { getValue };
}
