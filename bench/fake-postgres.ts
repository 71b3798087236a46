import net from 'node:net';

/**
 * A fast fake statement target for the lease benchmark, and for the benchmark only: it speaks
 * just enough of the PostgreSQL wire protocol (v3, no TLS, any password accepted) for Custos's
 * `postgresql` plugin to create and drop "users" — kept in a Set — in microseconds, so the
 * benchmark measures Custos (HTTP, leases, audit, sweeper) rather than a real catalog.
 *
 * Understood: simple queries (`CREATE ROLE "x"…`, `DROP ROLE IF EXISTS "x"`, anything else
 * answered with an empty result) and the extended-protocol `SELECT 1 FROM pg_roles WHERE
 * rolname = $1` the plugin uses to ask whether a user exists.
 */
export interface FakePostgres {
  host: string;
  port: number;
  users: Set<string>;
  close(): Promise<void>;
}

const IDENT = /^(?:CREATE ROLE|DROP ROLE IF EXISTS) "((?:[^"]|"")+)"/;

function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstring = (s: string) => Buffer.from(s + '\0', 'utf8');
const ready = message('Z', Buffer.from('I'));
const complete = (tag: string) => message('C', cstring(tag));
// RowDescription of one int4 column "?column?" and a DataRow holding "1".
const rowDescription = message('T', Buffer.concat([Buffer.from([0, 1]), cstring('?column?'), int32(0), Buffer.from([0, 0]), int32(23), Buffer.from([0, 4]), int32(-1), Buffer.from([0, 0])]));
const dataRow = message('D', Buffer.concat([Buffer.from([0, 1]), int32(1), Buffer.from('1')]));

/** The first parameter of a Bind message, as text. */
function firstBindParameter(body: Buffer): string | null {
  let at = body.indexOf(0) + 1; // portal name
  at = body.indexOf(0, at) + 1; // statement name
  const formats = body.readInt16BE(at);
  at += 2 + formats * 2;
  const count = body.readInt16BE(at);
  at += 2;
  if (count < 1) return null;
  const length = body.readInt32BE(at);
  return length < 0 ? null : body.subarray(at + 4, at + 4 + length).toString('utf8');
}

export async function startFakePostgres(): Promise<FakePostgres> {
  const users = new Set<string>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let started = false;
    let parameter: string | null = null;
    let asksExists = false;
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      const out: Buffer[] = [];
      for (;;) {
        if (!started) {
          if (buffer.length < 4) break;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) break;
          buffer = buffer.subarray(length);
          started = true;
          out.push(message('R', int32(0)), message('S', Buffer.concat([cstring('server_version'), cstring('15.0')])), message('K', Buffer.concat([int32(1), int32(1)])), ready);
          continue;
        }
        if (buffer.length < 5) break;
        const type = String.fromCharCode(buffer[0]!);
        const length = buffer.readInt32BE(1);
        if (buffer.length < length + 1) break;
        const body = buffer.subarray(5, length + 1);
        buffer = buffer.subarray(length + 1);
        if (type === 'Q') {
          const sql = body.subarray(0, body.length - 1).toString('utf8');
          const name = IDENT.exec(sql)?.[1]?.replace(/""/g, '"');
          if (name !== undefined) (sql.startsWith('CREATE') ? users.add(name) : users.delete(name));
          out.push(complete(sql.split(' ')[0]!.toUpperCase()), ready);
        } else if (type === 'P') {
          asksExists = body.includes('pg_roles');
          out.push(message('1'));
        } else if (type === 'B') {
          parameter = firstBindParameter(body);
          out.push(message('2'));
        } else if (type === 'D') {
          out.push(asksExists ? rowDescription : message('n'));
        } else if (type === 'E') {
          const exists = asksExists && parameter !== null && users.has(parameter);
          if (exists) out.push(dataRow);
          out.push(complete(`SELECT ${exists ? 1 : 0}`));
        } else if (type === 'S') {
          out.push(ready);
        } else if (type === 'X') {
          socket.end();
          return;
        }
      }
      if (out.length) socket.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    users,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
