import { existsSync, readFileSync } from 'node:fs';

/**
 * What a team has decided is not a leak: paths (globs), secret regexes (test fixtures,
 * documented example keys) and whole rules. Read from `.custos-scan.yml` at the scan root or
 * `--config FILE`; inline `custos:allow` comments are handled by the detector.
 */
export interface Allowlist {
  allowsPath(file: string): boolean;
  allowsSecret(secret: string): boolean;
  rules: ReadonlySet<string>;
}


export const DEFAULT_CONFIG_FILE = '.custos-scan.yml';

/** `**` any depth, `*` within a segment, `?` one character; a pattern without `/` matches a name at any depth. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const anchored = glob.includes('/') ? `^${source}` : `(?:^|/|!)${source}`;
  return new RegExp(`${anchored}(?:$|/|!)`);
}

export function createAllowlist(config: { paths?: string[]; regexes?: string[]; rules?: string[] } = {}): Allowlist {
  const paths = (config.paths ?? []).map(globToRegExp);
  const regexes = (config.regexes ?? []).map((r) => new RegExp(r));
  return {
    allowsPath: (file) => paths.some((p) => p.test(file)),
    allowsSecret: (secret) => regexes.some((r) => r.test(secret)),
    rules: new Set(config.rules ?? []),
  };
}

/**
 * Loads `file`, or the default file in `root` if there is one; no file means allow nothing.
 * The YAML parser and schema library load only when there is a file: most scans (and every
 * pre-commit hook without one) start faster without them.
 */
export async function loadAllowlist(file: string | undefined, root: string): Promise<Allowlist> {
  const target = file ?? `${root}/${DEFAULT_CONFIG_FILE}`;
  if (!file && !existsSync(target)) return createAllowlist();
  const [{ parse: parseYaml }, { z }] = await Promise.all([import('yaml'), import('zod')]);
  const ConfigSchema = z.object({
    allow: z.object({
      paths: z.array(z.string()).default([]),
      regexes: z.array(z.string()).default([]),
      rules: z.array(z.string()).default([]),
    }).strict().default({ paths: [], regexes: [], rules: [] }),
  }).strict();
  let parsed: { allow: { paths: string[]; regexes: string[]; rules: string[] } };
  try {
    parsed = ConfigSchema.parse(parseYaml(readFileSync(target, 'utf8')) ?? {});
  } catch (error) {
    throw new Error(`invalid scan config ${target}: ${(error as Error).message.split('\n')[0]}`);
  }
  return createAllowlist(parsed.allow);
}
