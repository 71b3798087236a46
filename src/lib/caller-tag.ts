/**
 * A caller tag: who a client (the agent) says it is acting for — a pod, a uid, a job name.
 * It is an annotation in the audit log and nothing more: no authorization decision ever
 * reads it, and the event's principal is always the authenticated token. Because the
 * client chooses it freely, it is cleaned before it is recorded: only printable ASCII is
 * kept (no control characters for log or terminal injection, no bidi overrides, and it
 * stays a valid HTTP header value when forwarded), surrounding space is trimmed, and the
 * length is capped.
 */
export const CALLER_TAG_MAX = 128;

const UNPRINTABLE = /[^\x20-\x7e]/g;

/** The cleaned tag, or null when nothing printable is left. */
export function cleanCallerTag(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const cleaned = raw.replace(UNPRINTABLE, '').trim().slice(0, CALLER_TAG_MAX).trim();
  return cleaned === '' ? null : cleaned;
}
