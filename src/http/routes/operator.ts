import type { FastifyInstance } from 'fastify';
import { ACKNOWLEDGE_BREAK } from '../../audit/audit-verify.js';
import { publicKeyFingerprint } from '../../audit/checkpoint-format.js';
import { AppError } from '../../errors/app-error.js';
import type { AuditEventRecord, OperatorService } from '../../services/operator-service.js';
import { identityOf } from '../request-context.js';
import { AcknowledgeBreakBody, AuditCheckpointsQuery, AuditHashesBody, AuditQueryString, InitBody, UnsealBody } from '../schemas.js';

export const auditEventJson = (row: AuditEventRecord) => ({
  seq: row.seq, time: new Date(row.time).toISOString(), request_id: row.request_id, accessor: row.accessor, source: row.source,
  operation: row.operation, secret: row.secret_name, version_id: row.version_id, outcome: row.outcome, error_code: row.error_code,
  status: row.status, latency_ms: row.latency_us / 1000, detail: row.detail ? JSON.parse(row.detail) : null, hash: row.hash,
});

/** `since` / `until`: an ISO-8601 time, or a duration back from now like 15m, 24h, 7d. */
function parseTime(field: 'since' | 'until', text: string | undefined, now: number): number | undefined {
  if (text === undefined) return undefined;
  const relative = /^(\d+)([smhd])$/.exec(text);
  if (relative) return now - Number(relative[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[relative[2] as 's' | 'm' | 'h' | 'd'];
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw new AppError('validation_failed', `${field} is an ISO-8601 time or a duration like 15m, 24h, 7d`);
  return time;
}

export function operatorRoutes(operator: OperatorService, version: string) {
  return (app: FastifyInstance): void => {
    const sealStatus = async () => {
      const s = await operator.status();
      return { initialized: s.initialized, sealed: s.sealed, shares: s.shares, threshold: s.threshold, progress: s.progress, key_term: s.keyTerm, version };
    };

    app.get('/v1/health', { schema: { tags: ['sys'] }, config: { sealedOk: true, anonymous: true, audited: false } }, async (_request, reply) => {
      const status = await sealStatus();
      // Load balancers route only to nodes that can serve.
      reply.code(status.initialized && !status.sealed ? 200 : 503);
      return { initialized: status.initialized, sealed: status.sealed, version };
    });

    app.get('/v1/sys/seal-status', { schema: { tags: ['sys'] }, config: { sealedOk: true, anonymous: true, tamperedOk: true, operation: 'sys.seal_status' } }, sealStatus);

    app.post('/v1/sys/init', { schema: { body: InitBody, tags: ['sys'] }, config: { sealedOk: true, anonymous: true, operation: 'sys.init' } }, async (request) => {
      const body = (request.body ?? {}) as { shares?: number; threshold?: number };
      const shares = body.shares ?? 5;
      const threshold = body.threshold ?? Math.min(3, shares);
      const result = await operator.initialize(shares, threshold);
      return { root_token: result.rootToken, keys: result.keys, shares, threshold };
    });

    app.post('/v1/sys/unseal', { schema: { body: UnsealBody, tags: ['sys'] }, config: { sealedOk: true, anonymous: true, tamperedOk: true, operation: 'sys.unseal' } }, async (request) => {
      await operator.unseal((request.body as { key: string }).key);
      return sealStatus();
    });

    app.post('/v1/sys/seal', { schema: { tags: ['sys'] }, config: { tamperedOk: true, operation: 'sys.seal' } }, async (request) => {
      await operator.seal(identityOf(request));
      return sealStatus();
    });

    app.post('/v1/sys/rotate-key', { schema: { tags: ['sys'] }, config: { operation: 'sys.rotate_key' } }, async (request) => {
      const term = await operator.rotateKey(identityOf(request));
      return { key_term: term };
    });

    app.get('/v1/audit/events', { schema: { querystring: AuditQueryString, tags: ['audit'] }, config: { tamperedOk: true, operation: 'audit.query' } }, async (request) => {
      const q = request.query as { secret?: string; principal?: string; since?: string; until?: string; outcome?: string; operation?: string; limit?: number; order?: string; after_seq?: number };
      const now = Date.now();
      const since = parseTime('since', q.since, now);
      const until = parseTime('until', q.until, now);
      if (since !== undefined && until !== undefined && until <= since) throw new AppError('validation_failed', 'until must be later than since');
      const rows = await operator.queryAudit(identityOf(request), {
        secretName: q.secret, accessor: q.principal, since, until, outcome: q.outcome, operation: q.operation,
        limit: q.limit ?? 100, newestFirst: q.order === 'desc', afterSeq: q.after_seq,
      });
      return { events: rows.map(auditEventJson) };
    });

    app.post('/v1/audit/verify', { schema: { tags: ['audit'] }, config: { tamperedOk: true, operation: 'audit.verify' } }, async (request) => {
      const result = await operator.verifyAudit(identityOf(request));
      return {
        ok: result.ok, checked: result.checked, first_seq: result.firstSeq, last_seq: result.lastSeq, head_hash: result.headHash,
        problem: result.problem ?? null, tampered: result.tampered, last_good: result.lastGood,
        acknowledged_breaks: result.acknowledgedBreaks.map((b) => ({
          after_seq: b.afterSeq, after_hash: b.afterHash, resumed_at: b.resumedAt, found: b.found, reason: b.reason, accessor: b.accessor,
          time: new Date(b.time).toISOString(), unverified_events: b.unverified,
        })),
      };
    });

    // Resumes service after the chain was found tampered; the request's own event opens the new segment.
    app.post('/v1/audit/acknowledge-break', { schema: { body: AcknowledgeBreakBody, tags: ['audit'] }, config: { tamperedOk: true, operation: ACKNOWLEDGE_BREAK } }, async (request) => {
      const result = await operator.acknowledgeBreak(identityOf(request), (request.body as { reason: string }).reason);
      return { after_seq: result.afterSeq, after_hash: result.afterHash, resumed_at: result.resumedAt, found: result.found };
    });

    app.get('/v1/audit/checkpoint-key', { schema: { tags: ['audit'] }, config: { tamperedOk: true, operation: 'audit.checkpoint_key' } }, async () => {
      const pem = operator.checkpointPublicKey();
      return { public_key: pem, fingerprint: publicKeyFingerprint(pem), algorithm: 'ed25519' };
    });

    // This node's signed checkpoints, newest first; `before_seq` pages back (next_before_seq).
    app.get('/v1/audit/checkpoints', { schema: { querystring: AuditCheckpointsQuery, tags: ['audit'] }, config: { tamperedOk: true, operation: 'audit.checkpoints' } }, async (request) => {
      const q = request.query as { before_seq?: number; limit?: number };
      const page = await operator.listCheckpoints(identityOf(request), { beforeSeq: q.before_seq, limit: q.limit ?? 50 });
      return {
        checkpoints: page.checkpoints.map((c) => ({
          seq: c.seq, hash: c.hash, time: new Date(c.time).toISOString(), node: c.node, key: c.key, signature_valid: c.signatureValid, chain: c.chain,
        })),
        next_before_seq: page.nextBeforeSeq,
      };
    });

    app.post('/v1/audit/hashes', { schema: { body: AuditHashesBody, tags: ['audit'] }, config: { tamperedOk: true, operation: 'audit.hashes' } }, async (request) => {
      const result = await operator.auditHashes(identityOf(request), (request.body as { seqs: number[] }).seqs);
      return { hashes: result.hashes, pruned_through: result.prunedThrough };
    });
  };
}
