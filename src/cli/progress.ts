/**
 * A one-line progress display for long commands (import, rotate --wait, snapshot, migrate) on
 * stderr. Only on a terminal, so pipes, `--json` output and CI logs stay clean; CUSTOS_PROGRESS=always
 * forces it (CUSTOS_PROGRESS=never turns it off). Redrawn at most ten times a second.
 */
export interface Progress {
  /** `done` of `total` items (total unknown: a running count). */
  update(done: number, total?: number, detail?: string): void;
  /** Shows the time spent so far until `stop()`: for a wait with nothing to count. */
  elapsed(): void;
  /** Clears the line. */
  stop(): void;
}

export function terminalProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  const mode = process.env.CUSTOS_PROGRESS;
  const on = mode === 'always' || (mode !== 'never' && stream.isTTY === true);
  const started = Date.now();
  let drawnAt = 0;
  let shown = false;
  let timer: NodeJS.Timeout | undefined;
  const draw = (text: string) => {
    // On a terminal the line is rewritten in place; forced elsewhere, each state is its own line.
    stream.write(stream.isTTY ? `\r\x1b[2K${text}` : `${text}\n`);
    shown = true;
  };
  return {
    update(done, total, detail) {
      if (!on) return;
      const now = Date.now();
      const last = total !== undefined && done >= total;
      if (!last && now - drawnAt < 100) return;
      drawnAt = now;
      const count = total === undefined ? `${done}` : `${done}/${total} (${Math.floor((done * 100) / Math.max(total, 1))}%)`;
      draw(`${label}: ${count}${detail ? ` ${detail}` : ''}`);
    },
    elapsed() {
      if (!on || timer) return;
      const tick = () => draw(`${label}: ${Math.round((Date.now() - started) / 1000)} s`);
      tick();
      timer = setInterval(tick, 1000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (on && shown && stream.isTTY) stream.write('\r\x1b[2K');
    },
  };
}
