/**
 * The optional on-disk copy of the agent's cache, so a restarted agent can serve during an
 * outage. The whole cache is one file sealed with AES-256-GCM under a 32-byte key file that
 * only the agent's user may read (mode 0600, refused otherwise); the server address is bound
 * in as associated data, so a cache written for one server is never served for another.
 * Nothing is written in plaintext: not values, not names.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import type { AgentLog } from './agent-log.js';
import type { CachedEntry } from './secret-cache.js';

export class DiskCacheKeyError extends Error {
  override name = 'DiskCacheKeyError';
  readonly code = 'invalid_config';
}

/** Reads the key file, creating it (0600) when missing; refuses one that others may read. */
export function loadCacheKey(file: string): Buffer {
  let stat;
  try {
    stat = statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const fd = openSync(file, 'wx', 0o600);
    writeSync(fd, randomBytes(32).toString('hex') + '\n');
    fsyncSync(fd);
    closeSync(fd);
    stat = statSync(file);
  }
  if ((stat.mode & 0o077) !== 0) throw new DiskCacheKeyError(`the cache key file ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) throw new DiskCacheKeyError(`the cache key file ${file} belongs to another user`);
  const text = readFileSync(file, 'utf8').trim();
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32) throw new DiskCacheKeyError(`the cache key file ${file} must hold 32 bytes (64 hex characters)`);
  return key;
}

type Saved = [string, { body: Record<string, unknown>; knownGoodAt: number }][];

export function createDiskCache(options: { path: string; key: Buffer; boundTo: string; log: AgentLog; debounceMs?: number }) {
  const aad = Buffer.from(`custos-agent-cache-v1\0${options.boundTo}`);
  let timer: NodeJS.Timeout | undefined;
  let pending: (() => [string, CachedEntry][]) | undefined;

  function seal(plaintext: Buffer): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', options.key, iv);
    cipher.setAAD(aad);
    const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return JSON.stringify({ v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') });
  }

  function write(entries: [string, CachedEntry][]): void {
    const saved: Saved = entries.map(([key, e]) => [key, { body: e.body, knownGoodAt: e.knownGoodAt }]);
    const tmp = `${options.path}.${process.pid}.tmp`;
    writeFileSync(tmp, seal(Buffer.from(JSON.stringify(saved))), { mode: 0o600 });
    renameSync(tmp, options.path);
  }

  return {
    /** Entries from the last run, or none (missing, unreadable, other key or other server). */
    load(): Saved {
      let text: string;
      try {
        text = readFileSync(options.path, 'utf8');
      } catch {
        return [];
      }
      try {
        const file = JSON.parse(text) as { v: number; iv: string; tag: string; data: string };
        const decipher = createDecipheriv('aes-256-gcm', options.key, Buffer.from(file.iv, 'base64'));
        decipher.setAAD(aad);
        decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
        const plain = Buffer.concat([decipher.update(Buffer.from(file.data, 'base64')), decipher.final()]);
        return JSON.parse(plain.toString('utf8')) as Saved;
      } catch {
        options.log.warn('the disk cache cannot be opened with this key and server; starting empty', { path: options.path });
        return [];
      }
    },
    /** Writes the entries soon (several changes in a burst make one write). */
    schedule(snapshot: () => [string, CachedEntry][]): void {
      pending = snapshot;
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        this.flush();
      }, options.debounceMs ?? 50);
      timer.unref();
    },
    flush(): void {
      if (timer) clearTimeout(timer);
      timer = undefined;
      const snapshot = pending;
      pending = undefined;
      if (!snapshot) return;
      try {
        write(snapshot());
      } catch (error) {
        options.log.warn('the disk cache could not be written', { code: (error as NodeJS.ErrnoException).code ?? 'error' });
      }
    },
  };
}

export type DiskCache = ReturnType<typeof createDiskCache>;
