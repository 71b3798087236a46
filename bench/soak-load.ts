import { signedRequest } from './aws-client.js';

/**
 * The soak's load generator, run as its own process (so it never shares the server's event loop
 * or heap) by bench/soak.ts. It reads its plan from SOAK_PLAN (JSON, kept out of argv so the
 * token is not visible in `ps`), drives a steady paced mix of requests for `durationSec`, and
 * writes one JSON line per minute on stdout: per kind, the requests done, their p99 latency,
 * failures (non-2xx or network errors, with status and error code, never a body) and requests
 * shed because too many of that kind were still in flight (the server fell behind).
 */
export interface SoakPlan {
  address: string;
  /** A non-root token with the root policy: the parent of every child token the soak creates. */
  token: string;
  aws: { id: string; secret: string };
  /** Secrets read by the read kinds. */
  readSecrets: string[];
  /** Secrets that get new versions. */
  writeSecrets: string[];
  /** Secrets with two versions a custom label flips between: [name, versionA, versionB]. */
  labelSecrets: Array<[string, string, string]>;
  /** Secrets rotated on demand (command rotator), one after the other. */
  rotateSecrets: string[];
  transitKey: string;
  durationSec: number;
  /** Multiplies every kind's rate (1 = the default mix of about 120 requests/s). */
  rateScale: number;
}

export interface KindMinute { ok: number; failed: number; shed: number; p99Ms: number; failures: Record<string, number> }
export interface LoadMinute { minute: number; kinds: Record<string, KindMinute> }

/** Requests per second of each kind at rateScale 1, and how many may be in flight at once. */
const KINDS: Record<string, { perSecond: number; maxInFlight: number }> = {
  'read-native': { perSecond: 60, maxInFlight: 32 },
  'read-aws': { perSecond: 30, maxInFlight: 32 },
  write: { perSecond: 8, maxInFlight: 8 },
  label: { perSecond: 4, maxInFlight: 4 },
  token: { perSecond: 4, maxInFlight: 8 },
  transit: { perSecond: 10, maxInFlight: 8 },
  rotate: { perSecond: 0.1, maxInFlight: 1 },
};
// Short ticks spread each kind's requests over the second instead of sending them in bursts.
const TICK_MS = 20;
/** Child tokens live this long; every second one is revoked at once, the rest expire on their own. */
const CHILD_TTL_SEC = 30;

class HttpFailure extends Error {
  constructor(readonly key: string) { super(key); }
}

async function call(plan: SoakPlan, method: string, path: string, body?: unknown, token = plan.token): Promise<any> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(plan.address + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new HttpFailure(`${response.status} ${errorCode(text)}`);
  return text ? JSON.parse(text) : undefined;
}

/** The stable error code of a failed answer (bodies are never kept: they could hold anything). */
function errorCode(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string } | string; __type?: string };
    return (typeof parsed.error === 'object' ? parsed.error?.code : parsed.error) ?? parsed.__type ?? 'unknown';
  } catch {
    return 'unparsable';
  }
}

const pick = <T>(items: T[], n: number): T => items[n % items.length]!;

/** One operation of each kind; `n` is a counter that spreads the kind over its secrets. */
function operations(plan: SoakPlan) {
  const labelAt = plan.labelSecrets.map(() => 0); // which of the two versions holds the label
  const labelBusy = plan.labelSecrets.map(() => false);
  return {
    'read-native': (n: number) => call(plan, 'GET', `/v1/values/${pick(plan.readSecrets, n)}`),
    'read-aws': async (n: number) => {
      const request = signedRequest(plan.address, 'GetSecretValue', { SecretId: pick(plan.readSecrets, n) }, plan.aws.id, plan.aws.secret);
      const response = await fetch(plan.address + '/', { method: 'POST', headers: request.headers, body: request.body });
      const text = await response.text();
      if (!response.ok) throw new HttpFailure(`${response.status} ${errorCode(text)}`);
    },
    write: (n: number) => call(plan, 'POST', `/v1/values/${pick(plan.writeSecrets, n)}`, { value: JSON.stringify({ n, at: Date.now() }) }),
    label: async (n: number) => {
      const i = n % plan.labelSecrets.length;
      if (labelBusy[i]) return; // a move on this secret is still running; the next tick takes another
      labelBusy[i] = true;
      try {
        const [name, a, b] = plan.labelSecrets[i]!;
        const [from, to] = labelAt[i] === 0 ? [a, b] : [b, a];
        await call(plan, 'POST', `/v1/labels/${name}`, { label: 'SOAK', move_to_version_id: to, remove_from_version_id: from });
        labelAt[i] = 1 - labelAt[i]!;
      } finally {
        labelBusy[i] = false;
      }
    },
    token: async (n: number) => {
      const child = await call(plan, 'POST', '/v1/tokens', { policies: ['default'], ttl: CHILD_TTL_SEC, display_name: 'soak-child', allow_missing_policies: true });
      await call(plan, 'GET', '/v1/tokens/self', undefined, child.token);
      if (n % 2 === 0) await call(plan, 'POST', '/v1/tokens/revoke', { accessor: child.accessor });
    },
    transit: async (n: number) => {
      const plaintext = Buffer.from(`soak transit payload ${n}`).toString('base64');
      const encrypted = await call(plan, 'POST', `/v1/transit/encrypt/${plan.transitKey}`, { plaintext });
      const decrypted = await call(plan, 'POST', `/v1/transit/decrypt/${plan.transitKey}`, { ciphertext: encrypted.ciphertext });
      if (decrypted.plaintext !== plaintext) throw new HttpFailure('200 transit_roundtrip_mismatch');
    },
    rotate: async (n: number) => {
      const run = await call(plan, 'POST', `/v1/rotate/${pick(plan.rotateSecrets, n)}?wait=60`);
      if (!['grace', 'succeeded'].includes(run.status)) throw new HttpFailure(`200 rotation_${run.status}`);
    },
  } as Record<string, (n: number) => Promise<unknown>>;
}

function p99(samples: number[]): number {
  if (!samples.length) return 0;
  const sorted = samples.sort((x, y) => x - y);
  return Number(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!.toFixed(1));
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.env.SOAK_PLAN ?? '') as SoakPlan;
  const ops = operations(plan);
  const fresh = () => Object.fromEntries(Object.keys(KINDS).map((k) => [k, { ok: 0, failed: 0, shed: 0, latencies: [] as number[], failures: {} as Record<string, number> }]));
  let current = fresh();
  const inFlight: Record<string, number> = {};
  const credit: Record<string, number> = {};
  const counter: Record<string, number> = {};
  const started = performance.now();
  let minute = 0;

  const fire = (kind: string) => {
    if ((inFlight[kind] ?? 0) >= KINDS[kind]!.maxInFlight) {
      current[kind]!.shed++;
      return;
    }
    inFlight[kind] = (inFlight[kind] ?? 0) + 1;
    const n = (counter[kind] = (counter[kind] ?? 0) + 1);
    const t0 = performance.now();
    // Counted in the minute the answer arrives, so a request spanning a boundary is never lost.
    ops[kind]!(n).then(
      () => { current[kind]!.ok++; current[kind]!.latencies.push(performance.now() - t0); },
      (error: unknown) => {
        const stats = current[kind]!;
        stats.failed++;
        const key = error instanceof HttpFailure ? error.key : `network ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name}`;
        stats.failures[key] = (stats.failures[key] ?? 0) + 1;
      },
    ).finally(() => { inFlight[kind]!--; });
  };

  const report = () => {
    minute++;
    const done = current;
    current = fresh();
    const kinds: Record<string, KindMinute> = {};
    for (const [kind, s] of Object.entries(done)) kinds[kind] = { ok: s.ok, failed: s.failed, shed: s.shed, p99Ms: p99(s.latencies), failures: s.failures };
    process.stdout.write(JSON.stringify({ minute, kinds } satisfies LoadMinute) + '\n');
  };

  const ticker = setInterval(() => {
    for (const [kind, { perSecond }] of Object.entries(KINDS)) {
      credit[kind] = (credit[kind] ?? 0) + (perSecond * plan.rateScale * TICK_MS) / 1000;
      while (credit[kind]! >= 1) {
        credit[kind]!--;
        fire(kind);
      }
    }
  }, TICK_MS);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  for (let m = 1; m * 60 <= plan.durationSec; m++) {
    await sleep(started + m * 60_000 - performance.now());
    if (m * 60 === plan.durationSec) clearInterval(ticker);
    report();
  }
  clearInterval(ticker);
  process.exit(0);
}

await main();
