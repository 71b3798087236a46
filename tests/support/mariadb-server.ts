/**
 * Test harness: a real, throwaway MariaDB server (Debian's `mariadb-server`) for integration
 * tests. `startMariadb()` runs `mariadb-install-db` into a fresh temp directory and starts
 * `mariadbd` on 127.0.0.1 with a random free port, its own socket and pid file. Grant tables
 * are on: an init file creates an admin user (`custos_admin`, random password, all privileges
 * WITH GRANT OPTION) and drops anonymous users, which would otherwise shadow `user@'%'` logins
 * from localhost. As root, the server runs as the `mysql` OS user, which owns the directory.
 * `stop()` kills the server and deletes the directory; an 'exit' handler does the same.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const HOST = '127.0.0.1';

export interface MariadbServer {
  host: string;
  port: number;
  adminUser: string;
  adminPassword: string;
  stop(): Promise<void>;
}

const running = new Set<{ child: ChildProcess; dir: string }>();
process.on('exit', () => {
  for (const r of running) {
    r.child.kill('SIGKILL');
    rmSync(r.dir, { recursive: true, force: true });
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

const asRoot = process.getuid?.() === 0;

export async function startMariadb(): Promise<MariadbServer> {
  if (!existsSync('/usr/sbin/mariadbd')) throw new Error('no MariaDB server at /usr/sbin/mariadbd (install the "mariadb-server" package)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-mariadb-'));
  const data = path.join(dir, 'data');
  const adminPassword = randomBytes(18).toString('base64url');
  const initFile = path.join(dir, 'init.sql');
  writeFileSync(initFile, [
    "DELETE FROM mysql.global_priv WHERE User = ''",
    'FLUSH PRIVILEGES',
    `CREATE USER IF NOT EXISTS 'custos_admin'@'%' IDENTIFIED BY '${adminPassword}'`,
    "GRANT ALL PRIVILEGES ON *.* TO 'custos_admin'@'%' WITH GRANT OPTION",
    'CREATE DATABASE IF NOT EXISTS app',
    '',
  ].join(';\n'));
  const user = asRoot ? ['--user=mysql'] : [];
  if (asRoot) {
    const { uid, gid } = await execFileAsync('id', ['-u', 'mysql']).then(async (u) => ({ uid: Number(u.stdout), gid: Number((await execFileAsync('id', ['-g', 'mysql'])).stdout) }));
    chownSync(dir, uid, gid);
    chownSync(initFile, uid, gid);
  }
  await execFileAsync('mariadb-install-db', [...user, `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db'], { timeout: 120_000 });
  const port = await freePort();
  const child = spawn('/usr/sbin/mariadbd', [
    '--no-defaults', ...user, `--datadir=${data}`, `--socket=${path.join(dir, 'mysqld.sock')}`, `--pid-file=${path.join(dir, 'mysqld.pid')}`,
    `--port=${port}`, `--bind-address=${HOST}`, `--init-file=${initFile}`, `--log-error=${path.join(dir, 'error.log')}`, '--skip-log-bin', '--innodb-buffer-pool-size=32M',
  ], { stdio: 'ignore' });
  const entry = { child, dir };
  running.add(entry);
  const deadline = Date.now() + 60_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(path.join(dir, 'error.log')) ? readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000) : '';
      child.kill('SIGKILL');
      running.delete(entry);
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mariadbd did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: HOST, port, adminUser: 'custos_admin', adminPassword,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      running.delete(entry);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
