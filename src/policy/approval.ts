/**
 * Approval requirements on policy rules (separation of duties): the rule grants its
 * capabilities, but a write it covers only happens once other people approved it, or, where
 * the rule allows break-glass, when the caller gives an emergency reason. Pure, like the rest
 * of policy/: the change-request engine enforces what this describes.
 */
import { z } from 'zod';

export const MAX_APPROVERS = 10;
export const MAX_MIN_APPROVALS = 10;
const APPROVER_PATTERN = /^group:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Who must approve a write a rule covers: `min` distinct identities, each in one of `approvers` (`group:NAME`). */
export interface ApprovalSpec {
  approvers: string[];
  min: number;
}

/** What a decision says when the grant needs approval. */
export interface ApprovalRequirement extends ApprovalSpec {
  /** True when every approval rule that matched allows break-glass. */
  breakGlass: boolean;
  policy: string;
  rule: string;
}

export const ApprovalSchema = z.strictObject(
  {
    approvers: z
      .array(z.string().regex(APPROVER_PATTERN, 'an approver is "group:NAME"'), { error: 'approval.approvers must be an array' })
      .min(1, 'approval.approvers must not be empty')
      .max(MAX_APPROVERS, `approval.approvers has at most ${MAX_APPROVERS} entries`),
    min: z
      .number({ error: 'approval.min must be a number' })
      .int('approval.min must be an integer')
      .min(1, 'approval.min is at least 1')
      .max(MAX_MIN_APPROVALS, `approval.min is at most ${MAX_MIN_APPROVALS}`)
      .default(1),
  },
  { error: 'approval must be a mapping with "approvers" and optionally "min"' },
);

/** The group names of `group:NAME` approvers. */
export function approverGroups(spec: Pick<ApprovalSpec, 'approvers'>): string[] {
  return spec.approvers.filter((a) => a.startsWith('group:')).map((a) => a.slice('group:'.length));
}
