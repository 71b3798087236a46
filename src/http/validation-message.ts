/**
 * A request-validation failure in the caller's words: the field it sent (or forgot), not the
 * validator's internal path (`querystring/recovery_days`, `body/settings/users/0`).
 */
interface SchemaIssue { instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> }

export function validationMessage(issues: unknown, fallback: string): string {
  if (!Array.isArray(issues) || issues.length === 0) return fallback;
  const parts = (issues as SchemaIssue[]).map((issue) => {
    const path = (issue.instancePath ?? '').split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? `[${p}]` : p));
    const field = path.join('.').replace(/\.\[/g, '[');
    const missing = issue.params?.missingProperty;
    if (issue.keyword === 'required' && typeof missing === 'string') return `${field ? field + '.' : ''}${missing} is required`;
    const extra = issue.params?.additionalProperty;
    if (issue.keyword === 'additionalProperties' && typeof extra === 'string') return `${field ? field + '.' : ''}${extra} is not a known field`;
    return `${field || 'the request'} ${issue.message ?? 'is invalid'}`;
  });
  return [...new Set(parts)].join('; ');
}
