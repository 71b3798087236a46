import { readFileSync } from 'node:fs';
import { awsCall, signedRequest } from './aws-client.js';
import { runLoad, type LoadResult, type startDevServer } from './lib.js';

/** The secret every read benchmark reads, and the two read paths they load. */
export const BENCH_SECRET = 'prod/analytics-pipeline/warehouse-db';
export const BENCH_VALUE = JSON.stringify({ username: 'etl', password: 'bench-password-123' });
export type ReadMode = 'aws' | 'native';
export const isReadMode = (m: string | undefined): m is ReadMode => m === 'aws' || m === 'native';

type Server = Awaited<ReturnType<typeof startDevServer>>;

/**
 * Puts the bench secret (and, for AWS, an access key) on a dev server and returns how to load
 * one read path of it: `GET /v1/values/<name>` with a token, or GetSecretValue signed with SigV4.
 */
export async function prepareReadLoad(server: Server, mode: ReadMode, connections: number): Promise<(durationSec: number) => Promise<LoadResult>> {
  const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
  const created = await fetch(`${server.address}/v1/secrets`, { method: 'POST', headers, body: JSON.stringify({ name: BENCH_SECRET, value: BENCH_VALUE }) });
  if (!created.ok) throw new Error(`creating the bench secret failed: ${created.status} ${await created.text()}`);
  if (mode === 'native') {
    return (durationSec) => runLoad({ url: `${server.address}/v1/values/${BENCH_SECRET}`, connections, durationSec, headers: { authorization: headers.authorization } });
  }
  const keys = await fetch(`${server.address}/v1/aws/keys`, { method: 'POST', headers, body: JSON.stringify({ policies: ['root'], display_name: 'bench' }) });
  if (!keys.ok) throw new Error(`creating an access key failed: ${keys.status} ${await keys.text()}`);
  const key = (await keys.json()) as { access_key_id: string; secret_access_key: string };
  const credentials = { id: key.access_key_id, secret: key.secret_access_key };
  await awsCall(server.address, 'GetSecretValue', { SecretId: BENCH_SECRET }, credentials);
  return (durationSec) => {
    // Signed just before each run: valid for its whole duration (as in the aws-read suite).
    const request = signedRequest(server.address, 'GetSecretValue', { SecretId: BENCH_SECRET }, credentials.id, credentials.secret);
    return runLoad({ url: `${server.address}/`, connections, durationSec, method: 'POST', headers: request.headers, body: request.body });
  };
}

// CPU time of a server's main thread (user + system, in clock ticks of 1/100 s), from /proc:
// that thread is what runs out first, so its time per request is what bounds throughput.
export const TICK_US = 10_000;
export const mainThreadTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime and stime: fields 14 and 15 of stat(5)
};

/** A load run's result, refused if any answer was an error: a failing path would look fast. */
export const checkedLoad = (r: LoadResult, label: string): LoadResult => {
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${label} had ${r.non2xx} non-2xx answers and ${r.errors} errors`);
  return r;
};
