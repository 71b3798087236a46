/**
 * Policy documents and names: validation and parsing of the YAML/JSON a policy is written in,
 * into the rules the evaluator (policy.ts) applies. Pure: no I/O.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { ApprovalSchema } from './approval.js';
import { CAPABILITIES, type PolicyDocument, type PolicyRule } from './policy.js';

const MAX_PATH_LENGTH = 512;
const PATH_PATTERN = /^(?:sys:|transit:|database:)?[A-Za-z0-9/_+=.@*-]+$/;
const POLICY_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const RESERVED_POLICY_NAME = 'root';

/** Policy names: 1-128 chars of [A-Za-z0-9_.-], not starting with '.'; 'root' is reserved. */
export function validatePolicyName(name: string): void {
  if (typeof name !== 'string' || !POLICY_NAME_PATTERN.test(name)) {
    throw new AppError(
      'invalid_policy',
      'policy name must be 1-128 characters of A-Z a-z 0-9 _ . - and must not start with "."',
      { details: { field: 'name' } },
    );
  }
  if (name.toLowerCase() === RESERVED_POLICY_NAME) {
    throw new AppError('invalid_policy', `policy name "${name}" is reserved`, { details: { field: 'name' } });
  }
}

const RULE_KEYS = ['path', 'capabilities', 'deny', 'approval', 'break_glass'] as const;

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

const RuleSchema = z
  .strictObject(
    {
      path: z
        .string({ error: 'path must be a string' })
        .min(1, 'path must not be empty')
        .max(MAX_PATH_LENGTH, `path must be at most ${MAX_PATH_LENGTH} characters`)
        .regex(PATH_PATTERN, 'path may only contain A-Z a-z 0-9 / _ + = . @ - * (optionally after a "sys:" prefix)'),
      capabilities: z
        .array(
          z.enum(CAPABILITIES, {
            error: (issue) => `unknown capability ${describeValue(issue.input)}; expected one of ${CAPABILITIES.join(', ')}`,
          }),
          { error: 'capabilities must be an array' },
        )
        .min(1, 'capabilities must not be empty')
        .optional(),
      deny: z.literal(true, { error: 'deny must be true when present' }).optional(),
      approval: ApprovalSchema.optional(),
      break_glass: z.boolean({ error: 'break_glass must be true or false' }).optional(),
    },
    { error: 'each rule must be a mapping with "path" and either "capabilities" or "deny: true"' },
  )
  .superRefine((rule, ctx) => {
    if (rule.capabilities !== undefined && rule.deny !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'a rule must have either "capabilities" or "deny: true", not both' });
    } else if (rule.capabilities === undefined && rule.deny === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a rule must have either "capabilities" or "deny: true"' });
    }
    if (rule.approval !== undefined && rule.deny !== undefined) ctx.addIssue({ code: 'custom', message: 'a deny rule cannot carry "approval"' });
    if (rule.break_glass === true && rule.approval === undefined) ctx.addIssue({ code: 'custom', message: '"break_glass" only applies to a rule with "approval"' });
  });

const DocumentSchema = z.strictObject(
  {
    rules: z
      .array(RuleSchema, { error: (issue) => (issue.input === undefined ? 'rules is required' : 'rules must be an array') })
      .min(1, 'rules must not be empty'),
  },
  { error: 'policy document must be a mapping with a "rules" key' },
);

function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): { path: string; message: string } {
  const path = formatIssuePath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    const allowed = path === '' ? '"rules"' : RULE_KEYS.map((k) => `"${k}"`).join(', ');
    return { path, message: `unknown key${issue.keys.length === 1 ? '' : 's'} ${keys} (allowed: ${allowed})` };
  }
  return { path, message: issue.message };
}

/**
 * Parses a YAML or JSON policy text `{ rules: [...] }`, validates it and returns the document.
 * Throws AppError('invalid_policy') naming the offending rule index and field.
 */
export function parsePolicyDocument(name: string, text: string): PolicyDocument {
  validatePolicyName(name);

  let raw: unknown;
  try {
    // JSON is valid YAML, so one parser handles both. Duplicate keys are rejected.
    raw = parseYaml(text, { uniqueKeys: true, prettyErrors: false });
  } catch (error) {
    const detail = error instanceof Error ? (error.message.split('\n')[0] ?? '') : '';
    throw new AppError('invalid_policy', `policy "${name}" is not valid YAML or JSON: ${detail}`, {
      cause: error,
      details: { policy: name },
    });
  }

  const result = DocumentSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map(describeIssue);
    const first = issues[0] ?? { path: '', message: 'invalid policy document' };
    const where = first.path === '' ? '' : `${first.path}: `;
    throw new AppError('invalid_policy', `invalid policy "${name}": ${where}${first.message}`, {
      details: { policy: name, issues },
    });
  }

  return {
    name,
    rules: result.data.rules.map((rule): PolicyRule =>
      rule.deny === true ? { path: rule.path, deny: true } : {
        path: rule.path, capabilities: [...(rule.capabilities ?? [])],
        ...(rule.approval ? { approval: { approvers: [...rule.approval.approvers], min: rule.approval.min } } : {}),
        ...(rule.approval && rule.break_glass === true ? { break_glass: true } : {}),
      },
    ),
  };
}
