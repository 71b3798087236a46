import { ConfigError, loadConfig } from '../../config/config.js';

export async function serverCommand(flags: { dev?: boolean; config?: string; host?: string; port?: string; dataDir?: string; storage?: string; logLevel?: string; workers?: string }): Promise<void> {
  let config;
  try {
    config = loadConfig({
      file: flags.config ?? process.env.CUSTOS_CONFIG,
      env: process.env,
      flags: { dev: flags.dev, host: flags.host, port: flags.port, data_dir: flags.dataDir, storage: flags.storage, log_level: flags.logLevel, workers: flags.workers },
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`error: invalid_config: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { createLogger } = await import('../../lib/logger.js');
  const { workerLinkFromEnvironment } = await import('../../cluster/worker-link.js');
  const worker = workerLinkFromEnvironment();
  const baseLogger = createLogger(config.log_level);
  const logger = worker ? baseLogger.child({ worker: worker.index }) : baseLogger;
  const failedToStart = (error: unknown) => {
    if ((error as { code?: string }).code === 'port_in_use') {
      process.stderr.write(`error: port_in_use: ${(error as Error).message}\n`);
      logger.flush();
      process.exit(1);
    }
    throw error;
  };
  if (!worker && config.workers > 1) {
    // The primary: forks the workers, restarts them, relays between them; serves no HTTP.
    const { runPrimary } = await import('../../cluster/primary.js');
    await runPrimary({ config, logger, output: (line) => process.stdout.write(line + '\n'), exit: (code) => process.exit(code) }).catch(failedToStart);
    return;
  }
  const { startServer } = await import('../../app.js');
  let server;
  try {
    // Only the first worker speaks to the terminal (root token, dev warnings): once, not N times.
    const output = worker && worker.index > 0 ? () => undefined : (line: string) => void process.stdout.write(line + '\n');
    server = await startServer(config, logger, output, { worker: worker ?? undefined });
  } catch (error) {
    failedToStart(error);
    return;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining requests and flushing audit');
    server.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Announced only once the shutdown handlers are in place: a supervisor that sends SIGTERM
  // as soon as it sees this line gets a graceful drain, not the default kill.
  if (worker) worker.ready(server.address);
  else process.stdout.write(`Custos listening on ${server.address}\n`);
}
