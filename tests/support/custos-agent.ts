import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { cliPath } from './custos-server.js';

/**
 * Test harness for `custos agent`: writes its YAML config, runs the real CLI as a child
 * process, and waits on lines of its log (events, not sleeps).
 */
export interface RunningAgent {
  address: string;
  socket: string | null;
  token: string;
  process: ChildProcess;
  /** Everything the agent wrote (stdout and stderr). */
  output(): string;
  /** Resolves when a log line matching `pattern` appears after `from` characters of output. */
  waitForLog(pattern: RegExp, from?: number, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

export function writeAgentConfig(dir: string, config: Record<string, unknown>): string {
  const file = path.join(dir, `agent-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  return file;
}

export async function startAgentProcess(configFile: string, agentTokenFile: string): Promise<RunningAgent> {
  const child = spawn(process.execPath, [cliPath, 'agent', '--config', configFile, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const waitForLog = (pattern: RegExp, from = 0, ms = 60_000) => new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = out.slice(from).split('\n').find((line) => pattern.test(line));
      if (match !== undefined) {
        listeners.delete(check);
        clearTimeout(timer);
        resolve(match);
      }
    };
    const timer = setTimeout(() => {
      listeners.delete(check);
      reject(new Error(`agent never logged ${pattern}:\n${out}`));
    }, ms);
    listeners.add(check);
    check();
  });
  const ready = JSON.parse(await waitForLog(/^\{"address"/)) as { address: string | null; socket: string | null };
  return {
    address: ready.address ?? '', socket: ready.socket, token: readFileSync(agentTokenFile, 'utf8').trim(), process: child, output: () => out, waitForLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One request to the agent over TCP or its unix socket. */
export function agentRequest(target: { address?: string; socket?: string }, method: string, urlPath: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const where = target.socket ? { socketPath: target.socket } : { host: new URL(target.address!).hostname, port: Number(new URL(target.address!).port) };
  return new Promise((resolve, reject) => {
    const req = http.request({ ...where, method, path: urlPath, agent: false, headers: { ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...options.headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
