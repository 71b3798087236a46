/**
 * Dynamic database credentials inside `custos run` and `custos render`: a
 * `secret://database/creds/ROLE[#field]` reference (or `--secret database/creds/ROLE`) issues a
 * new database user, one per role however often it is named, so `#username` and `#password`
 * always belong together. `run` renews each lease at two thirds of its duration while the child
 * runs (until its max TTL refuses) and revokes them when the child exits; if it is killed
 * outright, the leases simply expire. `render` has no process to outlive: it reports the leases
 * it took so the operator can revoke them, and they otherwise end at their TTL.
 */
import { httpFetch } from '../sdk/http-transport.js';

export const DYNAMIC_PREFIX = 'database/creds/';
export const isDynamic = (name: string) => name.startsWith(DYNAMIC_PREFIX);

interface Issued { text: string; leaseId: string; duration: number; expiresAt: string }

/** A lease taken for a role reference: what an operator needs to revoke it or know when it ends. */
export interface IssuedLease { role: string; leaseId: string; leaseDuration: number; expiresAt: string }

export class DynamicCredsError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export function createDynamicCreds(options: { address: string; token: string; warn: (line: string) => void; command?: string }) {
  const who = options.command ?? 'custos run';
  const issued = new Map<string, Promise<Issued>>();
  const timers: NodeJS.Timeout[] = [];

  async function call(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
    const response = await httpFetch(options.address.replace(/\/+$/, '') + path, {
      method, headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000),
    });
    const data = JSON.parse((await response.text()) || '{}') as Record<string, unknown> & { error?: { code: string; message: string } };
    if (!response.ok) throw new DynamicCredsError(data.error?.code ?? 'http_error', data.error?.message ?? `HTTP ${response.status}`);
    return data;
  }

  return {
    /** The credentials (JSON text: username, password, lease_id, …) for `database/creds/ROLE`, issued once per run. */
    value(name: string): Promise<string> {
      const role = name.slice(DYNAMIC_PREFIX.length);
      let pending = issued.get(role);
      if (!pending) {
        pending = call('POST', `/v1/database/creds/${encodeURIComponent(role)}`, {}).then((data) => ({
          text: JSON.stringify(data), leaseId: String(data.lease_id), duration: Number(data.lease_duration), expiresAt: String(data.expires_at),
        }));
        pending.catch(() => undefined);
        issued.set(role, pending);
      }
      return pending.then((i) => i.text);
    },

    /** The leases issued so far (failed issuances left out), in the order their roles were first named. */
    async leases(): Promise<IssuedLease[]> {
      const out: IssuedLease[] = [];
      for (const [role, pending] of issued) {
        const lease = await pending.catch(() => null);
        if (lease) out.push({ role, leaseId: lease.leaseId, leaseDuration: lease.duration, expiresAt: lease.expiresAt });
      }
      return out;
    },

    /** Renews every lease at two thirds of its duration while the child runs. */
    keepAlive(): void {
      for (const pending of issued.values()) {
        void pending.then((lease) => {
          const renew = async () => {
            try {
              const data = await call('POST', '/v1/leases/renew', { lease_id: lease.leaseId });
              const left = Number(data.lease_duration);
              if (left > 0) timers.push(setTimeout(() => void renew(), Math.max(1, left * 667)).unref());
            } catch (error) {
              options.warn(`${who}: lease ${lease.leaseId} was not renewed (${(error as DynamicCredsError).code ?? 'error'}); it ends at its expiry`);
            }
          };
          timers.push(setTimeout(() => void renew(), Math.max(1, lease.duration * 667)).unref());
        }, () => undefined);
      }
    },

    /** Revokes every lease issued for this run (their users are dropped). */
    async revokeAll(): Promise<void> {
      for (const t of timers) clearTimeout(t);
      await Promise.all([...issued.values()].map(async (pending) => {
        const lease = await pending.catch(() => null);
        if (!lease) return;
        await call('POST', '/v1/leases/revoke', { lease_id: lease.leaseId }).catch((error: DynamicCredsError) =>
          options.warn(`${who}: revoking lease ${lease.leaseId} failed (${error.code}); it ends at its expiry`));
      }));
    },
  };
}
