/**
 * What of a secret value can leak on its own: the whole value, each string field of a JSON
 * value, and the password inside any URL among them. The server fingerprints exactly these for
 * its scan index; the scanner extracts the same shapes from files, so a password pasted alone
 * or inside a connection string matches the secret that holds it.
 */
export interface FingerprintInput {
  /** `''` for the whole value, a JSON path (`password`, `replicas.0.password`), `+url-password` suffix for a URL's password. */
  field: string;
  text: string;
}

/** Shorter strings are too common to name a secret by (ports, `admin`, `true`). */
export const MIN_FINGERPRINT_LENGTH = 8;

// JSON fields that describe where a credential is used rather than the credential: a match on
// a host name or a user name in a config file is not a leak.
const DESCRIPTIVE_FIELDS = new Set([
  'host', 'hostname', 'port', 'user', 'username', 'login', 'dbname', 'database', 'db', 'engine', 'driver', 'region', 'account', 'warehouse',
  'role', 'schema', 'protocol', 'scheme', 'cluster', 'endpoint', 'description', 'name', 'type', 'sasl_mechanism', 'security_protocol',
]);

// scheme://user:password@host — the password may contain anything but '@', '/', whitespace.
const URL_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:([^\s@/'"]+)@[^\s'"]+/gi;

/** Every password found inside URLs in `text` (percent-decoded when valid). */
export function urlPasswords(text: string): string[] {
  const found: string[] = [];
  if (!text.includes('://')) return found;
  for (const match of text.matchAll(URL_PASSWORD)) {
    const raw = match[1]!;
    let decoded = raw;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      // not valid percent-encoding: keep it as written
    }
    found.push(decoded);
    if (decoded !== raw) found.push(raw);
  }
  return found;
}

/** The strings of a stored value that are fingerprinted, each with the field it came from. */
export function fingerprintInputs(value: string): FingerprintInput[] {
  const out: FingerprintInput[] = [];
  const seen = new Set<string>();
  const add = (field: string, text: string) => {
    const trimmed = text.trim();
    const key = `${field}\u0000${trimmed}`;
    if (trimmed.length < MIN_FINGERPRINT_LENGTH || seen.has(key)) return;
    seen.add(key);
    out.push({ field, text: trimmed });
  };
  const withUrls = (field: string, text: string) => {
    for (const password of urlPasswords(text)) add(field ? `${field}+url-password` : '+url-password', password);
  };
  add('', value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  // A JSON object's URLs are found in its fields, under their field's name.
  if (!parsed || typeof parsed !== 'object') {
    withUrls('', value);
    return out;
  }
  const walk = (node: unknown, path: string, depth: number) => {
    if (depth > 8) return;
    if (typeof node === 'string') {
      const last = path.split('.').pop()!.toLowerCase();
      if (!DESCRIPTIVE_FIELDS.has(last)) add(path, node);
      withUrls(path, node);
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, path ? `${path}.${i}` : String(i), depth + 1));
    } else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k, depth + 1);
    }
  };
  walk(parsed, '', 0);
  return out;
}
