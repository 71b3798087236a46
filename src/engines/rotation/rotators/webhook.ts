import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { PermanentRotationError, TestFailedError, type ExternalStep, type RotationContext, type Rotator } from '../rotator.types.js';
import { generateExternal } from './external.js';

export const SIGNATURE_HEADER = 'x-custos-signature';

/** `sha256=<hex HMAC-SHA256 of the exact body>`, what receivers recompute and compare. */
export function signBody(key: string, body: string): string {
  return 'sha256=' + createHmac('sha256', key).update(body).digest('hex');
}

/**
 * POSTs `{secretName, token, step, timestamp}` (and `region` outside the default region) to the HTTPS endpoint, signed with the key
 * kept in the `hmac_secret` secret; a 2xx answer is success. Response bodies are ignored.
 */
async function post(ctx: RotationContext, step: ExternalStep): Promise<void> {
  const hook = ctx.settings.webhook!;
  const key = await ctx.readSecret(hook.hmac_secret);
  const body = JSON.stringify({ secretName: ctx.secretName, ...(ctx.secretRegion ? { region: ctx.secretRegion } : {}), token: ctx.token, step, timestamp: Date.now() });
  let ca: Buffer | undefined;
  if (hook.ca_file) {
    try {
      ca = readFileSync(hook.ca_file);
    } catch {
      throw new PermanentRotationError(`cannot read the webhook CA file`);
    }
  }
  const status = await new Promise<number>((resolve, reject) => {
    const request = https.request(hook.url, {
      method: 'POST', ca, timeout: (hook.timeout_seconds ?? 30) * 1000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [SIGNATURE_HEADER]: signBody(key, body), 'user-agent': 'custos-rotation' },
    }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('webhook timed out')));
    request.on('error', (error) => reject(new Error(`webhook request failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    request.end(body);
  });
  if (status >= 200 && status < 300) return;
  const message = `the webhook answered ${status} at step ${step}`;
  throw step === 'test' ? new TestFailedError(message) : new Error(message);
}

/** `webhook`: each phase is an HTTPS call to the user's service. */
export function createWebhookRotator(): Rotator {
  return {
    generate: generateExternal,
    onCreate: (ctx) => post(ctx, 'create'),
    set: (ctx) => post(ctx, 'set'),
    test: (ctx) => post(ctx, 'test'),
    onFinish: (ctx) => post(ctx, 'finish'),
    rollback: (ctx) => post(ctx, 'rollback'),
  };
}
