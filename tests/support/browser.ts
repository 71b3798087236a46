// Debian's chromium driven by playwright-core (no browser download), and where screenshots go.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from './custos-server.js';

export const CHROMIUM = process.env.CUSTOS_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(repoRoot, 'test-output/screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium), as .ci/run does`);
  if (!existsSync(path.join(repoRoot, 'web/dist/index.html'))) throw new Error('the web UI is not built: run `npm run build:web` (npm ci runs it)');
  mkdirSync(SCREENSHOTS, { recursive: true });
  // --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export const screenshotPath = (name: string) => path.join(SCREENSHOTS, `${name}.png`);
