import { readFileSync } from 'node:fs';
import { httpFetch } from '../../sdk/http-transport.js';
import { CustosClient } from '../../sdk/custos-client.js';
import { formatForFile, renderTemplate, type TemplateFormat } from '../../sdk/template.js';
import { DEFAULT_ADDRESS, printJson, resolveToken } from '../context.js';
import { writePrivateFile } from '../../sdk/saved-tokens.js';

/**
 * `custos render FILE [-o OUT] [--check] [--format F]`: resolves every `secret://` reference
 * (escaping rules by file type: see src/sdk/template.ts). Problems are reported as
 * FILE:LINE:COLUMN with the reference, never with a value; nothing is written when any fails.
 */
export async function renderCommand(file: string, options: { output?: string; check?: boolean; format?: TemplateFormat; json?: boolean }): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const client = new CustosClient({ address: process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, token: resolveToken() ?? '', ttlMs: 0, maxStaleMs: 0, retry: { attempts: 3 }, fetch: httpFetch });
  const format = options.format ?? formatForFile(file);
  // Every secret the file names, in one request.
  const result = await renderTemplate(text, format, { resolveAll: (refs) => client.resolveRefs(refs) });
  for (const p of result.problems) process.stderr.write(`${file}:${p.line}:${p.column}: ${p.ref}: ${p.code}: ${p.message}\n`);
  if (options.json && (options.check || (options.output && options.output !== '-'))) {
    // Never a value: reference names, problem codes and where the output went.
    if (result.output !== null && !options.check) writePrivateFile(options.output!, result.output);
    printJson({ file, references: result.references, problems: result.problems.map((p) => ({ line: p.line, column: p.column, ref: p.ref, code: p.code, message: p.message })), output: options.check ? null : options.output });
    if (result.output === null) process.exitCode = 1;
    return;
  }
  if (result.output === null) {
    process.stderr.write(`error: reference_failed: ${result.problems.length} of ${result.references} reference(s) in ${file} failed${options.check ? '' : '; nothing written'}\n`);
    process.exitCode = 1;
    return;
  }
  if (options.check) {
    process.stderr.write(`ok: ${result.references} reference(s) in ${file} resolve\n`);
    return;
  }
  if (options.output && options.output !== '-') writePrivateFile(options.output, result.output);
  else process.stdout.write(result.output);
}
