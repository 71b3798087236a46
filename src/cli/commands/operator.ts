import { readFileSync } from 'node:fs';
import { apiClient, printJson, printTable, readStdin } from '../context.js';
import type { SealStatusResponse } from '../../sdk/api-client.js';

function printStatus(s: SealStatusResponse): void {
  printTable(['KEY', 'VALUE'], [
    ['initialized', String(s.initialized)], ['sealed', String(s.sealed)], ['shares', s.shares], ['threshold', s.threshold],
    ['unseal progress', `${s.progress}/${s.threshold}`], ['key term', s.key_term], ['version', s.version],
  ]);
}

export async function initCommand(options: { shares: string; threshold: string; json?: boolean }): Promise<void> {
  const result = await apiClient({ anonymous: true }).init(Number(options.shares), Number(options.threshold));
  if (options.json) return printJson(result);
  result.keys.forEach((key, i) => process.stdout.write(`Unseal Key ${i + 1}: ${key}\n`));
  process.stdout.write(`\nRoot token: ${result.root_token}\n\n`);
  process.stdout.write(`Custos is initialized and sealed. ${result.threshold} of these ${result.shares} keys unseal it.\n`);
  process.stdout.write('They are shown once: store them apart from each other. They cannot be recovered.\n');
}

export async function unsealCommand(key: string | undefined, options: { keyFile?: string; json?: boolean }): Promise<void> {
  const share = (key ?? (options.keyFile ? readFileSync(options.keyFile, 'utf8') : await readStdin())).trim();
  const status = await apiClient({ anonymous: true }).unseal(share);
  if (options.json) return printJson(status);
  printStatus(status);
}

export async function sealCommand(options: { json?: boolean }): Promise<void> {
  const status = await apiClient().seal();
  if (options.json) return printJson(status);
  process.stdout.write('Custos is sealed.\n');
}

export async function statusCommand(options: { json?: boolean }): Promise<void> {
  const status = await apiClient({ anonymous: true }).sealStatus();
  if (options.json) return printJson(status);
  printStatus(status);
}

export async function rotateKeyCommand(options: { json?: boolean }): Promise<void> {
  const result = await apiClient().rotateKey();
  if (options.json) return printJson(result);
  process.stdout.write(`Keyring rotated: new writes use key term ${result.key_term}.\n`);
}
