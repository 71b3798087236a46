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
  ];
  for (const text of bad) assert.throws(() => parseAgentConfig(text, '/etc'), AgentConfigError, text);
});

test('the Kubernetes examples carry configs the agent accepts', () => {
  for (const file of ['agent-daemonset.yaml', 'agent-sidecar.yaml']) {
    const docs = parseAllDocuments(readFileSync(path.join(repoRoot, 'examples/kubernetes', file), 'utf8')).map((d) => d.toJS() as { kind: string; data?: Record<string, string> });
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    assert.ok(configMap?.data?.['agent.yaml'], file);
    const config = parseAgentConfig(configMap.data['agent.yaml'], '/');
    assert.equal(config.listen.socket, '/run/custos/agent.sock', file);
  }
});
