/**
 * AWS resource policies attached to one secret (PutResourcePolicy): parsing, validation and
 * evaluation, pure. What is modelled and what is not is listed in docs/aws-compatibility.md.
 *
 * Statements speak AWS actions (`secretsmanager:GetSecretValue`); Custos authorizes
 * capabilities (`read`). A Deny statement denies a capability when it names any action of it
 * (over-broad denial is safe); an Allow statement grants a capability only when it names the
 * capability's first action below (so allowing DescribeSecret never hands out `list`'s other
 * powers, nor allowing GetResourcePolicy `read`).
 */
import { AppError } from '../errors/app-error.js';
import type { Capability } from './policy.js';

export const CAPABILITY_ACTIONS: Record<Capability, readonly string[]> = {
  read: ['GetSecretValue'],
  list: ['DescribeSecret', 'ListSecretVersionIds', 'GetResourcePolicy', 'ListSecrets'],
  create: ['CreateSecret'],
  update: [
    'PutSecretValue', 'UpdateSecret', 'TagResource', 'UntagResource', 'PutResourcePolicy', 'DeleteResourcePolicy', 'ValidateResourcePolicy',
    'ReplicateSecretToRegions', 'RemoveRegionsFromReplication', 'StopReplicationToReplica',
  ],
  delete: ['DeleteSecret', 'RestoreSecret'],
  stage: ['UpdateSecretVersionStage'],
  rotate: ['RotateSecret', 'CancelRotateSecret'],
  // No Secrets Manager action grants these: transit keys and sys: resources carry no resource policy.
  admin: [], encrypt: [], decrypt: [], rewrap: [], sign: [], verify: [],
};

export interface ResourceStatement {
  effect: 'Allow' | 'Deny';
  /** `*`, or principal ARNs / account ids (`{"AWS": …}`); other principal kinds match no Custos identity. */
  principals: string[];
  actions: string[];
  resources: string[];
  /** Conditions are not evaluated: a conditional Deny applies, a conditional Allow grants nothing (fail closed). */
  conditional: boolean;
}

export interface ResourcePolicy {
  statements: ResourceStatement[];
}

/** What a resource policy decides for one identity and capability: nothing, allow or deny. */
export type ResourceDecision = 'allow' | 'deny' | null;

const MAX_DOCUMENT_LENGTH = 20_480;

function malformed(message: string): never {
  throw new AppError('invalid_policy', message, { details: { reason: 'malformed' } });
}

function listOf(value: unknown, what: string): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value as string[];
  return malformed(`${what} must be a string or a non-empty list of strings`);
}

function principalsOf(value: unknown): string[] {
  if (value === '*') return ['*'];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return malformed('Principal must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:user/AKCU…"}');
  const out: string[] = [];
  for (const [kind, names] of Object.entries(value as Record<string, unknown>)) {
    const list = listOf(names, `Principal.${kind}`);
    // Service, Federated and CanonicalUser principals are never Custos identities.
    if (kind === 'AWS') out.push(...list);
  }
  return out;
}

/** Parses a policy document; a document Custos cannot evaluate faithfully is refused. */
export function parseResourcePolicy(document: string): ResourcePolicy {
  if (document.length === 0 || document.length > MAX_DOCUMENT_LENGTH) malformed(`a resource policy is 1 to ${MAX_DOCUMENT_LENGTH} characters`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(document);
  } catch {
    return malformed('This resource policy contains a syntax error.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) malformed('a resource policy is a JSON object');
  const raw = (parsed as Record<string, unknown>).Statement;
  const list = Array.isArray(raw) ? raw : raw === undefined ? malformed('a resource policy needs a Statement') : [raw];
  if (list.length === 0) malformed('a resource policy needs at least one statement');
  const statements = list.map((s, i): ResourceStatement => {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return malformed(`Statement ${i + 1} is not an object`);
    const st = s as Record<string, unknown>;
    for (const unsupported of ['NotPrincipal', 'NotAction', 'NotResource']) {
      if (st[unsupported] !== undefined) malformed(`Statement ${i + 1}: ${unsupported} is not supported by Custos`);
    }
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') malformed(`Statement ${i + 1}: Effect must be Allow or Deny`);
    if (st.Principal === undefined) malformed(`Statement ${i + 1}: a resource policy statement needs a Principal`);
    if (st.Action === undefined) malformed(`Statement ${i + 1}: Action is required`);
    const actions = listOf(st.Action, 'Action');
    for (const action of actions) {
      if (action !== '*' && !/^secretsmanager:[A-Za-z*?]+$/i.test(action)) malformed(`Statement ${i + 1}: action "${action.slice(0, 80)}" is not a Secrets Manager action`);
    }
    return {
      effect: st.Effect, principals: principalsOf(st.Principal), actions, resources: st.Resource === undefined ? ['*'] : listOf(st.Resource, 'Resource'),
      conditional: st.Condition !== undefined,
    };
  });
  return { statements };
}

/** A statement that lets anyone in: an unconditional Allow for `*` (what BlockPublicPolicy refuses). */
export function isPublic(policy: ResourcePolicy): boolean {
  return policy.statements.some((s) => s.effect === 'Allow' && !s.conditional && s.principals.includes('*'));
}

/** The capabilities an Allow statement of this policy grants (what its author must hold). */
export function grantedCapabilities(policy: ResourcePolicy): Capability[] {
  const out = new Set<Capability>();
  for (const s of policy.statements) {
    if (s.effect !== 'Allow' || s.conditional) continue;
    for (const [capability, actions] of Object.entries(CAPABILITY_ACTIONS) as [Capability, readonly string[]][]) {
      if (actions.length > 0 && s.actions.some((a) => actionMatches(a, actions[0]!))) out.add(capability);
    }
  }
  return [...out];
}

function wildcard(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, caseInsensitive ? 'i' : '').test(value);
}

function actionMatches(pattern: string, action: string): boolean {
  return pattern === '*' || wildcard(pattern, `secretsmanager:${action}`, true);
}

/**
 * Principals a Custos identity is, in AWS terms: `arn:aws:iam::ACCOUNT:user/ID` where ID is the
 * AWS access key id or the native token accessor. An account principal (`ACCOUNT`,
 * `arn:aws:iam::ACCOUNT:root`) names everyone in the account: as in AWS, a Deny for it denies
 * them all, while an Allow for it only defers to their own (Custos) policies.
 */
export function principalArn(accountId: string, accessor: string): string {
  return `arn:aws:iam::${accountId}:user/${accessor.startsWith('aws:') ? accessor.slice(4) : accessor}`;
}

function principalMatch(pattern: string, arn: string, accountId: string): 'identity' | 'account' | null {
  if (pattern === '*') return 'identity';
  if (pattern === accountId || pattern === `arn:aws:iam::${accountId}:root`) return 'account';
  return wildcard(pattern, arn, false) ? 'identity' : null;
}

/**
 * Decides one capability for one principal on the secret `secretArn`: an applicable Deny wins,
 * then an Allow that names this principal (or `*`); otherwise the policy has nothing to say.
 */
export function decide(policy: ResourcePolicy, input: { accountId: string; principal: string; capability: Capability; secretArn: string }): ResourceDecision {
  const actions = CAPABILITY_ACTIONS[input.capability];
  if (actions.length === 0) return null; // not a Secrets Manager capability: even `"Action": "*"` says nothing of it
  let allowed = false;
  for (const s of policy.statements) {
    if (!s.resources.some((r) => r === '*' || wildcard(r, input.secretArn, false))) continue;
    const matches = s.principals.map((p) => principalMatch(p, input.principal, input.accountId)).filter((m) => m !== null);
    if (matches.length === 0) continue;
    if (s.effect === 'Deny') {
      if (s.actions.some((a) => actions.some((action) => actionMatches(a, action)))) return 'deny';
    } else if (!s.conditional && matches.includes('identity') && s.actions.some((a) => actionMatches(a, actions[0]!))) {
      allowed = true;
    }
  }
  return allowed ? 'allow' : null;
}

/** ValidateResourcePolicy's checks: syntax, then broad access (a public Allow). */
export function validateResourcePolicy(document: string): { CheckName: string; ErrorMessage: string }[] {
  let policy: ResourcePolicy;
  try {
    policy = parseResourcePolicy(document);
  } catch (error) {
    return [{ CheckName: 'SYNTAX_CHECK', ErrorMessage: error instanceof Error ? error.message : String(error) }];
  }
  return isPublic(policy) ? [{ CheckName: 'PUBLIC_ACCESS_CHECK', ErrorMessage: 'The policy allows access to every principal ("*").' }] : [];
}
