import net from 'node:net';

/**
 * A tiny TCP round-robin load balancer for the multi-node benchmark, run as its own process:
 * `node dist/bench/round-robin-proxy.js PORT1 PORT2 ...` prints `listening PORT`. Each new
 * client connection goes to the next backend (like an L4 balancer); bytes are piped as is, so
 * HTTP keep-alive connections stay on the node they were given.
 */
const backends = process.argv.slice(2).map(Number);
if (backends.length === 0 || backends.some((p) => !Number.isInteger(p) || p <= 0)) {
  process.stderr.write('usage: round-robin-proxy PORT [PORT...]\n');
  process.exit(2);
}
let next = 0;
const server = net.createServer((client) => {
  const port = backends[next++ % backends.length]!;
  const upstream = net.connect({ host: '127.0.0.1', port });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
