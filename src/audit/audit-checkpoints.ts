import { appendFileSync, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { checkpointMessage, checkpointSignatureValid, parseCheckpoints, type AuditCheckpoint } from './checkpoint-format.js';

export interface CheckpointerDeps {
  /** Signs with the barrier's checkpoint key; throws while sealed. */
  sign: (message: Buffer) => Buffer;
  /** Fingerprint of the checkpoint public key (see checkpoint-format.ts). */
  keyFingerprint: () => string;
  node: string;
  now: () => number;
  /** Emit after this many new events ... */
  everyEvents: number;
  /** ... or this long after the last checkpoint if the chain moved at all. */
  everyMs: number;
  /** Where checkpoints go (the JSONL file, the JSON log); a failing sink is reported, not fatal. */
  sinks: ((checkpoint: AuditCheckpoint) => void)[];
  onError: (error: unknown) => void;
}

/**
 * Emits signed checkpoints of the chain head this process has verified or written. It is told
 * every head (cheap: a comparison), signs only every N events or M seconds, and never signs a
 * head it has not checked: the audit log reports only heads it verified.
 */
export function createCheckpointer(deps: CheckpointerDeps) {
  let latest: { seq: number; hash: string } | null = null;
  let lastEmittedSeq: number | null = null;
  let timer: NodeJS.Timeout | null = null;

  function emit(): void {
    if (!latest || latest.seq === lastEmittedSeq) return;
    try {
      const body = { seq: latest.seq, hash: latest.hash, time: deps.now(), node: deps.node, key: deps.keyFingerprint() };
      const checkpoint: AuditCheckpoint = { v: 1, ...body, sig: deps.sign(checkpointMessage(body)).toString('base64') };
      lastEmittedSeq = latest.seq;
      for (const sink of deps.sinks) {
        try {
          sink(checkpoint);
        } catch (error) {
          deps.onError(error);
        }
      }
    } catch (error) {
      deps.onError(error); // sealed in the meantime: the next head or tick retries
    }
  }

  return {
    /** A verified head of the chain (called after every batch; must stay cheap). */
    observe(head: { seq: number; hash: string }): void {
      if (latest && head.seq <= latest.seq) return;
      latest = { seq: head.seq, hash: head.hash };
      if (lastEmittedSeq === null || head.seq - lastEmittedSeq >= deps.everyEvents) emit();
    },
    start(): void {
      timer ??= setInterval(emit, deps.everyMs);
      timer.unref();
    },
    /** Emits the newest head if it moved since the last checkpoint (shutdown, acknowledgement). */
    flush: emit,
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

export type Checkpointer = ReturnType<typeof createCheckpointer>;

/** A sink appending one JSON line per checkpoint to `file` (created 0600, append-only use). */
export function fileSink(file: string): (checkpoint: AuditCheckpoint) => void {
  return (checkpoint) => appendFileSync(file, JSON.stringify(checkpoint) + '\n', { mode: 0o600, flag: 'a' });
}

/**
 * The newest checkpoint in `file` signed by `publicKeyPem`, reading only the file's tail
 * (checkpoint files grow for ever). Undefined when there is none or no file.
 */
export function lastSignedCheckpoint(file: string, publicKeyPem: string): AuditCheckpoint | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const { checkpoints } = parseCheckpoints(buffer.toString('utf8'));
    for (let i = checkpoints.length - 1; i >= 0; i--) {
      if (checkpointSignatureValid(checkpoints[i]!, publicKeyPem)) return checkpoints[i];
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Up to `limit` checkpoints from `file` with a sequence number below `beforeSeq`, newest first,
 * reading backwards from the end in chunks: the file grows for ever, and the newest pages are
 * the ones people look at. Appends keep the file in ascending order, so the walk stops as soon
 * as the page is full. Torn or foreign lines are skipped (the offline verify reports them).
 */
export function readCheckpointsBefore(file: string, beforeSeq: number, limit: number): AuditCheckpoint[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  const CHUNK = 64 * 1024;
  const found: AuditCheckpoint[] = [];
  try {
    let end = fstatSync(fd).size;
    let carry = Buffer.alloc(0); // the start of a line whose beginning lies in an earlier chunk
    while (end > 0 && found.length < limit) {
      const start = Math.max(0, end - CHUNK);
      const buffer = Buffer.alloc(end - start);
      readSync(fd, buffer, 0, buffer.length, start);
      let text = Buffer.concat([buffer, carry]);
      const firstBreak = start === 0 ? -1 : text.indexOf(0x0a);
      carry = firstBreak < 0 ? Buffer.alloc(0) : text.subarray(0, firstBreak);
      text = firstBreak < 0 ? text : text.subarray(firstBreak + 1);
      const { checkpoints } = parseCheckpoints(text.toString('utf8'));
      for (let i = checkpoints.length - 1; i >= 0 && found.length < limit; i--) {
        if (checkpoints[i]!.seq < beforeSeq) found.push(checkpoints[i]!);
      }
      end = start;
    }
    return found;
  } finally {
    closeSync(fd);
  }
}
