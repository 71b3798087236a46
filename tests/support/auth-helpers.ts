import assert from 'node:assert/strict';
import { api, type RunningServer } from './custos-server.js';

/** Helpers for auth-method tests: mounts, roles, logins and the testing clock. */
export async function enableMount(server: RunningServer, path: string, type: string, config: Record<string, unknown> = {}): Promise<void> {
  const r = await api(server, 'POST', `/v1/sys/auth/${path}`, { token: server.token, body: { type, config } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

export async function writeRole(server: RunningServer, mount: string, name: string, role: Record<string, unknown>, token = server.token): Promise<any> {
  const r = await api(server, 'PUT', `/v1/auth/${mount}/role/${name}`, { token, body: role });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

export async function login(server: RunningServer, mount: string, body: Record<string, unknown>, headers?: Record<string, string>) {
  return api(server, 'POST', `/v1/auth/${mount}/login`, { body, headers });
}

/** Moves the server's clock forward (needs CUSTOS_TESTING_CLOCK=1 on the server). */
export async function advanceClock(server: RunningServer, advance: string): Promise<void> {
  const r = await api(server, 'POST', '/v1/sys/testing/clock', { token: server.token, body: { advance } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** The audit events of one request id. */
export async function eventsOf(server: RunningServer, requestId: string): Promise<any[]> {
  const r = await api(server, 'GET', '/v1/audit/events?order=desc&limit=200', { token: server.token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body.events as any[]).filter((e) => e.request_id === requestId);
}

export const requestIdOf = (r: { headers: Headers }) => r.headers.get('x-request-id')!;
