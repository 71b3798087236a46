import { CompiledQuery, type Compilable } from 'kysely';
import type { Queryable } from './schema.js';

/**
 * A hot-path query built with Kysely once and then reused as SQL text with new parameters.
 * Kysely still writes the SQL for each dialect; we only skip rebuilding and recompiling the
 * same query tree on every call (which costs more than running it on SQLite).
 *
 * `build` receives `param(name)` sentinels in place of values; they are mapped back to
 * positions in the compiled parameter list on first use.
 */
export function preparedQuery<Row, P extends Record<string, unknown>>(build: (q: Queryable, param: (name: keyof P & string) => any) => Compilable<Row>) {
  let template: { sql: string; slots: ({ name: string } | { value: unknown })[] } | undefined;
  return async (q: Queryable, params: P): Promise<Row[]> => {
    if (!template) {
      const names = new Map<string, string>();
      const param = (name: string) => {
        const sentinel = `\u0000custos-param:${name}`;
        names.set(sentinel, name);
        return sentinel;
      };
      const compiled = build(q, param).compile();
      template = {
        sql: compiled.sql,
        slots: compiled.parameters.map((v) => (typeof v === 'string' && names.has(v) ? { name: names.get(v)! } : { value: v })),
      };
    }
    const values = template.slots.map((slot) => ('name' in slot ? params[slot.name] : slot.value));
    const result = await q.executeQuery<Row>(CompiledQuery.raw(template.sql, values));
    return result.rows;
  };
}
