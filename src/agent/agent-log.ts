/**
 * The agent's log: one JSON line per event on stderr. Callers pass only names, codes and
 * counts; there is deliberately no way to log a value or a token (fields are scalars the
 * code chose, never request or response bodies).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface AgentLog {
  debug(message: string, fields?: Record<string, string | number | boolean | null>): void;
  info(message: string, fields?: Record<string, string | number | boolean | null>): void;
  warn(message: string, fields?: Record<string, string | number | boolean | null>): void;
  error(message: string, fields?: Record<string, string | number | boolean | null>): void;
}

export function createAgentLog(level: Level, write: (line: string) => void = (line) => process.stderr.write(line + '\n')): AgentLog {
  const at = (l: Level) => (message: string, fields: Record<string, string | number | boolean | null> = {}) => {
    if (ORDER[l] >= ORDER[level]) write(JSON.stringify({ time: new Date().toISOString(), level: l, msg: message, ...fields }));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
