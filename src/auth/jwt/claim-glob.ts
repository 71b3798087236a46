/**
 * Claim bindings: a role binds a claim to one or more glob patterns, where `*` matches any run
 * of characters (slashes included: `repo:acme/*:ref:refs/heads/main`) and everything else is
 * literal. A claim that is missing, an object, or matches no pattern does not match.
 */
const compiled = new Map<string, RegExp>();

export function globMatches(pattern: string, value: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    // Only regex syntax characters are escaped: with the `u` flag any other escape (`\-`) is a
    // syntax error, and a hyphen outside a class is literal anyway.
    re = new RegExp('^' + pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('[\\s\\S]*') + '$', 'u');
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(value);
}

/** Reads a claim by name, or by JSON pointer (`/kubernetes.io/serviceaccount/name`) for nested claims. */
export function claimAt(claims: Record<string, unknown>, key: string): unknown {
  if (!key.startsWith('/')) return Object.hasOwn(claims, key) ? claims[key] : undefined;
  let node: unknown = claims;
  for (const raw of key.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** The claim's value as text when it matches one of the patterns (arrays: any element), else null. */
export function matchClaim(value: unknown, patterns: readonly string[]): string | null {
  const candidates = Array.isArray(value) ? value : [value];
  for (const candidate of candidates) {
    if (typeof candidate !== 'string' && typeof candidate !== 'number' && typeof candidate !== 'boolean') continue;
    const text = String(candidate);
    if (patterns.some((p) => globMatches(p, text))) return text;
  }
  return null;
}
