import { blind, curve, finalize } from '../crypto/oprf.js';
import { MIN_FINGERPRINT_LENGTH, urlPasswords } from '../lib/secret-fields.js';
import type { ApiClient, ScanMatchResponse } from '../sdk/api-client.js';
import { entropy, isPlaceholder } from './rules.js';

/**
 * Candidate strings for known-value matching: the strings in a file that could be a stored
 * secret's value or one of its fields. They stay on this machine; only blinded points and
 * fingerprints are sent (see crypto/oprf.ts and docs/scan.md).
 */
export interface Candidate {
  text: string;
  /** Offset in the text it came from. */
  offset: number;
}

const MAX_CANDIDATE_LENGTH = 512;
// Quoted strings, also with escaped quotes (JSON inside a JSON string).
const QUOTED = /\\?(["'`])([^"'`\s\\]{8,512})\\?\1/g;
// `KEY=value`, `key: value` (.env, YAML, properties).
const ASSIGNED = /[=:][ \t]*([^\s"'`,;]{8,512})/g;
// Free-standing tokens with a digit or symbol in them (a pasted key in a README or a log).
const TOKEN = /[A-Za-z0-9+/=_\-.~!#$%^&*@]{12,512}/g;
const URL_PW = /[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:([^\s@/'"]+)@/gi;

function plausible(text: string): boolean {
  return text.length >= MIN_FINGERPRINT_LENGTH && text.length <= MAX_CANDIDATE_LENGTH && !isPlaceholder(text);
}

/** Every candidate in `text`, once per distinct string and offset. */
export function extractCandidates(text: string): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const add = (value: string, offset: number) => {
    const key = `${offset}:${value}`;
    if (!plausible(value) || seen.has(key)) return;
    seen.add(key);
    out.push({ text: value, offset });
  };
  for (const m of text.matchAll(QUOTED)) add(m[2]!, m.index! + m[0].indexOf(m[2]!));
  for (const m of text.matchAll(ASSIGNED)) add(m[1]!, m.index! + m[0].indexOf(m[1]!));
  for (const m of text.matchAll(TOKEN)) {
    const t = m[0];
    if (/[0-9+/=_\-.~!#$%^&*@]/.test(t) && /[A-Za-z]/.test(t) && entropy(t) >= 3) add(t, m.index!);
  }
  if (text.includes('://')) {
    for (const m of text.matchAll(URL_PW)) {
      const offset = m.index! + m[0].lastIndexOf(m[1]!);
      for (const password of urlPasswords(m[0] + 'x')) add(password, offset);
    }
  }
  return out;
}

export interface KnownValueMatch {
  secret: string;
  versionId: string;
  label: string;
  field: string;
}

/**
 * Asks the server which candidates are stored secrets (among those the token may list).
 * Batches of `batchSize`; returns candidate text → the secrets it matched.
 */
export async function matchKnownValues(api: Pick<ApiClient, 'scanEvaluate' | 'scanMatch'>, candidates: Iterable<string>, batchSize = 1000): Promise<Map<string, KnownValueMatch[]>> {
  const ecdh = curve();
  const result = new Map<string, KnownValueMatch[]>();
  const all = [...new Set(candidates)];
  for (let i = 0; i < all.length; i += batchSize) {
    const batch = all.slice(i, i + batchSize);
    const blinded = batch.map((c) => blind(ecdh, c));
    const { points } = await api.scanEvaluate(blinded.map((b) => b.blinded.toString('hex')));
    const fingerprints = batch.map((c, j) => finalize(ecdh, c, blinded[j]!.r, Buffer.from(points[j]!, 'hex')));
    const byFingerprint = new Map<string, string>();
    fingerprints.forEach((f, j) => byFingerprint.set(f, batch[j]!));
    const { matches } = await api.scanMatch(fingerprints);
    for (const m of matches as ScanMatchResponse[]) {
      const candidate = byFingerprint.get(m.fingerprint);
      if (candidate === undefined) continue;
      const list = result.get(candidate) ?? [];
      if (!list.some((x) => x.secret === m.secret && x.field === m.field && x.versionId === m.version_id)) {
        list.push({ secret: m.secret, versionId: m.version_id, label: m.label, field: m.field });
      }
      result.set(candidate, list);
    }
  }
  return result;
}
