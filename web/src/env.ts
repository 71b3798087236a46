// Which environment a secret belongs to: its `env` tag, else the first segment of its name.
export const ENVS = ['prod', 'staging', 'dev'] as const;

export function envOf(secret: { name: string; tags: Record<string, string> }): string {
  const tagged = secret.tags['env'] ?? secret.tags['environment'];
  if (tagged) return tagged;
  const first = secret.name.split('/')[0] ?? '';
  return (ENVS as readonly string[]).includes(first) ? first : 'other';
}

export const envClass = (env: string) => `env env-${(ENVS as readonly string[]).includes(env) ? env : 'other'}`;

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—');
