import type { TokenResponse } from '../../sdk/api-client.js';
import { apiClient, printJson, printTable } from '../context.js';

function printToken(t: TokenResponse): void {
  printTable(['KEY', 'VALUE'], [
    ...(t.token ? [['token', t.token]] : []), ['accessor', t.accessor], ['display name', t.display_name], ['policies', t.policies.join(', ')],
    ['env', t.env], ['ttl', t.ttl_seconds === null ? null : `${t.ttl_seconds}s`], ['expires', t.expires_at], ['max expires', t.max_expires_at], ['parent', t.parent_accessor], ['revoked', String(t.revoked)],
  ]);
}

export async function createCommand(options: { policy: string[]; ttl?: string; maxTtl?: string; env?: string; displayName?: string; allowMissingPolicy?: boolean; json?: boolean }): Promise<void> {
  const t = await apiClient().createToken({
    policies: options.policy, ttl: options.ttl, maxTtl: options.maxTtl, env: options.env, displayName: options.displayName, allowMissingPolicies: options.allowMissingPolicy,
  });
  if (options.json) return printJson(t);
  printToken(t);
}

export async function lookupCommand(accessor: string | undefined, options: { json?: boolean }): Promise<void> {
  const api = apiClient();
  const t = accessor ? await api.lookupToken(accessor) : await api.lookupSelf();
  if (options.json) return printJson(t);
  printToken(t);
}

export async function renewCommand(accessor: string | undefined, options: { increment?: string; json?: boolean }): Promise<void> {
  const t = await apiClient().renewToken(accessor, options.increment);
  if (options.json) return printJson(t);
  printToken(t);
}

export async function revokeCommand(accessor: string | undefined, options: { json?: boolean }): Promise<void> {
  const result = await apiClient().revokeToken(accessor);
  if (options.json) return printJson(result);
  process.stdout.write(`revoked ${result.revoked.length} token(s): ${result.revoked.join(', ')}\n`);
}
