import { readFileSync } from 'node:fs';
import { checkCheckpointFile, checkpointSignatureValid, parseCheckpoints, type AuditCheckpoint } from '../../audit/checkpoint-format.js';
import type { AuditEventResponse, AuditVerifyResponse } from '../../sdk/api-client.js';
import { apiClient, printJson, printTable } from '../context.js';

function printEvents(events: AuditEventResponse[]): void {
  printTable(['SEQ', 'TIME', 'ACCESSOR', 'OPERATION', 'SECRET', 'OUTCOME', 'CODE', 'MS'],
    events.map((e) => [e.seq, e.time, e.accessor, e.operation, e.secret, e.outcome, e.error_code, e.latency_ms.toFixed(2)]));
}

export async function tailCommand(options: { n: string; json?: boolean }): Promise<void> {
  const { events } = await apiClient().auditEvents({ limit: Number(options.n), order: 'desc' });
  events.reverse();
  if (options.json) return printJson(events);
  printEvents(events);
}

export async function queryCommand(options: { secret?: string; principal?: string; since?: string; until?: string; outcome?: string; operation?: string; limit: string; json?: boolean }): Promise<void> {
  const { events } = await apiClient().auditEvents({
    secret: options.secret, principal: options.principal, since: options.since, until: options.until, outcome: options.outcome, operation: options.operation, limit: Number(options.limit),
  });
  if (options.json) return printJson(events);
  printEvents(events);
}

interface CheckpointFinding {
  seq: number;
  hash: string;
  time: string;
  node: string;
  /** gone: no event with that number; replaced: another hash there now. */
  state: 'gone' | 'replaced';
  /** Inside a break an operator acknowledged (reported, not failing). */
  acknowledged: boolean;
}

/** Checks a checkpoint file against the server's chain: signatures, and that every checkpointed event is still there. */
async function checkCheckpoints(file: string, publicKeyFile: string | undefined, chain: AuditVerifyResponse) {
  const client = apiClient();
  const publicKey = publicKeyFile ? readFileSync(publicKeyFile, 'utf8') : (await client.auditCheckpointKey()).public_key;
  const { checkpoints, malformed } = parseCheckpoints(readFileSync(file, 'utf8'));
  const badSignature = checkpoints.filter((c) => !checkpointSignatureValid(c, publicKey));
  const valid = checkpoints.filter((c) => !badSignature.includes(c) && c.seq > 0);
  const stored = new Map<number, string>();
  let prunedThrough = 0;
  const seqs = [...new Set(valid.map((c) => c.seq))];
  for (let i = 0; i < seqs.length; i += 1000) {
    const page = await client.auditHashes(seqs.slice(i, i + 1000));
    prunedThrough = page.pruned_through;
    for (const h of page.hashes) stored.set(h.seq, h.hash);
  }
  const findings: CheckpointFinding[] = [];
  const reported = new Set<string>();
  for (const c of valid) {
    const now = stored.get(c.seq);
    if (now === c.hash || (now === undefined && c.seq <= prunedThrough) || reported.has(`${c.seq}:${c.hash}`)) continue;
    reported.add(`${c.seq}:${c.hash}`);
    // Inside a break an operator acknowledged: after its last good event, and below the new segment or signed before it.
    const acknowledged = chain.acknowledged_breaks.some((b) => b.after_seq < c.seq && (c.seq < b.resumed_at || c.time <= Date.parse(b.time)));
    findings.push({ seq: c.seq, hash: c.hash, time: new Date(c.time).toISOString(), node: c.node, state: now === undefined ? 'gone' : 'replaced', acknowledged });
  }
  return { file, total: checkpoints.length, verified: valid.length, malformed_lines: malformed, bad_signature: badSignature.map(describe), events: findings, pruned_through: prunedThrough };
}

const describe = (c: AuditCheckpoint) => ({ seq: c.seq, hash: c.hash, time: new Date(c.time).toISOString(), node: c.node });

export async function verifyCommand(options: { json?: boolean; checkpoints?: string; publicKey?: string }): Promise<void> {
  const result = await apiClient().auditVerify();
  const checkpoints = options.checkpoints ? await checkCheckpoints(options.checkpoints, options.publicKey, result) : undefined;
  const checkpointsOk = !checkpoints || (checkpoints.bad_signature.length === 0 && checkpoints.events.every((e) => e.acknowledged));
  if (options.json) printJson(checkpoints ? { ...result, checkpoints } : result);
  else {
    if (result.ok) process.stdout.write(`audit log OK: ${result.checked} events verified (seq ${result.first_seq ?? '-'}..${result.last_seq ?? '-'}), head ${result.head_hash}\n`);
    else process.stdout.write(`audit log BROKEN at event ${result.problem!.seq}: ${result.problem!.kind}: ${result.problem!.message}\n`);
    if (result.tampered && result.ok === false) process.stdout.write('audited requests fail with audit_tampered until `custos audit acknowledge-break --reason ...`\n');
    for (const b of result.acknowledged_breaks) {
      process.stdout.write(`acknowledged break after event ${b.after_seq} (resumed at ${b.resumed_at}, ${b.unverified_events} events unverifiable): found "${b.found}"; acknowledged by ${b.accessor ?? '-'} at ${b.time}: "${b.reason}"\n`);
    }
    if (checkpoints) {
      process.stdout.write(`checkpoints: ${checkpoints.total} in ${checkpoints.file}, ${checkpoints.verified} signed and checked (events up to ${checkpoints.pruned_through} pruned by retention)\n`);
      for (const c of checkpoints.bad_signature) process.stdout.write(`  FORGED: checkpoint for event ${c.seq} (${c.time}) has no valid signature\n`);
      for (const line of checkpoints.malformed_lines) process.stdout.write(`  malformed line ${line}\n`);
      for (const e of checkpoints.events) {
        process.stdout.write(`  ${e.acknowledged ? 'in an acknowledged break' : 'MISSING'}: checkpointed event ${e.seq} (${e.hash.slice(0, 16)}…, ${e.time}, node ${e.node}) is ${e.state === 'gone' ? 'gone' : 'replaced by another event'}\n`);
      }
    }
  }
  if (!result.ok || !checkpointsOk) process.exitCode = 4;
}

export async function acknowledgeBreakCommand(options: { reason: string; json?: boolean }): Promise<void> {
  const result = await apiClient().auditAcknowledgeBreak(options.reason);
  if (options.json) return printJson(result);
  process.stdout.write(`break acknowledged: a new segment starts at event ${result.resumed_at}, linked to event ${result.after_seq}; found: ${result.found}\n`);
}

export async function publicKeyCommand(options: { json?: boolean }): Promise<void> {
  const key = await apiClient().auditCheckpointKey();
  if (options.json) return printJson(key);
  process.stdout.write(key.public_key.endsWith('\n') ? key.public_key : key.public_key + '\n');
}

export async function checkpointsListCommand(options: { beforeSeq?: string; limit: string; json?: boolean }): Promise<void> {
  const page = await apiClient().auditCheckpoints({ beforeSeq: options.beforeSeq === undefined ? undefined : Number(options.beforeSeq), limit: Number(options.limit) });
  if (options.json) return printJson(page);
  printTable(['SEQ', 'TIME', 'HEAD HASH', 'NODE', 'SIGNATURE', 'CHAIN'],
    page.checkpoints.map((c) => [c.seq, c.time, c.hash.slice(0, 16), c.node, c.signature_valid ? 'verified' : 'INVALID', c.chain]));
  if (page.next_before_seq !== null) process.stdout.write(`(older: --before-seq ${page.next_before_seq})\n`);
}

/** Offline: signatures and consistency of a checkpoint file, with a public key file; no server. */
export async function checkpointsVerifyCommand(file: string, options: { publicKey: string; json?: boolean }): Promise<void> {
  const report = checkCheckpointFile(readFileSync(file, 'utf8'), readFileSync(options.publicKey, 'utf8'));
  const ok = report.badSignature.length === 0 && report.conflicting.length === 0;
  if (options.json) printJson({ ok, total: report.total, bad_signature: report.badSignature.map(describe), conflicting: report.conflicting.map(describe), malformed_lines: report.malformed });
  else {
    process.stdout.write(`${ok ? 'checkpoints OK' : 'checkpoints BROKEN'}: ${report.total} checkpoints, ${report.badSignature.length} with a bad signature, ${report.conflicting.length} conflicting\n`);
    for (const c of report.badSignature) process.stdout.write(`  FORGED: checkpoint for event ${c.seq} (${new Date(c.time).toISOString()})\n`);
    for (const c of report.conflicting) process.stdout.write(`  CONFLICT: event ${c.seq} checkpointed with two different hashes\n`);
  }
  if (!ok) process.exitCode = 4;
}
