import type { AnchorRow, AuditRow, AuditStore } from '../storage/audit-store.js';
import type { Queryable } from '../storage/schema.js';
import { hmacSha256Key, type HmacSha256Key } from '../crypto/hmac.js';
import { anchorMac, chainHash, GENESIS_HASH, headMac } from './audit-chain.js';

/** The operation of the event that opens a new segment after an acknowledged break. */
export const ACKNOWLEDGE_BREAK = 'audit.acknowledge_break';

/** The MAC'd head row as stored: the newest event's (seq, hash). */
export interface StoredHead {
  seq: number;
  hash: string;
  mac: string;
  /** As read with the head: the stored hash of the event it names (null: gone). */
  event_hash?: string | null;
}

/** A break an operator acknowledged: shown by every later verify, with who, when and why. */
export interface AcknowledgedBreak {
  /** The last event verified before the break, which the new segment links to. */
  afterSeq: number;
  afterHash: string;
  /** The acknowledgement event, first of the new segment. */
  resumedAt: number;
  found: string;
  reason: string;
  accessor: string | null;
  time: number;
  /** Events stored between the two segments that could not be verified. */
  unverified: number;
}

export interface VerifyProblem {
  seq: number;
  kind: 'altered' | 'missing' | 'reordered';
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string;
  /** The first altered, missing or reordered event not covered by an acknowledged break. */
  problem?: VerifyProblem;
  acknowledgedBreaks: AcknowledgedBreak[];
  /** The newest event that verified (where a new segment would link after a break). */
  lastGood: { seq: number; hash: string };
  /** The head row read before walking (verified when ok). */
  head?: StoredHead;
  /** The largest sequence number stored, verified or not. */
  maxStoredSeq: number;
  /** Set when the walk started after an event verified before (`from`), not at the anchor. */
  resumedAfter?: number;
}

interface AckDetail {
  after_seq?: unknown;
  found?: unknown;
  reason?: unknown;
}

function ackDetail(row: AuditRow): AckDetail | null {
  if (row.operation !== ACKNOWLEDGE_BREAK || !row.detail) return null;
  try {
    const detail = JSON.parse(row.detail) as AckDetail;
    return typeof detail.after_seq === 'number' ? detail : null;
  } catch {
    return null;
  }
}

/** True when `row` is a genuine link after `prev` (right predecessor hash, valid MAC). */
function links(key: Buffer | HmacSha256Key, prevHash: string, row: AuditRow): boolean {
  const { hash, prev_hash, ...base } = row;
  return prev_hash === prevHash && chainHash(key, prevHash, base) === hash;
}

export function headIsGenuine(key: Buffer, head: StoredHead): boolean {
  return head.mac === headMac(key, head.seq, head.hash);
}

export function anchorIsGenuine(key: Buffer, anchor: AnchorRow): boolean {
  return anchor.mac === anchorMac(key, anchor.seq, anchor.hash, anchor.pruned_before);
}

/**
 * Walks the whole chain from its anchor. A break (an altered, missing or reordered event, a
 * missing or forged head) is a problem unless an acknowledgement event links to the last event
 * verified before it: the walk then resumes there and reports the break as acknowledged.
 * `allowMissingHead` admits a store that has never had a head (one upgraded before heads were
 * written at initialization): only while it holds no events either.
 */
export async function verifyChain(q: Queryable, store: AuditStore, key: Buffer, options: { allowMissingHead?: boolean; from?: { seq: number; hash: string } } = {}): Promise<VerifyResult> {
  // Imported once for the walk: a KeyObject made per event cost about as much as its HMAC (profiled).
  const linkKey = hmacSha256Key(key);
  // The head is read first: events appended while we walk only extend the chain.
  const head = await store.headCheckpoint(q);
  const anchor = await store.anchor(q);
  // `from`: an event this process verified before. The walk starts after it, once its row is
  // found unchanged; if retention pruned it since, the walk starts at the anchor as usual.
  const from = options.from && options.from.seq > (anchor?.seq ?? 0) ? options.from : undefined;
  let prevHash = from?.hash ?? anchor?.hash ?? GENESIS_HASH;
  let expectedSeq = (from?.seq ?? anchor?.seq ?? 0) + 1;
  let lastGood = { seq: expectedSeq - 1, hash: prevHash };
  let checked = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  let maxStoredSeq = lastGood.seq;
  const acknowledgedBreaks: AcknowledgedBreak[] = [];
  let broken: VerifyProblem | null = null;
  let skipped = 0;
  const done = (problem?: VerifyProblem): VerifyResult => ({
    ok: !problem, checked, firstSeq, lastSeq, headHash: prevHash, ...(problem ? { problem } : {}), acknowledgedBreaks, lastGood,
    ...(head ? { head } : {}), maxStoredSeq: Math.max(maxStoredSeq, head?.seq ?? 0), ...(from ? { resumedAfter: from.seq } : {}),
  });
  if (from) {
    const [row] = await store.range(q, from.seq, from.seq);
    if (!row || row.hash !== from.hash) {
      return done({ seq: from.seq, kind: row ? 'altered' : 'missing', message: `event ${from.seq}, verified before, is ${row ? 'altered' : 'gone'}` });
    }
  }

  if (anchor && !anchorIsGenuine(key, anchor)) broken = { seq: anchor.seq, kind: 'altered', message: `the retention anchor (event ${anchor.seq}) was altered` };
  // A forged head is judged after the walk: the events themselves may all be intact.
  const trustedHead = head && headIsGenuine(key, head) ? head : undefined;

  const accept = (row: AuditRow) => {
    firstSeq ??= row.seq;
    const ack = ackDetail(row);
    if (ack && ack.after_seq === lastGood.seq) {
      acknowledgedBreaks.push({
        afterSeq: lastGood.seq, afterHash: lastGood.hash, resumedAt: row.seq, found: String(ack.found ?? ''), reason: String(ack.reason ?? ''),
        accessor: row.accessor, time: row.time, unverified: skipped,
      });
      broken = null;
      skipped = 0;
    }
    prevHash = row.hash;
    lastGood = { seq: row.seq, hash: row.hash };
    lastSeq = row.seq;
    expectedSeq = row.seq + 1;
    checked += 1;
  };

  for (let after = from?.seq ?? 0; ;) {
    const page = await store.page(q, after, 1000);
    if (page.length === 0) break;
    for (const row of page) {
      maxStoredSeq = Math.max(maxStoredSeq, row.seq);
      if (broken) {
        // Only an acknowledgement linking to the last verified event closes a break.
        const ack = ackDetail(row);
        if (ack && ack.after_seq === lastGood.seq && row.seq > lastGood.seq && links(linkKey, lastGood.hash, row)) accept(row);
        else skipped += 1;
        continue;
      }
      if (row.seq < expectedSeq) {
        broken = { seq: row.seq, kind: 'reordered', message: `event ${row.seq} precedes the chain anchor` };
      } else if (row.seq > expectedSeq && !(ackDetail(row) && links(linkKey, prevHash, row))) {
        broken = { seq: expectedSeq, kind: 'missing', message: `events ${expectedSeq}..${row.seq - 1} are missing` };
      } else if (!links(linkKey, prevHash, row) || (trustedHead && row.seq === trustedHead.seq && row.hash !== trustedHead.hash)) {
        broken = { seq: row.seq, kind: 'altered', message: `event ${row.seq} was altered` };
      }
      if (broken) {
        skipped += 1;
        continue;
      }
      accept(row);
    }
    after = page[page.length - 1]!.seq;
  }
  if (broken) return done(broken);
  if (!head) {
    if (options.allowMissingHead && lastSeq === null && !anchor) return done();
    return done({ seq: lastGood.seq + 1, kind: 'missing', message: lastSeq === null ? 'the head checkpoint and every event were deleted' : `the head checkpoint was deleted (events after ${lastGood.seq} may be missing)` });
  }
  if (!trustedHead) return done({ seq: head.seq, kind: 'altered', message: 'the head checkpoint was altered' });
  if (head.seq > lastGood.seq) {
    return done({ seq: lastGood.seq + 1, kind: 'missing', message: `events ${lastGood.seq + 1}..${head.seq} are missing: the newest events were deleted` });
  }
  return done();
}

/**
 * Checks that `stored` is the head `expected` (the last one this process wrote or verified),
 * or a genuine later head written by another writer (another node, or this process's write
 * transactions), whose events from `expected` on are all present and linked. `rows` are the
 * stored events expected.seq..stored.seq; `anchor`, the retention anchor if `expected` was
 * pruned since. Returns what is wrong, or null.
 */
export function extensionProblem(key: Buffer, expected: StoredHead, stored: StoredHead | undefined, rows: AuditRow[], anchor: AnchorRow | undefined): string | null {
  if (!stored) return `the head checkpoint is gone (this process last saw event ${expected.seq})`;
  if (!headIsGenuine(key, stored)) return `the head checkpoint's MAC does not verify (event ${stored.seq})`;
  if (stored.seq === expected.seq && stored.hash === expected.hash) {
    // The head did not move but its event is gone: fine only if retention pruned everything.
    if (anchor && anchorIsGenuine(key, anchor) && anchor.seq === stored.seq && anchor.hash === stored.hash) return null;
    return `event ${stored.seq}, the newest, is gone`;
  }
  if (stored.seq <= expected.seq) return `the head checkpoint went back from event ${expected.seq} to ${stored.seq}`;
  let prev: { seq: number; hash: string } = expected;
  let i = 0;
  // One KeyObject for the whole walk: with several writers (nodes, --workers) this runs before most batches.
  const linkKey = hmacSha256Key(key);
  if (rows[0]?.seq === expected.seq) {
    if (rows[0].hash !== expected.hash) return `event ${expected.seq} was altered`;
    i = 1;
  } else if (expected.seq === 0 && expected.hash === GENESIS_HASH) {
    // the genesis head: no event to find
  } else if (anchor && anchorIsGenuine(key, anchor) && anchor.seq >= expected.seq) {
    prev = anchor; // pruned since: continue from the anchor
  } else {
    return `event ${expected.seq}, the last one this process saw, is gone`;
  }
  for (; i < rows.length; i++) {
    const row = rows[i]!;
    if (row.seq !== prev.seq + 1 || !links(linkKey, prev.hash, row)) return `event ${prev.seq + 1} is missing or altered`;
    prev = row;
  }
  if (prev.seq !== stored.seq || prev.hash !== stored.hash) return `events ${prev.seq + 1}..${stored.seq} are missing`;
  return null;
}

/** The rows `extensionProblem` needs, read through `q` (asynchronous stores). */
export async function checkExtension(q: Queryable, store: AuditStore, key: Buffer, expected: StoredHead, stored: StoredHead | undefined): Promise<string | null> {
  if (stored?.seq === expected.seq) return extensionProblem(key, expected, stored, [], await store.anchor(q));
  if (!stored || !headIsGenuine(key, stored) || stored.seq < expected.seq) return extensionProblem(key, expected, stored, [], undefined);
  const rows = await store.range(q, expected.seq, stored.seq);
  const anchor = rows[0]?.seq === expected.seq ? undefined : await store.anchor(q);
  return extensionProblem(key, expected, stored, rows, anchor);
}
