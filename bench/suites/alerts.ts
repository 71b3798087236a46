import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alertKit } from '../../tests/support/alert-kit.js';
import { runLoad, startDevServer, type BenchRow, type BenchSuite } from '../lib.js';

/**
 * Does alert evaluation slow the read path? Two servers side by side, one with alerts off
 * and one with every rule on (evaluated every second), loaded alternately (A B A B …) so
 * drift on a shared machine hits both alike; then the evaluator alone: how many audited
 * events per second one evaluation run consumes with all rules on.
 */
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const EVAL_EVENTS = Number(process.env.BENCH_EVAL_EVENTS ?? 100_000);

async function server(dir: string, name: string, alerts: Record<string, unknown>) {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ alerts }));
  const s = await startDevServer(['--config', file]);
  const headers = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
  const secret = 'prod/analytics-pipeline/warehouse-db';
  const created = await fetch(`${s.address}/v1/secrets`, { method: 'POST', headers, body: JSON.stringify({ name: secret, value: '{"password":"bench"}' }) });
  if (!created.ok) throw new Error(`setup failed: ${created.status}`);
  return { ...s, url: `${s.address}/v1/values/${secret}`, headers };
}

/** The evaluator alone: a first pass (every pair is new: first-time alerts fire) and a steady pass. */
async function evaluatorThroughput(): Promise<BenchRow[]> {
  const kit = await alertKit({ rules: { volume_spike: { min_reads: 1_000_000 } } }); // every rule on; no spike alert per principal
  try {
    const start = kit.now;
    // 17 pipelines reading 50 secrets (two thirds prod), 5% denials; 20 events per ms of audit time.
    const seed = async (offset: number) => {
      for (let i = 0; i < EVAL_EVENTS; i += 1000) {
        const batch = [];
        for (let j = i; j < Math.min(i + 1000, EVAL_EVENTS); j++) {
          const time = offset + Math.floor(j / 20);
          if (j % 20 === 0) batch.push(kit.fail({ accessor: `acc_${j % 17}`, code: 'permission_denied', time }));
          else batch.push(kit.read(`acc_${j % 17}`, `${j % 3 ? 'prod' : 'dev'}/pipeline-${j % 50}/db`, time));
        }
        await Promise.all(batch);
      }
    };
    const rows: BenchRow[] = [];
    for (const [pass, offset] of [['first pass', start], ['steady', start + 10 * 60_000]] as const) {
      await seed(offset);
      kit.now = offset + EVAL_EVENTS / 20 + 1000;
      const began = process.hrtime.bigint();
      const result = await kit.evaluate();
      const seconds = Number(process.hrtime.bigint() - began) / 1e9;
      rows.push({ suite: 'alerts', case: `evaluator ${pass}: ${result.events} audit events, all rules`, metrics: { 'events/s': Math.round(result.events / seconds), seconds: Number(seconds.toFixed(2)), 'alerts fired': result.fired } });
    }
    return rows;
  } finally {
    await kit.close();
  }
}

export const alertsSuite: BenchSuite = {
  name: 'alerts',
  async run(): Promise<BenchRow[]> {
    if (process.env.BENCH_ALERTS_EVALUATOR_ONLY) return evaluatorThroughput();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-bench-alerts-'));
    const off = await server(dir, 'off', { enabled: false });
    const on = await server(dir, 'on', { enabled: true, evaluate_interval_seconds: 1, rules: { volume_spike: { min_reads: 1_000_000 } } });
    try {
      const rows: BenchRow[] = [];
      for (const target of [off, on]) await runLoad({ url: target.url, connections: 16, durationSec: 2, headers: target.headers }); // warm-up
      for (const connections of [16, 64]) {
        const runs: Record<'off' | 'on', { rps: number; p99: number }[]> = { off: [], on: [] };
        for (let i = 0; i < REPEATS; i++) {
          for (const [label, target] of (i % 2 ? [['on', on], ['off', off]] : [['off', off], ['on', on]]) as ['off' | 'on', typeof on][]) {
            const r = await runLoad({ url: target.url, connections, durationSec: SECONDS, headers: target.headers });
            if (r.non2xx > 0 || r.errors > 0) throw new Error(`${label}: ${r.non2xx} non-2xx, ${r.errors} errors`);
            runs[label].push(r);
          }
        }
        const median = (xs: { rps: number; p99: number }[]) => [...xs].sort((a, b) => a.rps - b.rps)[Math.floor(xs.length / 2)]!;
        const mOff = median(runs.off);
        const mOn = median(runs.on);
        rows.push({ suite: 'alerts', case: `GET /v1/values (${connections} conn) alerts off vs all rules on`, metrics: {
          'off req/s': Math.round(mOff.rps), 'on req/s': Math.round(mOn.rps), 'on/off': Number((mOn.rps / mOff.rps).toFixed(3)),
          'off p99 ms': mOff.p99, 'on p99 ms': mOn.p99,
          'all runs off | on': `${runs.off.map((x) => Math.round(x.rps)).join(', ')} | ${runs.on.map((x) => Math.round(x.rps)).join(', ')}`,
        } });
      }
      rows.push(...(await evaluatorThroughput()));
      return rows;
    } finally {
      await off.stop();
      await on.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
