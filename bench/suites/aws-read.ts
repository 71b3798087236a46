import { spawn } from 'node:child_process';
import http from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { awsCall, signedRequest } from '../aws-client.js';
import { repoRoot, runLoad, startDevServer, type BenchRow, type BenchSuite, type LoadResult } from '../lib.js';
import { BENCH_SECRET, BENCH_VALUE } from '../read-load.js';

/**
 * Target: GetSecretValue through the AWS JSON 1.1 protocol with SigV4, within 20% of the
 * native read path, and the moto emulator measured side by side with the same client and load.
 * The native/AWS pair at each connection count is measured REPEATS times (default 5, 5 s per
 * run, alternating which goes first) and the median pair by ratio is reported.
 *
 * Signing, two ways: (1) against the native read path, with the same autocannon client: it
 * replays one request, so each run signs it once with a fresh X-Amz-Date just before it starts;
 * every run lasts seconds, well inside the 5-minute skew window, so the server verifies every
 * request in full (canonical request, signing key derivation, HMAC comparison). (2) against moto,
 * with one Node client that signs every request afresh, for both servers: moto's werkzeug server
 * answers `Connection: close`, which autocannon does not drive (it stalls after one response).
 */
const CONNECTIONS = [1, 16, 64];
const DURATION_SEC = 8;
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const PAIR_DURATION_SEC = 5;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function startMoto(): Promise<{ address: string; stop(): Promise<void> } | null> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const failed = new Promise<null>((resolve) => child.on('error', () => resolve(null)));
  const address = `http://127.0.0.1:${port}`;
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(address + '/moto-api/');
        return address;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return null;
  })();
  const started = await Promise.race([ready, failed]);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
  };
  if (!started) {
    await stop();
    return null;
  }
  return { address, stop };
}

async function awsLoad(address: string, key: { id: string; secret: string }, connections: number, durationSec: number): Promise<LoadResult> {
  // Signed just before the run: valid for its whole duration.
  const request = signedRequest(address, 'GetSecretValue', { SecretId: BENCH_SECRET }, key.id, key.secret);
  return runLoad({ url: address + '/', connections, durationSec, method: 'POST', headers: request.headers, body: request.body });
}

/**
 * Closed-loop load from `connections` concurrent workers, each signing every request with the
 * current time (as an SDK does), over a keep-alive agent that reconnects when a server closes.
 * Runs in the bench runner process, which is separate from the server under test.
 */
async function signingLoad(address: string, key: { id: string; secret: string }, connections: number, durationSec: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const url = new URL(address);
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const end = Date.now() + durationSec * 1000;
  const once = () => new Promise<void>((resolve) => {
    const request = signedRequest(address, 'GetSecretValue', { SecretId: BENCH_SECRET }, key.id, key.secret);
    const started = performance.now();
    const req = http.request({ host: url.hostname, port: url.port, path: '/', method: 'POST', agent, headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) non2xx += 1;
        latencies.push(performance.now() - started);
        resolve();
      });
    });
    req.on('error', () => {
      errors += 1;
      resolve();
    });
    req.end(request.body);
  });
  const worker = async () => {
    while (Date.now() < end) await once();
  };
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = (performance.now() - startedAt) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 10) / 10;
  return { requests: latencies.length, rps: latencies.length / seconds, p50: pct(0.5), p99: pct(0.99), errors, non2xx };
}

/**
 * REPEATS pairs of back-to-back runs of the native and the AWS shape; the pair with the median
 * ratio is reported, with every pair's ratio beside it. This VM's speed drifts by ±20% within a
 * minute, so each pair is short and the order inside a pair alternates (native first, then AWS
 * first, ...): neither path is always the one measured later.
 */
async function medianPair(nativeRun: () => Promise<LoadResult>, awsRun: () => Promise<LoadResult>) {
  const pairs: { native: LoadResult; aws: LoadResult; ratio: number }[] = [];
  for (let i = 0; i < REPEATS; i++) {
    let native: LoadResult;
    let aws: LoadResult;
    if (i % 2 === 0) {
      native = await nativeRun();
      aws = await awsRun();
    } else {
      aws = await awsRun();
      native = await nativeRun();
    }
    pairs.push({ native, aws, ratio: aws.rps / native.rps });
  }
  const { native, aws, ratio } = [...pairs].sort((a, b) => a.ratio - b.ratio)[Math.floor(pairs.length / 2)]!;
  const extra = { 'vs native': `${Math.round(ratio * 100)}%`, 'all pairs: AWS/native': pairs.map((p) => `${Math.round(p.aws.rps)}/${Math.round(p.native.rps)} (${Math.round(p.ratio * 100)}%)`).join(', ') };
  return { native, aws, extra };
}

/**
 * The same comparison against bare Fastify with no Custos code (bench/stack-floor-server.ts),
 * with the same requests and load: how far the AWS request shape alone (a POST with a body and
 * seven headers, JSON in and out) falls behind the native GET on this stack, at 16 and 64
 * connections where both are CPU-bound.
 */
async function stackFloor(): Promise<BenchRow[]> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/bench/stack-floor-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', (code) => reject(new Error(`stack-floor server exited (${code})`)));
    });
    const key = { id: 'AKCUBENCHSTACKFLOOR0', secret: 'unchecked' }; // signed like the real thing; nothing verifies it
    const nativeUrl = `${address}/v1/values/${BENCH_SECRET}`;
    await runLoad({ url: nativeUrl, connections: 16, durationSec: 2 });
    await awsLoad(address, key, 16, 2);
    const rows: BenchRow[] = [];
    for (const c of CONNECTIONS.filter((n) => n > 1)) {
      const { native, aws, extra } = await medianPair(
        () => runLoad({ url: nativeUrl, connections: c, durationSec: PAIR_DURATION_SEC, headers: { authorization: 'Bearer cst_unchecked' } }),
        () => awsLoad(address, key, c, PAIR_DURATION_SEC),
      );
      rows.push(row('bare Fastify: GET, native shape', c, native));
      rows.push(row('bare Fastify: POST, AWS shape', c, aws, extra));
    }
    return rows;
  } finally {
    // Gone before moto starts, so the next measurement has the cores to itself.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

function row(name: string, connections: number, r: LoadResult, extra: Record<string, string | number> = {}): BenchRow {
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name} had ${r.non2xx} non-2xx and ${r.errors} errors`);
  return { suite: 'aws-read', case: `${name} (${connections} conn)`, metrics: { connections, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, requests: r.requests, ...extra } };
}

export const awsReadSuite: BenchSuite = {
  name: 'aws-read',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const server = await startDevServer();
    const results = new Map<string, LoadResult>();
    try {
      const created = await fetch(`${server.address}/v1/aws/keys`, {
        method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ policies: ['root'], display_name: 'bench' }),
      });
      const keyBody = (await created.json()) as { access_key_id: string; secret_access_key: string };
      const key = { id: keyBody.access_key_id, secret: keyBody.secret_access_key };
      await awsCall(server.address, 'CreateSecret', { Name: BENCH_SECRET, SecretString: BENCH_VALUE }, key);
      const nativeHeaders = { authorization: `Bearer ${server.token}` };
      const nativeUrl = `${server.address}/v1/values/${BENCH_SECRET}`;
      await runLoad({ url: nativeUrl, connections: 16, durationSec: 2, headers: nativeHeaders }); // warm-up
      await awsLoad(server.address, key, 16, 2);
      for (const c of CONNECTIONS) {
        // REPEATS pairs of back-to-back native and AWS runs; the pair with the median ratio is
        // reported, with every pair's ratio beside it. This VM's speed drifts by ±20% within a
        // minute, so each pair is short and the order inside a pair alternates (native first,
        // then AWS first, ...): neither path is always the one measured later.
        const { native, aws, extra } = await medianPair(
          () => runLoad({ url: nativeUrl, connections: c, durationSec: PAIR_DURATION_SEC, headers: nativeHeaders }),
          () => awsLoad(server.address, key, c, PAIR_DURATION_SEC),
        );
        rows.push(row('native GET /v1/values', c, native));
        rows.push(row('Custos GetSecretValue (SigV4)', c, aws, extra));
      }
      // Custos and moto side by side with one client that signs every request afresh (moto's
      // werkzeug server answers `Connection: close`, which autocannon cannot drive).
      await signingLoad(server.address, key, 16, 2);
      for (const c of CONNECTIONS) {
        const fresh = await signingLoad(server.address, key, c, DURATION_SEC);
        results.set(`custos-signing:${c}`, fresh);
        rows.push(row('Custos GetSecretValue, signed per request', c, fresh));
      }
    } finally {
      await server.stop();
    }
    rows.push(...(await stackFloor()));
    const moto = await startMoto();
    if (!moto) {
      process.stderr.write('moto_server is not installed: the moto comparison is skipped\n');
      return rows;
    }
    try {
      const key = { id: 'test', secret: 'test' };
      await awsCall(moto.address, 'CreateSecret', { Name: BENCH_SECRET, SecretString: BENCH_VALUE }, key);
      await signingLoad(moto.address, key, 16, 2);
      for (const c of CONNECTIONS) {
        const r = await signingLoad(moto.address, key, c, DURATION_SEC);
        const custos = results.get(`custos-signing:${c}`)!;
        rows.push(row('moto GetSecretValue', c, r, { 'Custos / moto': `${(custos.rps / r.rps).toFixed(1)}x` }));
      }
    } finally {
      await moto.stop();
    }
    return rows;
  },
};
