/**
 * Templates (consul-template style): files rendered from `secret://` references — a dbt
 * profiles.yml, an .env — with the renderer `custos render` uses (sdk/template.ts: the same
 * reference syntax and escaping rules per file type). Values come through the agent's cache,
 * so a template costs no server request the cache would not make anyway.
 *
 * A template is rendered at start and again whenever the change feed reports a change to a
 * secret it names (or a reset, after which anything may have changed). The file is replaced
 * atomically (a temp file with the final mode in the same directory, fsynced, then renamed),
 * only when its text changed, and then its command runs (a reload). A render that fails
 * (unreachable server with nothing cached, a missing secret, an unsafe insertion) leaves the
 * previous file in place and logs references and codes, never a value.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { applyRef, findSecretRefs, parseSecretRef } from '../sdk/secret-ref.js';
import { formatForFile, renderTemplate } from '../sdk/template.js';
import type { AgentConfig } from './config.js';
import type { AgentLog } from './agent-log.js';

type TemplateSpec = AgentConfig['templates'][number];

/** Reads one secret's value (through the agent's cache). */
export type ValueReader = (name: string, label?: string, versionId?: string) => Promise<string>;

/** Writes `text` to `file` atomically with exactly `mode`: readers see the old file or the new one, never a part. */
export function writeFileAtomically(file: string, text: string, mode: number): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.custos-${randomBytes(6).toString('hex')}`);
  // Created with the final mode (no moment in which the value is readable by others), then
  // set exactly, whatever the umask.
  const fd = openSync(temp, 'wx', mode & 0o600);
  let written = false;
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
    written = true;
  } finally {
    closeSync(fd);
    if (!written) unlinkSync(temp);
  }
  renameSync(temp, file);
}

/** Names of the secrets a template text refers to (comments included: a reference there is harmless to watch). */
function namesIn(text: string): Set<string> {
  const names = new Set<string>();
  for (const found of findSecretRefs(text)) {
    try {
      names.add(parseSecretRef(found.ref).name);
    } catch {
      // reported by the render itself
    }
  }
  return names;
}

export function createTemplateRunner(templates: readonly TemplateSpec[], readValue: ValueReader, log: AgentLog) {
  const state = templates.map((spec) => ({ spec, names: new Set<string>(), written: null as string | null, dirty: true }));
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  function runCommand(spec: TemplateSpec): Promise<void> {
    return new Promise((resolve) => {
      // Output is not captured: a reload command may print anything, values included.
      const child = spawn('/bin/sh', ['-c', spec.command!], { stdio: 'ignore', timeout: spec.command_timeout, killSignal: 'SIGKILL' });
      child.once('error', (error) => {
        log.warn('template command could not start', { destination: spec.destination, code: (error as NodeJS.ErrnoException).code ?? 'error' });
        resolve();
      });
      child.once('exit', (code, signal) => {
        if (code === 0) log.info('template command ran', { destination: spec.destination });
        else log.warn('template command failed', { destination: spec.destination, exit_code: code, signal });
        resolve();
      });
    });
  }

  async function renderOne(entry: (typeof state)[number]): Promise<void> {
    const { spec } = entry;
    let text: string;
    try {
      text = readFileSync(spec.source, 'utf8');
    } catch (error) {
      log.warn('template source unreadable', { source: spec.source, code: (error as NodeJS.ErrnoException).code ?? 'error' });
      return;
    }
    entry.names = namesIn(text);
    const resolve = async (raw: string) => {
      const ref = parseSecretRef(raw);
      return applyRef(await readValue(ref.name, ref.label, ref.versionId), ref);
    };
    const result = await renderTemplate(text, spec.format ?? formatForFile(spec.destination), resolve);
    if (result.output === null) {
      for (const p of result.problems) log.warn('template reference failed', { destination: spec.destination, line: p.line, column: p.column, ref: p.ref, code: p.code });
      log.warn('template not rendered; the previous file is kept', { destination: spec.destination, problems: result.problems.length });
      entry.dirty = true; // try again on the next change or reconnect
      return;
    }
    if (entry.written === null) {
      try {
        entry.written = readFileSync(spec.destination, 'utf8');
      } catch {
        // not there yet
      }
    }
    if (result.output === entry.written) return;
    writeFileAtomically(spec.destination, result.output, spec.mode);
    entry.written = result.output;
    log.info('template rendered', { destination: spec.destination, references: result.references });
    if (spec.command) await runCommand(spec);
  }

  /** Renders every dirty template, one pass at a time; a request during a pass makes one more pass. */
  function renderDirty(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        for (const entry of state) {
          if (stopped || !entry.dirty) continue;
          entry.dirty = false;
          try {
            await renderOne(entry);
          } catch (error) {
            entry.dirty = true;
            log.warn('template not written', { destination: entry.spec.destination, code: (error as NodeJS.ErrnoException).code ?? 'error' });
          }
        }
      } while (again && !stopped);
    })().finally(() => (running = null));
    return running;
  }

  return {
    /** Renders every template (at start, and after a reset or reconnect). */
    renderAll(): Promise<void> {
      for (const entry of state) entry.dirty = true;
      return renderDirty();
    },
    /** A secret changed: re-render the templates that name it. */
    changed(name: string): Promise<void> {
      let any = false;
      for (const entry of state) if (entry.names.has(name)) any = entry.dirty = true;
      return any ? renderDirty() : Promise.resolve();
    },
    /** Renders what failed before (e.g. the server is back). */
    retryFailed: () => renderDirty(),
    stop(): void {
      stopped = true;
    },
  };
}

export type TemplateRunner = ReturnType<typeof createTemplateRunner>;
