import { readFileSync } from 'node:fs';
import { apiClient, printJson, readStdin } from '../context.js';

export async function writeCommand(name: string, file: string, options: { json?: boolean }): Promise<void> {
  const document = file === '-' ? await readStdin() : readFileSync(file, 'utf8');
  const result = await apiClient().writePolicy(name, document);
  if (options.json) return printJson(result);
  process.stdout.write(`policy ${name} written.\n`);
}

export async function readCommand(name: string, options: { json?: boolean }): Promise<void> {
  const result = await apiClient().readPolicy(name);
  if (options.json) return printJson(result);
  process.stdout.write(result.document.endsWith('\n') ? result.document : result.document + '\n');
}

export async function listCommand(options: { json?: boolean }): Promise<void> {
  const result = await apiClient().listPolicies();
  if (options.json) return printJson(result.policies);
  for (const name of result.policies) process.stdout.write(name + '\n');
}

export async function deleteCommand(name: string, options: { json?: boolean }): Promise<void> {
  const result = await apiClient().deletePolicy(name);
  if (options.json) return printJson(result);
  process.stdout.write(`policy ${name} deleted.\n`);
}
