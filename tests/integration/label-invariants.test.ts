import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, startServer, type RunningServer } from '../support/custos-server.js';
import { describeSecret, uniqueName } from '../support/http-helpers.js';
import { prng } from '../support/prng.js';

/**
 * Staging-label invariants under a randomized sequence of puts, label moves and removals,
 * checked against a small model of AWS's rules after every step:
 *  - a label is on at most one version;
 *  - exactly one version is CURRENT once any version exists;
 *  - moving CURRENT (by a put or a move) demotes the old CURRENT to PREVIOUS.
 */


const LABELS = ['CURRENT', 'PENDING', 'PREVIOUS', 'blue', 'green'];

describe('label-move invariants', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  for (const seed of [1, 2, 3]) {
    test(`randomized operations keep the invariants (seed ${seed})`, async () => {
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const name = uniqueName('dev/labels');
      const versions: string[] = [];
      const model = new Map<string, string>(); // label -> version id
      const log: string[] = [];

      assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name } })).status, 201);

      const check = async () => {
        const d = await describeSecret(server, name);
        const actual = new Map<string, string>();
        for (const v of d.versions) {
          for (const label of v.labels) {
            assert.ok(!actual.has(label), `label ${label} is on two versions after: ${log.join(' | ')}`);
            actual.set(label, v.version_id);
          }
        }
        const current = d.versions.filter((v) => v.labels.includes('CURRENT'));
        if (d.versions.length > 0) assert.equal(current.length, 1, `exactly one CURRENT after: ${log.join(' | ')}`);
        assert.deepEqual(Object.fromEntries([...actual].sort()), Object.fromEntries([...model].sort()), `labels match the model after: ${log.join(' | ')}`);
        if (model.has('CURRENT')) {
          const read = await api(server, 'GET', `/v1/values/${name}`, { token: server.token });
          assert.equal(read.body.version_id, model.get('CURRENT'));
        }
      };

      for (let step = 0; step < 45; step++) {
        const roll = random();
        if (versions.length === 0 || roll < 0.4) {
          // Put, with default labels, or a random set of labels.
          const labels = random() < 0.4 ? undefined : [...new Set([pick(LABELS), ...(random() < 0.3 ? [pick(LABELS)] : [])])];
          const r = await api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: `value-${step}`, ...(labels ? { labels } : {}) } });
          log.push(`put ${JSON.stringify(labels)} -> ${r.status}`);
          assert.equal(r.status, 201, JSON.stringify(r.body));
          const v = r.body.version_id as string;
          versions.push(v);
          const applied = labels ? [...labels] : ['CURRENT'];
          if (!model.has('CURRENT') && !applied.includes('CURRENT')) applied.push('CURRENT');
          if (applied.includes('CURRENT') && model.has('CURRENT') && model.get('CURRENT') !== v) model.set('PREVIOUS', model.get('CURRENT')!);
          for (const label of applied) model.set(label, v);
        } else if (roll < 0.85) {
          // Move a label, naming the right holder most of the time.
          const label = pick(LABELS);
          const to = pick(versions);
          const holder = model.get(label);
          const removeFrom = holder !== undefined && random() < 0.75 ? holder : random() < 0.5 ? pick(versions) : undefined;
          const r = await api(server, 'POST', `/v1/labels/${name}`, {
            token: server.token, body: { label, move_to_version_id: to, ...(removeFrom ? { remove_from_version_id: removeFrom } : {}) },
          });
          log.push(`move ${label} ${holder?.slice(0, 4)}->${to.slice(0, 4)} rm=${removeFrom?.slice(0, 4)} -> ${r.status}`);
          const conflict = (removeFrom !== undefined && holder !== removeFrom) || (holder !== undefined && holder !== to && removeFrom !== holder);
          if (conflict) {
            assert.equal(r.status, 409, log.join(' | '));
            assert.equal(r.body.error.code, 'label_conflict');
          } else {
            assert.equal(r.status, 200, `${JSON.stringify(r.body)} ${log.join(' | ')}`);
            if (holder !== to) {
              if (label === 'CURRENT' && holder !== undefined) model.set('PREVIOUS', holder);
              model.set(label, to);
            }
          }
        } else {
          // Remove a label from its holder (CURRENT cannot be removed).
          const label = pick(LABELS);
          const holder = model.get(label);
          if (holder === undefined) continue;
          const r = await api(server, 'POST', `/v1/labels/${name}`, { token: server.token, body: { label, remove_from_version_id: holder } });
          log.push(`remove ${label} from ${holder.slice(0, 4)} -> ${r.status}`);
          if (label === 'CURRENT') {
            assert.equal(r.status, 409);
            assert.equal(r.body.error.code, 'label_conflict');
          } else {
            assert.equal(r.status, 200, JSON.stringify(r.body));
            model.delete(label);
          }
        }
        await check();
      }
    });
  }

  test('concurrent puts to one secret still leave exactly one CURRENT and one PREVIOUS', async () => {
    const name = uniqueName('dev/labels');
    assert.equal((await api(server, 'POST', '/v1/secrets', { token: server.token, body: { name, value: 'v0' } })).status, 201);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => api(server, 'POST', `/v1/values/${name}`, { token: server.token, body: { value: `c${i}` } })));
    assert.ok(results.every((r) => r.status === 201));
    const d = await describeSecret(server, name);
    assert.equal(d.versions.length, 21);
    assert.equal(d.versions.filter((v) => v.labels.includes('CURRENT')).length, 1);
    assert.equal(d.versions.filter((v) => v.labels.includes('PREVIOUS')).length, 1);
    assert.equal(d.versions.filter((v) => v.labels.length > 0).length, 2);
  });
});
