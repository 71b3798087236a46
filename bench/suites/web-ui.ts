import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { launchChromium } from '../../tests/support/browser.js';
import { repoRoot, startDevServer, type BenchRow, type BenchSuite } from '../lib.js';

/**
 * The web UI's first load of the secrets page with 10,000 secrets, in Debian's chromium: from
 * navigation until every environment group is rendered with the full count (the page is then
 * interactive: React renders synchronously after the last listing page arrives). The session
 * is logged in once; each run is a fresh navigation with an empty HTTP cache. Median of
 * REPEATS runs, every run shown; also the JavaScript bundle's gzipped size.
 */
const SECRETS = Number(process.env.BENCH_WEB_SECRETS ?? 10_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

export const webUiSuite: BenchSuite = {
  name: 'web-ui',
  async run(): Promise<BenchRow[]> {
    const server = await startDevServer([], { CUSTOS_SQLITE_SYNCHRONOUS: 'NORMAL' });
    const browser = await launchChromium();
    try {
      const envs = ['prod', 'staging', 'dev'];
      const post = (i: number) => fetch(`${server.address}/v1/secrets`, {
        method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `${envs[i % 3]}/team-${i % 40}/service-${i}/password`, value: `v${i}`, owner: `team-${i % 40}` }),
      }).then((r) => { if (r.status !== 201) throw new Error(`seed ${i}: ${r.status}`); });
      for (let i = 0; i < SECRETS; i += 32) await Promise.all(Array.from({ length: Math.min(32, SECRETS - i) }, (_, k) => post(i + k)));

      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${server.address}/`);
      await page.getByRole('tab', { name: 'Token' }).click();
      await page.getByLabel('Token').fill(server.token);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Secrets' }).waitFor();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });

      const runs: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        const started = Date.now();
        await page.goto(`${server.address}/ui/secrets`);
        await page.waitForFunction((total) => {
          const counts = [...document.querySelectorAll('.envs h2 .muted')].map((e) => Number(/\d+/.exec(e.textContent ?? '')?.[0] ?? 0));
          return counts.reduce((a, b) => a + b, 0) === total;
        }, SECRETS, { timeout: 60_000, polling: 'raf' });
        runs.push(Date.now() - started);
      }
      const dir = path.join(repoRoot, 'web/dist/assets');
      const gz = readdirSync(dir).filter((f) => f.endsWith('.js')).reduce((sum, f) => sum + gzipSync(readFileSync(path.join(dir, f)), { level: 9 }).length, 0);
      const median = [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
      return [{ suite: 'web-ui', case: `secrets page first load, ${SECRETS} secrets`, metrics: { 'median ms': median, runs: runs.join(' / '), 'JS gzip KB': Number((gz / 1024).toFixed(1)) } }];
    } finally {
      await browser.close();
      await server.stop();
    }
  },
};
