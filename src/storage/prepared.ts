import { CompiledQuery, type Compilable } from 'kysely';
import type { Queryable } from './schema.js';

export interface QueryTemplate {
  sql: string;
  /** The parameter list for this template's SQL, in order. */
  bind(params: Record<string, unknown>): unknown[];
}

/**
 * Compiles a query built with `param(name)` sentinels in place of values, and remembers
 * where each named parameter lands in the compiled parameter list.
 */
export function compileTemplate(q: Queryable, build: (q: Queryable, param: (name: string) => any) => Compilable<unknown>): QueryTemplate {
  const names = new Map<string, string>();
  const param = (name: string) => {
    const sentinel = `\u0000custos-param:${name}`;
    names.set(sentinel, name);
    return sentinel;
  };
  const compiled = build(q, param).compile();
  const slots = compiled.parameters.map((v) => (typeof v === 'string' && names.has(v) ? { name: names.get(v)! } : { value: v }));
  return {
    sql: compiled.sql,
    bind: (params) => slots.map((slot) => ('name' in slot ? params[slot.name!] : slot.value)),
  };
}

/**
 * A hot-path query built with Kysely once and then reused as SQL text with new parameters.
 * Kysely still writes the SQL for each dialect; we only skip rebuilding and recompiling the
 * same query tree on every call (which costs more than running it on SQLite).
 */
export function preparedQuery<Row, P extends Record<string, unknown>>(build: (q: Queryable, param: (name: keyof P & string) => any) => Compilable<Row>) {
  let template: QueryTemplate | undefined;
  return async (q: Queryable, params: P): Promise<Row[]> => {
    template ??= compileTemplate(q, build as never);
    const result = await q.executeQuery<Row>(CompiledQuery.raw(template.sql, template.bind(params)));
    return result.rows;
  };
}
