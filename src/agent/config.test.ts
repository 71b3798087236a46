import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseAgentConfig, AgentConfigError } from './config.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const base = `
server: { address: "http://custos:8420" }
auth: { method: token_file, token_file: token }
listen: { tcp: "127.0.0.1:8300", socket: agent.sock }
agent_token_file: agent-token
`;

test('defaults, and paths resolved against the config file directory', () => {
  const config = parseAgentConfig(base, '/etc/custos');
  assert.equal(config.cache.max_stale, 24 * 3600 * 1000);
  assert.equal(config.cache.max_bytes, 64 * 1024 * 1024);
  assert.equal(config.listen.socket, '/etc/custos/agent.sock');
  assert.equal(config.agent_token_file, '/etc/custos/agent-token');
  assert.equal(config.auth.method === 'token_file' && config.auth.token_file, '/etc/custos/token');
});

test('refused: a non-loopback listener, no listener, unknown keys, both role_id forms, bad durations', () => {
  const bad = [
    base.replace('127.0.0.1:8300', '0.0.0.0:8300'),
    base.replace('listen: { tcp: "127.0.0.1:8300", socket: agent.sock }', 'listen: {}'),
    base + 'surprise: true\n',
    base.replace('auth: { method: token_file, token_file: token }', 'auth: { method: approle, role_id: r, role_id_file: f, secret_id_file: s }'),
    base + 'cache: { max_stale: soon }\n',
    'server: [',
    base.replace('auth: { method: token_file, token_file: token }', 'auth: { method: jwt, jwt_file: f }'),
    base + 'templates: [{ source: a, destination: b, mode: "0800" }]\n',
    base + 'templates: [{ source: a, destination: b, surprise: 1 }]\n',
  ];
  for (const text of bad) assert.throws(() => parseAgentConfig(text, '/etc'), AgentConfigError, text);
});

test('JWT auto-auth and templates: paths resolved, mode as octal digits (quoted or not), 0600 by default', () => {
  const config = parseAgentConfig(base.replace('auth: { method: token_file, token_file: token }', 'auth: { method: jwt, mount: k8s, role: etl }')
    + 'templates:\n  - { source: profiles.yml.tmpl, destination: out/profiles.yml, command: "touch reloaded" }\n  - { source: e.tmpl, destination: /srv/.env, mode: 0640 }\n', '/etc/custos');
  assert.deepEqual(config.auth, { method: 'jwt', mount: 'k8s', role: 'etl', jwt_file: '/var/run/secrets/kubernetes.io/serviceaccount/token' });
  assert.equal(config.templates[0]!.source, '/etc/custos/profiles.yml.tmpl');
  assert.equal(config.templates[0]!.destination, '/etc/custos/out/profiles.yml');
  assert.equal(config.templates[0]!.mode, 0o600);
  assert.equal(config.templates[1]!.mode, 0o640);
  assert.equal(config.templates[0]!.command_timeout, 30_000);
});

test('the Kubernetes examples carry configs the agent accepts', () => {
  for (const file of ['agent-daemonset.yaml', 'agent-sidecar.yaml']) {
    const docs = parseAllDocuments(readFileSync(path.join(repoRoot, 'examples/kubernetes', file), 'utf8')).map((d) => d.toJS() as { kind: string; data?: Record<string, string> });
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    assert.ok(configMap?.data?.['agent.yaml'], file);
    const config = parseAgentConfig(configMap.data['agent.yaml'], '/');
    assert.equal(config.listen.socket, '/run/custos/agent.sock', file);
    assert.equal(config.auth.method, 'jwt', `${file} authenticates with the pod's service-account token`);
  }
});
