/**
 * `custos agent --config agent.yaml`: runs the caching agent of this node until SIGTERM or
 * SIGINT. It prints where it listens once ready (with --json, one JSON line).
 */
import { loadAgentConfig } from '../../agent/config.js';
import { startAgent } from '../../agent/agent.js';
import { createAgentLog } from '../../agent/agent-log.js';

export async function agentCommand(options: { config?: string; json?: boolean }): Promise<void> {
  if (!options.config) throw Object.assign(new Error('give the agent config with --config FILE (see docs/agent.md)'), { code: 'invalid_config' });
  const config = loadAgentConfig(options.config);
  const agent = await startAgent(config, createAgentLog(config.log_level));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void agent.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (options.json) process.stdout.write(JSON.stringify({ address: agent.address ?? null, socket: agent.socket ?? null }) + '\n');
  else process.stdout.write(`Custos agent listening on ${[agent.address, agent.socket].filter(Boolean).join(' and ')}\n`);
}
