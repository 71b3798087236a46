import { terminalProgress } from '../progress.js';
import { printHeld } from './request.js';
import { readFileSync } from 'node:fs';
import { parseDurationSeconds } from '../../lib/duration.js';
import { createApiClient, type RotationRunResponse, type RotationStatusResponse } from '../../sdk/api-client.js';
import { apiClient, DEFAULT_ADDRESS, printJson, printTable, resolveToken } from '../context.js';

export interface RotationSetOptions {
  rotator: string;
  every?: string;
  cron?: string;
  window?: string;
  adminSecret?: string;
  grace?: string;
  users?: string;
  testQuery?: string;
  passwordLength?: string;
  excludeCharacters?: string;
  command?: string;
  commandArg?: string[];
  commandTimeout?: string;
  webhookUrl?: string;
  hmacSecret?: string;
  caFile?: string;
  generateField?: string;
  settingsFile?: string;
  region?: string;
  json?: boolean;
}

/** Flags -> the settings document the server validates (the server is the one source of rules). */
function settingsFrom(o: RotationSetOptions): Record<string, unknown> {
  const base: Record<string, unknown> = o.settingsFile ? (JSON.parse(readFileSync(o.settingsFile, 'utf8')) as Record<string, unknown>) : {};
  const s: Record<string, unknown> = { ...base, rotator: o.rotator };
  if (o.every) s.every_seconds = parseDurationSeconds(o.every);
  if (o.cron) s.cron = o.cron;
  if (o.window) s.window = o.window;
  if (o.adminSecret) s.admin_secret = o.adminSecret;
  if (o.grace) s.grace_seconds = parseDurationSeconds(o.grace);
  if (o.users) s.users = o.users.split(',').map((u) => u.trim());
  if (o.testQuery) s.test_query = o.testQuery;
  if (o.passwordLength || o.excludeCharacters !== undefined) {
    s.password = { ...(base.password as object), ...(o.passwordLength ? { length: Number(o.passwordLength) } : {}), ...(o.excludeCharacters !== undefined ? { exclude_characters: o.excludeCharacters } : {}) };
  }
  if (o.command) s.command = { path: o.command, ...(o.commandArg ? { args: o.commandArg } : {}), ...(o.commandTimeout ? { timeout_seconds: parseDurationSeconds(o.commandTimeout) } : {}) };
  if (o.webhookUrl) s.webhook = { url: o.webhookUrl, hmac_secret: o.hmacSecret, ...(o.caFile ? { ca_file: o.caFile } : {}) };
  if (o.generateField !== undefined) s.generate_field = o.generateField === 'none' ? null : o.generateField;
  return s;
}

function printStatus(s: RotationStatusResponse): void {
  printTable(['KEY', 'VALUE'], [
    ['secret', s.secret], ['region', s.region], ['rotator', (s.settings?.rotator as string | undefined) ?? null], ['last rotated', s.last_rotated_at], ['next due', s.next_due_at],
    ['overdue since', s.overdue_since], ['latest run', s.latest?.id], ['latest status', s.latest ? `${s.latest.status} (step ${s.latest.step})` : null],
    ['latest error', s.latest?.error],
  ]);
}

function printRuns(runs: RotationRunResponse[]): void {
  printTable(['STARTED', 'STATUS', 'STEP', 'TRIGGER', 'ATTEMPTS', 'FINISHED', 'ERROR'], runs.map((r) => [r.started_at, r.status, r.step, r.trigger, r.attempts, r.finished_at, r.error]));
}

export async function setCommand(name: string, options: RotationSetOptions): Promise<void> {
  const api = apiClient();
  const settings = settingsFrom(options);
  // No schedule given: use the one the inventory recorded (`custos import`, tag rotation_days).
  if (settings.every_seconds === undefined && settings.cron === undefined) {
    const days = options.region ? NaN : Number((await api.describe(name)).tags.rotation_days);
    if (Number.isInteger(days) && days > 0) {
      settings.every_seconds = days * 86_400;
      process.stderr.write(`schedule: every ${days} days, from the inventory's rotation_days (give --every or --cron for another)\n`);
    }
  }
  const status = await api.setRotation(name, settings, options.region);
  if (status.change_request) return printHeld(status.change_request, options.json);
  if (options.json) return printJson(status);
  printStatus(status);
}

export async function clearCommand(name: string, options: { region?: string; json?: boolean }): Promise<void> {
  const status = await apiClient().setRotation(name, null, options.region);
  if (status.change_request) return printHeld(status.change_request, options.json);
  if (options.json) return printJson(status);
  process.stdout.write(`rotation settings of ${name} removed\n`);
}

export async function rotateCommand(name: string, options: { wait?: boolean; timeout?: string; region?: string; json?: boolean }): Promise<void> {
  const waitSeconds = options.wait ? parseDurationSeconds(options.timeout ?? '120') : undefined;
  const api = createApiClient({ address: process.env.CUSTOS_ADDR || DEFAULT_ADDRESS, token: resolveToken(), timeoutMs: ((waitSeconds ?? 0) + 30) * 1000 });
  const progress = terminalProgress(`rotating ${name}`);
  if (options.wait) progress.elapsed();
  const run = await api.rotate(name, waitSeconds, options.region).finally(() => progress.stop());
  if (run.change_request) return printHeld(run.change_request, options.json);
  if (options.json) printJson(run);
  else process.stdout.write(`rotation ${run.id} of ${name}: ${run.status} (step ${run.step})${run.error ? `: ${run.error}` : ''}\n`);
  if (options.wait && run.status === 'failed') process.exit(1);
}

export async function statusCommand(name: string, options: { region?: string; json?: boolean }): Promise<void> {
  const status = await apiClient().rotationStatus(name, options.region);
  if (options.json) return printJson(status);
  printStatus(status);
}

export async function historyCommand(name: string, options: { limit?: string; region?: string; json?: boolean }): Promise<void> {
  const result = await apiClient().rotationHistory(name, options.limit ? Number(options.limit) : undefined, options.region);
  if (options.json) return printJson(result);
  printRuns(result.rotations);
}

export async function listCommand(options: { overdue?: boolean; json?: boolean }): Promise<void> {
  const result = await apiClient().listRotations({ overdue: options.overdue });
  if (options.json) return printJson(result);
  printTable(['SECRET', 'REGION', 'ROTATOR', 'LAST ROTATED', 'NEXT DUE', 'OVERDUE SINCE', 'FAILING', 'ERROR'],
    result.secrets.map((s) => [s.secret, s.region, s.rotator, s.last_rotated_at, s.next_due_at, s.overdue_since, s.failing, s.error]));
}
