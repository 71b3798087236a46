import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';

/**
 * A signed audit checkpoint: "the chain's event `seq` had hash `hash` at `time`, seen by
 * `node`". Written outside the database (an append-only JSONL file, the JSON log), so that
 * even someone who can rewrite the whole database file cannot make checkpointed events
 * vanish unnoticed. Signed with an ed25519 key sealed in the keyring; anyone holding the
 * public key can check a checkpoint without the server. Needs only node:crypto, so the CLI
 * checks files offline with this same code.
 */
export interface AuditCheckpoint {
  v: 1;
  seq: number;
  hash: string;
  /** Milliseconds since the epoch. */
  time: number;
  node: string;
  /** First 16 hex digits of SHA-256 over the public key (SPKI DER): which key signed. */
  key: string;
  /** base64 ed25519 signature over `checkpointMessage`. */
  sig: string;
}

export function checkpointMessage(c: Pick<AuditCheckpoint, 'seq' | 'hash' | 'time' | 'node' | 'key'>): Buffer {
  return Buffer.from(`custos:audit-checkpoint:v1:${c.seq}:${c.hash}:${c.time}:${c.node}:${c.key}`);
}

export function publicKeyFingerprint(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

export interface ParsedCheckpoints {
  checkpoints: AuditCheckpoint[];
  /** Lines that are not checkpoints at all (1-based line numbers). */
  malformed: number[];
}

function isCheckpoint(value: unknown): value is AuditCheckpoint {
  const c = value as Partial<AuditCheckpoint> | null;
  return !!c && c.v === 1 && Number.isSafeInteger(c.seq) && c.seq! >= 0 && typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash)
    && Number.isSafeInteger(c.time) && typeof c.node === 'string' && typeof c.key === 'string' && typeof c.sig === 'string';
}

/** Parses a JSONL checkpoint file; a torn last line (crash mid-write) counts as malformed. */
export function parseCheckpoints(text: string): ParsedCheckpoints {
  const checkpoints: AuditCheckpoint[] = [];
  const malformed: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const value = JSON.parse(line) as unknown;
      if (isCheckpoint(value)) checkpoints.push(value);
      else malformed.push(i + 1);
    } catch {
      malformed.push(i + 1);
    }
  });
  return { checkpoints, malformed };
}

/** True when `c` carries a valid signature by `publicKey` (and names that key). */
export function checkpointSignatureValid(c: AuditCheckpoint, publicKey: KeyObject | string): boolean {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  const pem = key.export({ type: 'spki', format: 'pem' }).toString();
  if (c.key !== publicKeyFingerprint(pem)) return false;
  try {
    return verifySignature(null, checkpointMessage(c), key, Buffer.from(c.sig, 'base64'));
  } catch {
    return false;
  }
}

export interface CheckpointReport {
  total: number;
  badSignature: AuditCheckpoint[];
  malformed: number[];
  /** Checkpoints whose sequence number goes backwards with a different hash than before. */
  conflicting: AuditCheckpoint[];
}

/** Offline check of a checkpoint file: signatures and internal consistency (no server needed). */
export function checkCheckpointFile(text: string, publicKeyPem: string): CheckpointReport {
  const { checkpoints, malformed } = parseCheckpoints(text);
  const key = createPublicKey(publicKeyPem);
  const badSignature = checkpoints.filter((c) => !checkpointSignatureValid(c, key));
  const seen = new Map<number, string>();
  const conflicting: AuditCheckpoint[] = [];
  for (const c of checkpoints) {
    if (badSignature.includes(c)) continue;
    const earlier = seen.get(c.seq);
    if (earlier !== undefined && earlier !== c.hash) conflicting.push(c);
    seen.set(c.seq, c.hash);
  }
  return { total: checkpoints.length, badSignature, malformed, conflicting };
}
