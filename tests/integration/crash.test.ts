import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { api, runCli, startServer } from '../support/custos-server.js';

/**
 * kill -9 during a stream of writes: every write acknowledged with a 2xx before the kill is
 * readable after a restart with its exact value, and the audit chain verifies.
 */
describe('crash safety', () => {
  test('kill -9 mid-stream, restart on the same data dir: acknowledged writes survive and audit verify passes', async () => {
    const first = await startServer();
    const { dataDir, home } = first;
    try {
      const secrets = Array.from({ length: 10 }, (_, i) => `dev/crash/s${i}`);
      for (const name of secrets) assert.equal((await api(first, 'POST', '/v1/secrets', { token: first.token, body: { name } })).status, 201);

      const acked: { name: string; versionId: string; value: string }[] = [];
      let attempted = 0;
      let killed = false;
      let killing: Promise<void> | null = null;
      const workers = Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; i < 50 && !killed; i++) {
          const name = secrets[(w * 50 + i) % secrets.length]!;
          const value = `w${w}-i${i}-${Math.random().toString(36).slice(2)}`;
          attempted++;
          try {
            const r = await api(first, 'POST', `/v1/values/${name}`, { token: first.token, body: { value } });
            if (r.status === 201) acked.push({ name, versionId: r.body.version_id, value });
            else assert.fail(`unexpected ${r.status} ${JSON.stringify(r.body)}`);
          } catch (error) {
            if (!killed) throw error;
            return; // the connection died with the server: not acknowledged
          }
          // Kill mid-stream, with other writes still in flight.
          if (acked.length >= 120 && !killed) {
            killed = true;
            killing = first.kill();
          }
        }
      });
      await Promise.all(workers);
      await killing;
      assert.ok(killed, 'the server was killed mid-stream');
      assert.equal(first.process.signalCode, 'SIGKILL');
      assert.ok(acked.length >= 120 && attempted > acked.length, `${acked.length} acknowledged of ${attempted} attempted`);

      const second = await startServer({ dataDir, home });
      try {
        const token = readFileSync(path.join(home, '.custos', 'token'), 'utf8').trim();
        assert.equal(second.token, '', 'a restart does not initialize again');
        const health = await api(second, 'GET', '/v1/health');
        assert.deepEqual(health.body, { initialized: true, sealed: false, version: '0.1.0' });
        const lost: string[] = [];
        for (const write of acked) {
          const r = await api(second, 'GET', `/v1/values/${write.name}?version_id=${write.versionId}`, { token });
          if (r.status !== 200 || r.body.value !== write.value) lost.push(`${write.name}@${write.versionId}: ${r.status} ${JSON.stringify(r.body).slice(0, 100)}`);
        }
        assert.deepEqual(lost, [], `all ${acked.length} acknowledged writes are readable`);
        // Every secret still has exactly one CURRENT.
        for (const name of secrets) {
          const d = await api(second, 'GET', `/v1/secrets/${name}`, { token });
          assert.equal(d.body.versions.filter((v: { labels: string[] }) => v.labels.includes('CURRENT')).length, 1, name);
        }
        const verify = await runCli(['audit', 'verify'], { server: second });
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
        assert.match(verify.stdout, /^audit log OK/);
        // Every acknowledged write's audit event was durable before its response.
        const events = (await api(second, 'GET', '/v1/audit/events?operation=secret.write&limit=10000', { token })).body.events as { version_id: string; outcome: string }[];
        const audited = new Set(events.filter((e) => e.outcome === 'success').map((e) => e.version_id));
        assert.deepEqual(acked.filter((w) => !audited.has(w.versionId)).map((w) => w.versionId), []);
        // And the server keeps working after the crash.
        assert.equal((await api(second, 'POST', `/v1/values/${secrets[0]}`, { token, body: { value: 'after-crash' } })).status, 201);
        assert.equal((await api(second, 'GET', `/v1/values/${secrets[0]}`, { token })).body.value, 'after-crash');
      } finally {
        await second.stop();
      }
    } finally {
      await first.kill();
      first.cleanup();
    }
  });
});
