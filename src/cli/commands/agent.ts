/**
 * `custos agent --config agent.yaml`: runs the caching agent of this node until SIGTERM or
 * SIGINT. It prints where it listens once ready (with --json, one JSON line).
 */
import { loadAgentConfig } from '../../agent/config.js';
import { startAgent } from '../../agent/agent.js';
import { createAgentLog } from '../../agent/agent-log.js';

export async function agentCommand(options: { config?: string; json?: boolean }): Promise<void> {
  let agent;
  try {
    if (!options.config) throw Object.assign(new Error('give the agent config with --config FILE (see docs/agent.md)'), { code: 'invalid_config' });
    const config = loadAgentConfig(options.config);
    agent = await startAgent(config, createAgentLog(config.log_level));
  } catch (error) {
    // As `custos server`: a configuration the agent cannot run with exits 2.
    if ((error as { code?: string }).code === 'invalid_config') {
      process.stderr.write(`error: invalid_config: ${(error as Error).message}\n`);
      process.exit(2);
    }
    throw error;
  }
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
