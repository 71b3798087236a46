import { spawn } from 'node:child_process';

/**
 * The lines each commit added (`git log -p`), or that the index adds (`git diff --cached`),
 * grouped per commit and file, with one line of context around each hunk. A secret is reported
 * only if it lies on added lines (a secret removed later is still in history, found in the
 * commit that added it); the context is there because a diff may pair a new block's first line
 * with an identical line of a removed block — a new private key's `-----BEGIN …-----` line is
 * then context, and the key would not be recognised without it.
 */
export interface AddedLines {
  commit: string | null;
  path: string;
  /** The added and context lines joined by '\n'. */
  text: string;
  /** lineNumbers[i] is the line number in the file of text's line i+1. */
  lineNumbers: number[];
  /** added[i]: text's line i+1 was added (not context). */
  added: boolean[];
}

const COMMIT_MARK = '\u0001commit ';

/** Streams `git` output through the diff parser; resolves when git exits (rejects on failure). */
function runGit(cwd: string, args: string[], onUnit: (unit: AddedLines) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const parser = createDiffParser(onUnit);
    let rest = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const text = rest + chunk;
      const cut = text.lastIndexOf('\n');
      if (cut === -1) {
        rest = text;
        return;
      }
      rest = text.slice(cut + 1);
      parser.lines(text.slice(0, cut));
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (rest) parser.lines(rest);
      parser.end();
      if (code === 0) resolve();
      else reject(new Error(`git ${args[0]} failed (${code}): ${stderr.trim().split('\n')[0] ?? ''}`));
    });
  });
}

/** A line-oriented parser of unified diffs with zero context (-U0). */
export function createDiffParser(onUnit: (unit: AddedLines) => void) {
  let commit: string | null = null;
  let path: string | null = null;
  let inHeader = false;
  let nextLine = 0;
  let lines: string[] = [];
  let numbers: number[] = [];
  let added: boolean[] = [];
  let anyAdded = false;

  const flush = () => {
    if (path !== null && anyAdded) onUnit({ commit, path, text: lines.join('\n'), lineNumbers: numbers, added });
    lines = [];
    numbers = [];
    added = [];
    anyAdded = false;
  };

  return {
    lines(block: string) {
      let start = 0;
      while (start <= block.length) {
        let end = block.indexOf('\n', start);
        if (end === -1) end = block.length;
        const line = block.slice(start, end);
        start = end + 1;
        const c = line.charCodeAt(0);
        if ((c === 43 /* + */ || c === 32 /* space: context */) && !inHeader) {
          lines.push(line.slice(1));
          numbers.push(nextLine++);
          added.push(c === 43);
          if (c === 43) anyAdded = true;
        } else if (c === 64 /* @ */ && line.startsWith('@@')) {
          inHeader = false;
          const m = /\+(\d+)/.exec(line);
          nextLine = m ? Number(m[1]) : 0;
        } else if (c === 100 /* d */ && line.startsWith('diff --git ')) {
          flush();
          path = null;
          inHeader = true;
        } else if (inHeader && line.startsWith('+++ ')) {
          const target = line.slice(4);
          path = target === '/dev/null' ? null : target.replace(/^b\//, '');
        } else if (c === 1 && line.startsWith(COMMIT_MARK)) {
          flush();
          path = null;
          commit = line.slice(COMMIT_MARK.length).trim();
        }
        if (end === block.length) break;
      }
    },
    end: flush,
  };
}

const DIFF_FLAGS = ['-U1', '--no-color', '--no-ext-diff', '--no-renames', '--diff-filter=AMC'];

/** Every commit reachable from HEAD (or only those after `since`), newest first. */
export function gitHistory(cwd: string, onUnit: (unit: AddedLines) => void, since?: string): Promise<void> {
  const range = since ? [`${since}..HEAD`] : ['HEAD'];
  return runGit(cwd, ['log', '-p', ...DIFF_FLAGS, '--format=%x01commit %H', ...range, '--'], onUnit);
}

/** What `git commit` would add now: the staged changes. */
export function gitStaged(cwd: string, onUnit: (unit: AddedLines) => void): Promise<void> {
  return runGit(cwd, ['diff', '--cached', ...DIFF_FLAGS], onUnit);
}
