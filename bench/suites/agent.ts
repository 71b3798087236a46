import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startAgentProcess, writeAgentConfig } from '../../tests/support/custos-agent.js';
import { repoRoot, runLoad, startDevServer, type BenchRow, type BenchSuite } from '../lib.js';

/**
 * `npm run bench agent`: the caching agent on one node.
 *  - cache-hit latency through the agent (TCP, keep-alive) next to a read from the server;
 *  - cached reads/s through the agent on TCP and on the unix socket;
 *  - task start (a new python3 + boto3 process, start to first value) through the agent vs
 *    the server's AWS API, and the server requests those task starts made (audit log).
 * Goals: p50 cache hit ≤ 1 ms; ≥ 30,000 cached reads/s on the socket; server requests per
 * N task starts ≤ number of distinct secrets.
 */
const SECRETS = 5;
const TASKS = Number(process.env.BENCH_AGENT_TASKS ?? 40);
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

function percentiles(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Sequential GETs on one keep-alive connection: latency of one round trip each. */
async function sequentialLatency(target: { host: string; port: number } | { socketPath: string }, urlPath: string, headers: Record<string, string>, n: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const one = () => new Promise<void>((resolve, reject) => {
    http.get({ ...target, path: urlPath, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    }).on('error', reject);
  });
  for (let i = 0; i < 200; i++) await one(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await one();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  agent.destroy();
  return samples;
}

/** autocannon on a unix socket, in its own process (runLoad speaks TCP only). */
function socketLoad(socketPath: string, urlPath: string, headers: Record<string, string>, durationSec: number): Promise<{ rps: number; p50: number; non2xx: number }> {
  const script = `
    const autocannon = require('autocannon');
    const o = JSON.parse(process.argv[1]);
    autocannon({ url: 'http://localhost' + o.path, socketPath: o.socketPath, connections: 32, duration: o.durationSec, headers: o.headers }, (err, r) => {
      if (err) { console.error(err); process.exit(1); }
      process.stdout.write(JSON.stringify({ rps: r.requests.average, p50: r.latency.p50, non2xx: r.non2xx }));
    });`;
  const child = spawn(process.execPath, ['-e', script, JSON.stringify({ socketPath, path: urlPath, headers, durationSec })], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`socket load failed (${code})`)))));
}

const TASK = `
import sys, boto3
c = boto3.client('secretsmanager')
for name in sys.argv[1:]:
    c.get_secret_value(SecretId=name)
`;

/** Wall time of one short-lived task process: start to all values read. */
function task(env: NodeJS.ProcessEnv, names: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn('python3', ['-c', TASK, ...names], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`task exited ${code}`)))));
}

export const agentSuite: BenchSuite = {
  name: 'agent',
  async run(): Promise<BenchRow[]> {
    const server = await startDevServer();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-bench-agent-'));
    const rows: BenchRow[] = [];
    const row = (c: string, metrics: Record<string, string | number>) => rows.push({ suite: 'agent', case: c, metrics });
    try {
      const rootHeaders = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
      const names = Array.from({ length: SECRETS }, (_, i) => `prod/pipelines/conn-${i}`);
      for (const name of names) {
        const r = await fetch(`${server.address}/v1/secrets`, { method: 'POST', headers: rootHeaders, body: JSON.stringify({ name, value: JSON.stringify({ password: `bench-${name}` }) }) });
        if (!r.ok) throw new Error(`setup failed: ${r.status}`);
      }
      const tokenFile = path.join(dir, 'upstream-token');
      writeFileSync(tokenFile, server.token, { mode: 0o600 });
      const config = writeAgentConfig(dir, {
        server: { address: server.address }, auth: { method: 'token_file', token_file: tokenFile },
        listen: { tcp: '127.0.0.1:0', socket: path.join(dir, 'agent.sock') }, agent_token_file: path.join(dir, 'agent-token'), log_level: 'info',
      });
      const agent = await startAgentProcess(config, path.join(dir, 'agent-token'));
      try {
        await agent.waitForLog(/"msg":"change feed live"/); // live: cache hits are served locally
        const agentHeaders = { authorization: `Bearer ${agent.token}` };
        const url = new URL(agent.address);
        const hit = percentiles(await sequentialLatency({ host: url.hostname, port: Number(url.port) }, `/v1/values/${names[0]}`, agentHeaders, 5000));
        row('cache hit via agent (TCP, keep-alive, sequential)', { p50: `${round(hit.p50, 3)} ms`, p95: `${round(hit.p95, 3)} ms`, p99: `${round(hit.p99, 3)} ms` });
        const hitSock = percentiles(await sequentialLatency({ socketPath: agent.socket! }, `/v1/values/${names[0]}`, agentHeaders, 5000));
        row('cache hit via agent (unix socket, sequential)', { p50: `${round(hitSock.p50, 3)} ms`, p95: `${round(hitSock.p95, 3)} ms`, p99: `${round(hitSock.p99, 3)} ms` });
        const serverUrl = new URL(server.address);
        const direct = percentiles(await sequentialLatency({ host: serverUrl.hostname, port: Number(serverUrl.port) }, `/v1/values/${names[0]}`, { authorization: rootHeaders.authorization }, 2000));
        row('read from the server (TCP, keep-alive, sequential)', { p50: `${round(direct.p50, 3)} ms`, p95: `${round(direct.p95, 3)} ms`, p99: `${round(direct.p99, 3)} ms` });

        const tcp = await runLoad({ url: `${agent.address}/v1/values/${names[0]}`, connections: 32, durationSec: 5, headers: agentHeaders });
        row('cached reads/s via agent (TCP, 32 connections)', { 'req/s': Math.round(tcp.rps), p50: `${tcp.p50} ms`, non2xx: tcp.non2xx });
        const sock = await socketLoad(agent.socket!, `/v1/values/${names[0]}`, agentHeaders, 5);
        row('cached reads/s via agent (unix socket, 32 connections)', { 'req/s': Math.round(sock.rps), p50: `${sock.p50} ms`, non2xx: sock.non2xx });

        if (spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0) {
          const keys = await fetch(`${server.address}/v1/aws/keys`, { method: 'POST', headers: rootHeaders, body: JSON.stringify({ policies: ['root'], display_name: 'bench' }) });
          const key = (await keys.json()) as { access_key_id: string; secret_access_key: string };
          const base = { PATH: process.env.PATH, HOME: dir, AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
          const viaAgent = { ...base, AWS_ENDPOINT_URL: agent.address, AWS_ACCESS_KEY_ID: agent.token, AWS_SECRET_ACCESS_KEY: 'unused' };
          const viaServer = { ...base, AWS_ENDPOINT_URL: server.address, AWS_ACCESS_KEY_ID: key.access_key_id, AWS_SECRET_ACCESS_KEY: key.secret_access_key };
          const head = (await (await fetch(`${server.address}/v1/audit/events?order=desc&limit=1`, { headers: rootHeaders })).json()) as { events: { seq: number }[] };
          const agentTimes: number[] = [];
          const serverTimes: number[] = [];
          for (let i = 0; i < TASKS; i++) {
            agentTimes.push(await task(viaAgent, names));
            serverTimes.push(await task(viaServer, names));
          }
          const events = (await (await fetch(`${server.address}/v1/audit/events?after_seq=${head.events[0]!.seq}&limit=10000`, { headers: rootHeaders })).json()) as { events: { operation: string; source: string | null; detail: unknown; accessor: string }[] };
          const agentAccessor = ((await (await fetch(`${server.address}/v1/tokens/self`, { headers: rootHeaders })).json()) as { accessor: string }).accessor;
          const upstream = events.events.filter((e) => e.operation === 'secret.read' && e.accessor === agentAccessor).length;
          const a = percentiles(agentTimes);
          const s = percentiles(serverTimes);
          row(`task start → ${SECRETS} values, boto3 via agent`, { p50: `${round(a.p50, 1)} ms`, p95: `${round(a.p95, 1)} ms`, tasks: TASKS, 'server reads': upstream }); // secrets already cached by the rows above are not read again
          row(`task start → ${SECRETS} values, boto3 direct (AWS API, SigV4)`, { p50: `${round(s.p50, 1)} ms`, p95: `${round(s.p95, 1)} ms`, tasks: TASKS, 'server reads': TASKS * SECRETS });
        }
      } finally {
        await agent.stop();
      }
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
