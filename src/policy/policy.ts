/**
 * Pure policy evaluation: glob matching and allow/deny decisions (documents are parsed in
 * policy-document.ts).
 * No I/O, no clock, no storage: callers load the principal's policies and pass them in.
 *
 * Resources are secret paths (`prod/app/db`, first segment = environment, never contains
 * `:`), administrative resources prefixed with `sys:` (`sys:tokens`, `sys:policies/NAME`,
 * `sys:audit`, `sys:operator`, `sys:rotation/...`, `sys:metrics` (scrape GET /metrics),
 * `sys:alerts` (read alerts; update to acknowledge or silence)), or transit keys prefixed with
 * `transit:` (`transit:prod/app/pii`). Each prefix is its own namespace: a pattern only matches
 * resources of its own namespace, so no secret glob (not even `**`) reaches a transit key or `sys:`.
 * Transit key names, like secret names, start with their environment, and the env binding
 * applies to them the same way. The database engine's resources are `database:config/NAME`,
 * `database:roles/NAME` and `database:creds/ROLE` (`read` issues credentials). Connections and
 * roles span environments, so a bound principal never reaches config or roles; a role's own
 * environment binding is checked by the engine against the caller's (the resource name does
 * not carry it), so creds are left to that check here. Leases are `sys:leases`.
 */
import type { ApprovalRequirement, ApprovalSpec } from './approval.js';

export const CAPABILITIES = [
  'read', 'list', 'create', 'update', 'delete', 'stage', 'rotate',
  // transit keys (`transit:KEY`): one per operation, `admin` for create/config/trim/delete/export
  'encrypt', 'decrypt', 'sign', 'verify', 'rewrap', 'admin',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface PolicyRule {
  path: string;
  capabilities?: Capability[];
  deny?: boolean;
  /** The grant holds only once approved (change requests); see approval.ts. */
  approval?: ApprovalSpec;
  /** With `approval`: the caller may skip approval by giving an emergency reason (always audited and alerted). */
  break_glass?: boolean;
}

export interface PolicyDocument {
  name: string;
  rules: PolicyRule[];
}

export interface Principal {
  /** The principal's policy documents, already loaded. */
  policies: PolicyDocument[];
  /** Environment binding: when set, only secret paths whose first segment equals it are ever allowed. */
  env: string | null;
  /** Root: everything allowed except what the env binding forbids. */
  isRoot: boolean;
}

export interface Decision {
  allowed: boolean;
  reason: string;
  /** the rule path that decided, if any */
  matchedRule?: string;
  /** the policy whose rule decided, if any */
  policy?: string;
  /** Allowed, but the write needs approval first (a matching grant carries `approval`). */
  approval?: ApprovalRequirement;
}

const SYS_PREFIX = 'sys:';
const TRANSIT_PREFIX = 'transit:';
const DATABASE_PREFIX = 'database:';
const GLOBSTAR = '**';

function isCapability(value: unknown): value is Capability {
  return typeof value === 'string' && (CAPABILITIES as readonly string[]).includes(value);
}

type Namespace = 'secret' | 'sys' | 'transit' | 'database';

/** Splits a resource/pattern into its namespace and the part that globs apply to. */
function namespaced(value: string): { ns: Namespace; body: string } {
  if (value.startsWith(SYS_PREFIX)) return { ns: 'sys', body: value.slice(SYS_PREFIX.length) };
  if (value.startsWith(TRANSIT_PREFIX)) return { ns: 'transit', body: value.slice(TRANSIT_PREFIX.length) };
  if (value.startsWith(DATABASE_PREFIX)) return { ns: 'database', body: value.slice(DATABASE_PREFIX.length) };
  return { ns: 'secret', body: value };
}

/** Database engine resources: `database:config/NAME`, `database:roles/NAME`, `database:creds/ROLE`. */
export function databaseResource(kind: 'config' | 'roles' | 'creds', name: string): string {
  return `${DATABASE_PREFIX}${kind}/${name}`;
}

/** The policy resource of a transit key: its own namespace, never matched by secret globs. */
export function transitResource(keyName: string): string {
  return TRANSIT_PREFIX + keyName;
}

// ---------------------------------------------------------------------------
// Glob matching
// ---------------------------------------------------------------------------

/**
 * Matches one segment against a segment glob where `*` matches any run of characters
 * (segments never contain `/`). Every other character is literal, so `.`, `+`, `=`, `@`
 * need no escaping. Linear-time greedy matcher with single-star backtracking.
 */
function segmentMatches(glob: string, segment: string): boolean {
  let g = 0;
  let s = 0;
  let starG = -1;
  let starS = 0;
  while (s < segment.length) {
    if (g < glob.length && glob[g] === '*') {
      starG = g;
      g += 1;
      starS = s;
    } else if (g < glob.length && glob[g] === segment[s]) {
      g += 1;
      s += 1;
    } else if (starG >= 0) {
      g = starG + 1;
      starS += 1;
      s = starS;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g += 1;
  return g === glob.length;
}

/** True if some string beginning with `partial` (no `/`) matches the segment glob. */
function segmentCouldStartWith(glob: string, partial: string): boolean {
  // NFA over glob positions; `*` may consume any character or nothing.
  const closure = (states: Set<number>): Set<number> => {
    for (const j of states) if (glob[j] === '*') states.add(j + 1);
    return states;
  };
  let states = closure(new Set([0]));
  for (const ch of partial) {
    const next = new Set<number>();
    for (const j of states) {
      if (j >= glob.length) continue;
      if (glob[j] === '*') next.add(j);
      else if (glob[j] === ch) next.add(j + 1);
    }
    states = closure(next);
    if (states.size === 0) return false;
  }
  // Any remaining glob suffix can be completed (literals appended, `*` matching nothing).
  return states.size > 0;
}

/** Adds the indices reachable by letting `**` segments match zero segments. */
function globstarClosure(pattern: readonly string[], states: Set<number>): Set<number> {
  for (const i of states) if (pattern[i] === GLOBSTAR) states.add(i + 1);
  return states;
}

/**
 * Runs the segment NFA over `segments`; returns the set of pattern positions reachable
 * after consuming all of them (empty when the pattern cannot match that far).
 */
function advance(pattern: readonly string[], segments: readonly string[]): Set<number> {
  let states = globstarClosure(pattern, new Set([0]));
  for (const segment of segments) {
    const next = new Set<number>();
    for (const i of states) {
      const glob = pattern[i];
      if (glob === undefined) continue;
      if (glob === GLOBSTAR) next.add(i);
      else if (segmentMatches(glob, segment)) next.add(i + 1);
    }
    states = globstarClosure(pattern, next);
    if (states.size === 0) break;
  }
  return states;
}

/**
 * Glob match of a rule pattern against a resource. `*` matches within one segment,
 * a whole-segment `**` matches zero or more whole segments, everything else is literal.
 * A pattern matches a `sys:` resource only if the pattern itself starts with `sys:`,
 * and a `sys:` pattern never matches a secret path.
 */
export function matchesPath(pattern: string, resource: string): boolean {
  const p = namespaced(pattern);
  const r = namespaced(resource);
  if (p.ns !== r.ns) return false;
  // Secret and key names never contain ':'; such a resource is malformed and matches nothing.
  if (r.ns !== 'sys' && r.body.includes(':')) return false;
  const segments = p.body.split('/');
  return advance(segments, r.body.split('/')).has(segments.length);
}

/**
 * True if the pattern could match SOME resource that starts with `prefix` (string prefix,
 * so `prod/ana` covers `prod/analytics/...`). Pattern and prefix must share a namespace.
 */
function patternCouldMatchUnder(pattern: string, prefix: string): boolean {
  const p = namespaced(pattern);
  const q = namespaced(prefix);
  if (p.ns !== q.ns) return false;
  const segments = p.body.split('/');
  const parts = q.body.split('/');
  const partial = parts.pop() ?? '';
  const states = advance(segments, parts);
  for (const i of states) {
    const glob = segments[i];
    if (glob === undefined) continue; // pattern exhausted but the resource needs another segment
    if (glob === GLOBSTAR || segmentCouldStartWith(glob, partial)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

function firstSegment(resource: string): string {
  const slash = resource.indexOf('/');
  return slash === -1 ? resource : resource.slice(0, slash);
}

/**
 * Administrative resources an environment-bound principal may still use: tokens and access
 * keys, whose children inherit the binding. Everything else under `sys:` (policies, audit,
 * operator, rotators that run programs) spans every environment, so a binding excludes it.
 */
export const ENV_BOUND_SYS_RESOURCES: ReadonlySet<string> = new Set(['sys:tokens', 'sys:aws-keys']);

/**
 * Decides whether `principal` holds `capability` on `resource`.
 * Order: malformed input → env binding → root → explicit deny (any policy) → allow → default deny.
 */
export function evaluate(principal: Principal, capability: Capability, resource: string): Decision {
  if (!isCapability(capability)) {
    return { allowed: false, reason: 'unknown capability' };
  }
  const { ns, body } = namespaced(resource);
  const sys = ns === 'sys';
  if (body === '' || (!sys && body.includes(':'))) {
    return { allowed: false, reason: 'invalid resource' };
  }
  // Database connections and roles span environments; creds are checked against the role's binding by the engine.
  if (principal.env !== null && ns === 'database' && !body.startsWith('creds/')) {
    return { allowed: false, reason: `token is bound to environment "${principal.env}"; "${resource}" spans every environment` };
  }
  // Secret names and transit key names both start with their environment.
  if (principal.env !== null && !sys && ns !== 'database' && firstSegment(body) !== principal.env) {
    return { allowed: false, reason: `token is bound to environment "${principal.env}"` };
  }
  if (principal.env !== null && sys && !ENV_BOUND_SYS_RESOURCES.has(resource)) {
    return { allowed: false, reason: `token is bound to environment "${principal.env}"; "${resource}" spans every environment` };
  }
  if (principal.isRoot) {
    return { allowed: true, reason: 'allowed: principal is root' };
  }

  let allow: Decision | undefined;
  // Approval works like deny: a grant that needs approval is not lifted by another plain grant.
  let approval: ApprovalRequirement | undefined;
  for (const policy of principal.policies) {
    for (const rule of policy.rules) {
      if (!matchesPath(rule.path, resource)) continue;
      if (rule.deny === true) {
        return { allowed: false, reason: `denied by policy "${policy.name}" rule "${rule.path}"`, matchedRule: rule.path, policy: policy.name };
      }
      if (rule.capabilities?.includes(capability) !== true) continue;
      if (allow === undefined) {
        allow = { allowed: true, reason: `allowed by policy "${policy.name}" rule "${rule.path}"`, matchedRule: rule.path, policy: policy.name };
      }
      if (rule.approval !== undefined) {
        // The strictest matching rule decides (highest `min`, the first of equals); break-glass
        // holds only if every matching approval rule allows it.
        const breakGlass = rule.break_glass === true && (approval?.breakGlass ?? true);
        if (approval === undefined || rule.approval.min > approval.min) approval = { ...rule.approval, breakGlass, policy: policy.name, rule: rule.path };
        else approval.breakGlass = breakGlass;
      }
    }
  }
  if (allow && approval) return { ...allow, reason: `allowed with approval by policy "${approval.policy}" rule "${approval.rule}"`, approval };
  return allow ?? { allowed: false, reason: `no policy grants "${capability}" on "${resource}"` };
}

/**
 * True if the principal could hold `capability` on SOME resource whose name starts with
 * `prefix`, used to decide whether a list call may proceed before items are filtered one
 * by one with `evaluate`. It over-approximates (deny rules are not considered), never
 * under-approximates. A prefix without a namespace prefix denotes the secret namespace
 * (so `''` means "any secret"), `sys:` administrative resources, `transit:` transit keys.
 */
export function mayAccessUnder(principal: Principal, capability: Capability, prefix: string): boolean {
  if (!isCapability(capability)) return false;
  const { ns, body } = namespaced(prefix);
  const sys = ns === 'sys';
  if (!sys && body.includes(':')) return false;
  const nsPrefix = prefix.slice(0, prefix.length - body.length);

  // Narrow the prefix by the env binding: the reachable secrets are those under `scopes`
  // (string prefixes) plus, possibly, the single secret named exactly like the env.
  let scopes: string[] = [prefix];
  let exact: string | undefined;
  if (!sys && principal.env !== null) {
    const envSlash = `${principal.env}/`;
    if (envSlash.startsWith(body)) {
      scopes = [nsPrefix + envSlash];
      if (principal.env.startsWith(body)) exact = nsPrefix + principal.env;
    } else if (!body.startsWith(envSlash)) {
      return false; // the binding excludes everything under this prefix
    }
  }

  if (principal.isRoot) return true;

  for (const policy of principal.policies) {
    for (const rule of policy.rules) {
      if (rule.deny === true || rule.capabilities?.includes(capability) !== true) continue;
      if (scopes.some((scope) => patternCouldMatchUnder(rule.path, scope))) return true;
      if (exact !== undefined && matchesPath(rule.path, exact)) return true;
    }
  }
  return false;
}
