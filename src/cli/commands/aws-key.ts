import { apiClient, printJson, printTable } from '../context.js';

/** Prints the access key id and secret access key once; the server never shows the secret again. */
export async function createCommand(options: { policy: string[]; env?: string; displayName?: string; ttl?: string; allowMissingPolicy?: boolean; json?: boolean }): Promise<void> {
  const key = await apiClient().createAwsKey({ policies: options.policy, env: options.env, displayName: options.displayName, ttl: options.ttl, allowMissingPolicies: options.allowMissingPolicy });
  if (options.json) return printJson(key);
  printTable(['KEY', 'VALUE'], [
    ['aws_access_key_id', key.access_key_id], ['aws_secret_access_key', key.secret_access_key], ['display name', key.display_name],
    ['policies', key.policies.join(', ')], ['env', key.env], ['expires', key.expires_at ?? 'never'],
  ]);
  process.stderr.write('The secret access key is shown only now. Use it with any AWS SDK pointed at this server (endpoint_url).\n');
}

export async function listCommand(options: { json?: boolean }): Promise<void> {
  const { keys } = await apiClient().listAwsKeys();
  if (options.json) return printJson(keys);
  printTable(['ACCESS KEY ID', 'NAME', 'POLICIES', 'ENV', 'CREATED BY', 'CREATED', 'EXPIRES', 'REVOKED'], keys.map((k) => [
    k.access_key_id, k.display_name, k.policies.join(','), k.env, k.created_by_name ? `${k.created_by_name} (${k.created_by})` : k.created_by, k.created_at,
    k.expires_at ?? 'never', String(k.revoked),
  ]));
}

export async function revokeCommand(accessKeyId: string, options: { json?: boolean }): Promise<void> {
  const result = await apiClient().revokeAwsKey(accessKeyId);
  if (options.json) return printJson(result);
  process.stdout.write(`revoked ${result.revoked}\n`);
}
