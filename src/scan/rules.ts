/**
 * The detector rule set. Each rule names literal keywords; one pass over the text finds every
 * keyword of every rule, and a rule's regular expression then runs only on the lines around its
 * keywords' occurrences. That is what keeps a scan fast: no rule reads the whole text.
 */
export interface Rule {
  id: string;
  description: string;
  /** The pattern only runs near an occurrence of one of these (matched ignoring case). */
  keywords: string[];
  /** How far past the keyword's line a match may reach (a PEM block spans lines); default the line. */
  span?: number;
  /** Global regex; the secret is capture group `group` (default the whole match). */
  pattern: RegExp;
  group?: number;
  /** Extra check on the captured secret (placeholders, entropy). */
  accept?: (secret: string, match: RegExpExecArray) => boolean;
  /** SARIF level. */
  severity: 'error' | 'warning';
}

/** Shannon entropy in bits per character. */
export function entropy(text: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

// Values that say "a secret goes here" rather than being one.
const PLACEHOLDER = new RegExp(
  '^(?:\\$\\{[^}]*\\}|\\$\\([^)]*\\)|\\{\\{[^}]*\\}\\}|<[^>]*>|%\\([^)]*\\)s|%[sd]|\\$[A-Za-z_][A-Za-z0-9_]*|\\*+|x+|X+|\\.+|-+|_+|' +
    '(?:your|my|the|some|example|sample|dummy|fake|test|changeme|change_me|replace|redacted|placeholder|secret|password|passwd|pass|token|null|none|nil|undefined|true|false)[A-Za-z0-9_-]{0,24})$',
  'i',
);

export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value) || /^(.)\1+$/.test(value);
}

const GENERIC_NAME = '(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?key|credentials?|signing[_-]?key)';
// Names that hold something about a secret, not the secret (`secret_name`, `token_url`, `password_length`).
const DESCRIPTIVE_SUFFIX = /(?:name|names|id|ids|path|file|dir|url|uri|type|length|len|field|env|prefix|suffix|header|endpoint|label|count|size|version|mode|ttl|format|policy|arn|ref|key_id|expiry|expires|hint|regex|pattern|method|store|backend|provider|manager|class|enabled|required)['"]?$/i;

// The whole assigned name, from the keyword back to where the identifier starts (the pattern
// starts at the keyword: a leading `[\w.-]*` would make the engine retry at every position).
function nameAt(match: RegExpExecArray): string {
  const input = match.input;
  let start = match.index;
  while (start > 0 && /[A-Za-z0-9_.-]/.test(input[start - 1]!)) start--;
  const end = match[0].search(/['"\s:=]/);
  return input.slice(start, match.index) + match[0].slice(0, end < 0 ? undefined : end);
}

const URL_SCHEMES = '(?:postgres(?:ql)?|mysql|mariadb|mssql|sqlserver|oracle|redshift|snowflake|mongodb(?:\\+srv)?|rediss?|amqps?|clickhouse|cockroachdb|db2|trino|presto|hive|vertica|teradata|databricks)';

export const RULES: Rule[] = [
  {
    id: 'aws-access-key-id',
    description: 'AWS access key id',
    keywords: ['AKIA', 'ASIA'],
    pattern: /\b((?:AKIA|ASIA)[A-Z2-7]{16})\b/g,
    group: 1,
    severity: 'error',
  },
  {
    id: 'aws-secret-access-key',
    description: 'AWS secret access key',
    keywords: ['aws'],
    pattern: /aws[A-Za-z0-9_.-]{0,30}secret[A-Za-z0-9_.-]{0,20}['"]?\s*(?::=|=>|[:=])\s*['"]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
    group: 1,
    accept: (s) => entropy(s) > 3.5,
    severity: 'error',
  },
  {
    id: 'github-token',
    description: 'GitHub token',
    keywords: ['ghp_', 'gho_', 'ghs_', 'ghu_', 'ghr_', 'github_pat_'],
    pattern: /\b((?:gh[pousr]_[A-Za-z0-9]{36,251})|(?:github_pat_[A-Za-z0-9_]{60,255}))\b/g,
    group: 1,
    severity: 'error',
  },
  {
    id: 'slack-token',
    description: 'Slack token',
    keywords: ['xox'],
    pattern: /\b(xox[abprse]-[A-Za-z0-9-]{10,250})\b/g,
    group: 1,
    accept: (s) => /\d/.test(s) && entropy(s) > 3,
    severity: 'error',
  },
  {
    id: 'slack-webhook',
    description: 'Slack incoming webhook URL',
    keywords: ['hooks.slack.com'],
    pattern: /https:\/\/hooks\.slack\.com\/(?:services|workflows)\/([A-Za-z0-9+/_-]{20,})/g,
    group: 1,
    severity: 'error',
  },
  {
    id: 'stripe-key',
    description: 'Stripe live secret or restricted key',
    keywords: ['sk_live_', 'rk_live_'],
    pattern: /\b([sr]k_live_[A-Za-z0-9]{20,247})\b/g,
    group: 1,
    severity: 'error',
  },
  {
    id: 'pem-private-key',
    description: 'PEM private key (RSA, EC, DSA, OpenSSH, PKCS#8 — Snowflake key-pair auth uses these)',
    keywords: ['PRIVATE KEY'],
    span: 16_384,
    pattern: /-----BEGIN ([A-Z ]{0,12}PRIVATE KEY(?: BLOCK)?)-----\s*([\s\S]{40,16384}?)\s*-----END \1-----/g,
    group: 2,
    accept: (s) => s.replace(/\\n|\s/g, '').length >= 64,
    severity: 'error',
  },
  {
    id: 'snowflake-credentials',
    description: 'Snowflake connection with an inline password or private key passphrase',
    keywords: ['snowflake'],
    pattern: /snowflake[A-Za-z0-9_.-]{0,30}(?:password|private_key_passphrase|private_key_pwd)['"]?\s*(?::=|=>|[:=])\s*(['"]?)([^\s'",;&]{6,200})\1/gi,
    group: 2,
    accept: (s) => !isPlaceholder(s),
    severity: 'error',
  },
  {
    id: 'jdbc-password',
    description: 'JDBC URL with a password parameter',
    keywords: ['jdbc:'],
    pattern: /jdbc:[a-z0-9]+:[^\s'"]*?[?;&:]password=([^&;\s'"]{3,200})/gi,
    group: 1,
    accept: (s) => !isPlaceholder(s),
    severity: 'error',
  },
  {
    id: 'connection-url-password',
    description: 'Database or broker URL with a password (JDBC, SQLAlchemy, Snowflake, libpq)',
    keywords: ['://'],
    pattern: new RegExp(`\\b(?:jdbc:)?${URL_SCHEMES}(?:\\+[a-z0-9]+)?://[^\\s:/@'"]+:([^\\s@/'"]{3,200})@[^\\s'"]+`, 'gi'),
    group: 1,
    accept: (s) => !isPlaceholder(s) && !/^[:$%{]/.test(s),
    severity: 'error',
  },
  {
    id: 'kafka-sasl-jaas',
    description: 'Kafka SASL JAAS config with a password',
    keywords: ['LoginModule'],
    span: 1024,
    pattern: /LoginModule\s+required[^;]*?password\s*=\s*\\?"([^"\\]{3,200})\\?"/g,
    group: 1,
    accept: (s) => !isPlaceholder(s),
    severity: 'error',
  },
  {
    id: 'custos-token',
    description: 'Custos token',
    keywords: ['cst_'],
    pattern: /\b(cst_[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/g,
    group: 1,
    severity: 'error',
  },
  {
    id: 'generic-secret-assignment',
    description: 'High-entropy value assigned to a password, secret or token name',
    keywords: ['pass', 'secret', 'token', 'key', 'pwd', 'credential'],
    pattern: new RegExp(`${GENERIC_NAME}([A-Za-z0-9_.-]*)(['"]?)\\s*(?::=|=>|[:=])\\s*(['"\`]?)([^\\s'"\`,;)}{\\]]{8,200})\\3`, 'gi'),
    group: 4,
    accept: (secret, match) => {
      const name = nameAt(match);
      if (DESCRIPTIVE_SUFFIX.test(name) || isPlaceholder(secret)) return false;
      const quoted = match[3] !== '';
      // Unquoted values are code as often as data: `password = config.password`, `token: ${{ secrets.X }}`.
      if (!quoted && (/^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?:\(.*)?$/.test(secret) || /[()]/.test(secret))) return false;
      if (/^(?:\d+|true|false|yes|no|on|off)$/i.test(secret)) return false;
      const bits = entropy(secret);
      return quoted ? bits >= 2.8 : bits >= 3.2;
    },
    severity: 'warning',
  },
];
