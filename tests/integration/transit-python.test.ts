import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, repoRoot, startServer, type RunningServer } from '../support/custos-server.js';

const hasRequests = spawnSync('python3', ['-c', 'import requests'], { stdio: 'ignore' }).status === 0;

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('python3', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** examples/python/transit_encrypt_column.py against the real server: a CSV column out and back, in batches. */
describe('transit Python example', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('encrypts a column in batch requests and decrypts it back', { skip: hasRequests ? false : 'python3 requests is not installed (CI installs python3-requests)' }, async () => {
    assert.equal((await api(server, 'POST', '/v1/transit/keys/prod/crm/email', { token: server.token, body: { type: 'aes256-gcm96' } })).status, 201);
    const rows = Array.from({ length: 2_500 }, (_, i) => `${i},user${i}@example.com,plan-${i % 3}`);
    const input = path.join(server.home, 'customers.csv');
    const encrypted = path.join(server.home, 'customers.enc.csv');
    const back = path.join(server.home, 'back.csv');
    writeFileSync(input, ['id,email,plan', ...rows].join('\n') + '\n');
    const env = { PATH: process.env.PATH, HOME: server.home, CUSTOS_ADDR: server.address, CUSTOS_TOKEN: server.token };
    const script = path.join(repoRoot, 'examples/python/transit_encrypt_column.py');
    const before = (await api(server, 'GET', '/v1/audit/events?order=desc&limit=1', { token: server.token })).body.events[0].seq;

    const enc = await run([script, '--key', 'prod/crm/email', '--column', 'email', '--batch-size', '1000', input, encrypted], env);
    assert.equal(enc.code, 0, enc.stderr);
    const encText = readFileSync(encrypted, 'utf8');
    assert.equal(encText.includes('@example.com'), false);
    assert.equal(encText.match(/custos:v1:/g)?.length, 2_500);
    assert.match(encText, /plan-2/); // other columns untouched

    const dec = await run([script, '--key', 'prod/crm/email', '--column', 'email', '--decrypt', encrypted, back], env);
    assert.equal(dec.code, 0, dec.stderr);
    assert.equal(readFileSync(back, 'utf8').replace(/\r\n/g, '\n'), readFileSync(input, 'utf8'));

    const events = (await api(server, 'GET', `/v1/audit/events?after_seq=${before}&limit=100`, { token: server.token })).body.events;
    const encrypts = events.filter((e: { operation: string }) => e.operation === 'transit.encrypt');
    assert.deepEqual(encrypts.map((e: { detail: { count: number } }) => e.detail.count), [1000, 1000, 500], 'three batch requests, one event each');
  });
});
