import { createServer as createNetServer } from 'node:net';

/**
 * Fails before anything is created when the port is taken (another server, often another
 * Custos): a new store and a new root token for a server that cannot listen would only lock
 * the user out of the one that is running.
 */
export async function ensurePortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') return reject(error);
      reject(new PortInUseError(`${host}:${port} is already in use (another Custos server?); choose another port with --port or CUSTOS_PORT (config key \`port\`)`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  readonly code = 'port_in_use';
}
