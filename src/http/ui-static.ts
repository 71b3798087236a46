/**
 * Serves the web UI's built files (web/dist, made by `npm run build:web`, which `prepare` runs).
 *
 * The build is a handful of files known at startup, so they are read once into memory and
 * served from a map: no filesystem path is ever built from a URL (nothing to traverse), and no
 * static-file package is needed. Hashed assets are cached for a year; index.html is never
 * cached, so a new build is picked up at once. Every answer carries a strict
 * Content-Security-Policy: scripts and styles only from this origin, no inline script, no
 * framing, API calls only to this origin.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../errors/app-error.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'", "connect-src 'self'",
  "manifest-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8',
};

/** From dist/src/http/ (compiled) to the repository's web/dist. */
export const DEFAULT_UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web/dist');

interface StaticFile { body: Buffer; type: string; immutable: boolean }

function load(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  const walk = (sub: string) => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else files.set(`/${rel}`, { body: readFileSync(path.join(dir, rel)), type: TYPES[path.extname(name)] ?? 'application/octet-stream', immutable: rel.startsWith('assets/') });
    }
  };
  walk('');
  return files;
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply.headers({
    'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer', 'cross-origin-opener-policy': 'same-origin',
  });
}

/** The UI at `/` and its client-side pages under `/ui/`; assets under `/assets/`. */
export function uiStaticRoutes(dir: string = DEFAULT_UI_DIR) {
  const files = load(dir);
  return (app: FastifyInstance): void => {
    // Static files hold no data: not audited, and served while sealed so the UI can say so.
    const config = { anonymous: true, audited: false, sealedOk: true, tamperedOk: true, operation: 'ui.static' } as const;
    const index = (_request: unknown, reply: FastifyReply) => {
      const file = files.get('/index.html');
      if (!file) throw new AppError('not_found', 'the web UI is not built; run `npm run build:web`');
      return securityHeaders(reply).header('cache-control', 'no-cache').type(file.type).send(file.body);
    };
    app.get('/', { schema: { hide: true }, config }, index);
    app.get('/ui', { schema: { hide: true }, config }, index);
    app.get('/ui/*', { schema: { hide: true }, config }, index);
    const asset = (request: { url: string }, reply: FastifyReply) => {
      const file = files.get(request.url.split('?')[0]!);
      if (!file) throw new AppError('not_found', 'no such file');
      return securityHeaders(reply).header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache').type(file.type).send(file.body);
    };
    app.get('/assets/*', { schema: { hide: true }, config }, asset);
    app.get('/favicon.svg', { schema: { hide: true }, config }, asset);
  };
}
