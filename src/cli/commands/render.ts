import { readFileSync } from 'node:fs';
import { httpFetch } from '../../sdk/http-transport.js';
import { CustosClient } from '../../sdk/custos-client.js';
import { applyRef, parseSecretRef, type SecretRef } from '../../sdk/secret-ref.js';
import { formatForFile, renderTemplate, type TemplateFormat } from '../../sdk/template.js';
import { DEFAULT_ADDRESS, printJson, resolveToken } from '../context.js';
import { writePrivateFile } from '../../sdk/saved-tokens.js';
import { createDynamicCreds, isDynamic, type IssuedLease } from '../dynamic-creds.js';

/**
 * `custos render FILE [-o OUT] [--check] [--format F]`: resolves every `secret://` reference
 * (escaping rules by file type: see src/sdk/template.ts). Problems are reported as
 * FILE:LINE:COLUMN with the reference, never with a value; nothing is written when any fails.
 *
 * `secret://database/creds/ROLE#field` issues one database user per role (every field of one
 * role comes from the same lease). Render exits once the file is written, so nothing renews or
 * revokes those leases: they are reported (stderr, or `leases` in --json) and end at their TTL
 * unless revoked. A render that fails revokes what it issued; --check issues nothing.
 */
export async function renderCommand(file: string, options: { output?: string; check?: boolean; format?: TemplateFormat; json?: boolean }): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const address = process.env.CUSTOS_ADDR || DEFAULT_ADDRESS;
  const token = resolveToken() ?? '';
  const client = new CustosClient({ address, token, ttlMs: 0, maxStaleMs: 0, retry: { attempts: 3 }, fetch: httpFetch });
  const dynamic = createDynamicCreds({ address, token, command: 'custos render', warn: (line) => process.stderr.write(line + '\n') });
  const format = options.format ?? formatForFile(file);
  let unissued = 0;

  // Stored secrets in one request; database credentials one lease per role.
  const resolveAll = async (refs: string[]): Promise<PromiseSettledResult<string>[]> => {
    const parsed = refs.map((ref): SecretRef | null => {
      try {
        return parseSecretRef(ref);
      } catch {
        return null; // the batch resolver reports the parse error
      }
    });
    const dynamicAt = new Set(parsed.flatMap((p, i) => (p !== null && isDynamic(p.name) ? [i] : [])));
    const stored = await client.resolveRefs(refs.filter((_, i) => !dynamicAt.has(i)));
    const issued = await Promise.allSettled(refs.map(async (_, i) => {
      if (!dynamicAt.has(i)) return '';
      const ref = parsed[i]!;
      if (!options.check) return applyRef(await dynamic.value(ref.name), ref);
      unissued++;
      // --check must not create a user; a stand-in of the same shape still checks the field name.
      return applyRef(JSON.stringify({ username: 'check', password: 'check', lease_id: 'check', lease_duration: 0, renewable: true, expires_at: 'check' }), ref);
    }));
    let next = 0;
    return refs.map((_, i) => (dynamicAt.has(i) ? issued[i]! : stored[next++]!));
  };

  let result: Awaited<ReturnType<typeof renderTemplate>>;
  let leases: IssuedLease[] = [];
  try {
    result = await renderTemplate(text, format, { resolveAll });
    leases = await dynamic.leases();
    if (result.output !== null && !options.check && options.output && options.output !== '-') writePrivateFile(options.output, result.output);
  } catch (error) {
    await dynamic.revokeAll(); // nothing was written: the users would only be left behind
    throw error;
  }
  if (result.output === null && leases.length > 0) {
    await dynamic.revokeAll();
    leases = [];
  }

  for (const p of result.problems) process.stderr.write(`${file}:${p.line}:${p.column}: ${p.ref}: ${p.code}: ${p.message}\n`);
  if (options.json && (options.check || (options.output && options.output !== '-'))) {
    // Never a value: reference names, problem codes, lease ids and where the output went.
    printJson({
      file, references: result.references, problems: result.problems.map((p) => ({ line: p.line, column: p.column, ref: p.ref, code: p.code, message: p.message })), output: options.check ? null : options.output,
      leases: leases.map((l) => ({ role: l.role, lease_id: l.leaseId, lease_duration: l.leaseDuration, expires_at: l.expiresAt })),
    });
    if (result.output === null) process.exitCode = 1;
    return;
  }
  if (result.output === null) {
    process.stderr.write(`error: reference_failed: ${result.problems.length} of ${result.references} reference(s) in ${file} failed${options.check ? '' : '; nothing written'}\n`);
    process.exitCode = 1;
    return;
  }
  if (options.check) {
    process.stderr.write(`ok: ${result.references} reference(s) in ${file} resolve${unissued ? ` (${unissued} database credential reference(s) checked for shape only: --check issues no user)` : ''}\n`);
    return;
  }
  if (!options.output || options.output === '-') process.stdout.write(result.output);
  for (const l of leases) {
    process.stderr.write(`lease ${l.leaseId} (database/creds/${l.role}): ${l.leaseDuration} s, until ${l.expiresAt}; nothing renews or revokes it: \`custos lease revoke ${l.leaseId}\` when the job is done\n`);
  }
}
