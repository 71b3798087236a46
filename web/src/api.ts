// Same-origin API client. The session token lives in an HttpOnly cookie the page cannot read;
// writes echo the CSRF token from the readable custos_csrf cookie. Values travel only in
// bodies, never in URLs, and errors carry the server's code and message (never a value).

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function csrfToken(): string {
  const match = /(?:^|;\s*)custos_csrf=([^;]*)/.exec(document.cookie);
  return match?.[1] ?? '';
}

/** An error for the page: the server's `code: message` (never a value), or a fallback. */
export const errorText = (e: unknown, fallback: string) => (e instanceof ApiError ? `${e.code}: ${e.message}` : fallback);

/** "a, b c" → ["a", "b", "c"]: policy lists typed into one field. */
export const listOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);

export const enc = (name: string) => name.split('/').map(encodeURIComponent).join('/');

export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-custos-csrf'] = csrfToken();
  const response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const error = data?.error ?? {};
    if (response.status === 401) window.dispatchEvent(new Event('custos:unauthenticated'));
    throw new ApiError(response.status, error.code ?? 'error', error.message ?? response.statusText);
  }
  return data as T;
}

export interface Session { accessor: string; display_name: string; policies: string[]; env: string | null; expires_at: string | null; csrf_token: string }

export interface SecretMeta {
  name: string; description: string | null; owner: string | null; tags: Record<string, string>; created_at: string; updated_at: string | null;
  last_accessed_at: string | null; last_rotated_at: string | null; deleted_at: string | null; deletion_date: string | null; rotation: unknown;
}
export interface Version { version_id: string; labels: string[]; created_at: string; last_accessed_at: string | null }
