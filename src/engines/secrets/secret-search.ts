import { AppError } from '../../errors/app-error.js';

/**
 * ListSecrets filters and sort orders with AWS Secrets Manager's meaning:
 * - name, tag-key, tag-value, primary-region, owning-service: prefix match, case-sensitive;
 * - description: not case-sensitive; the description starts with the value, or each word of
 *   the value starts a word of the description ("My Description" matches "Description of my secret");
 * - all: not case-sensitive; the value is broken into words and a secret matches when any of
 *   them starts a word of its name, description, tag keys or tag values.
 * A value starting with `!` excludes; the other values of one filter are alternatives; filters combine with AND.
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_search-secret.html
 */
export type FilterKey = 'name' | 'description' | 'tag-key' | 'tag-value' | 'primary-region' | 'owning-service' | 'all';
export const FILTER_KEYS: readonly FilterKey[] = ['name', 'description', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all'];

export interface SecretFilter {
  key: FilterKey;
  values: string[];
}

export type SortBy = 'created-date' | 'last-accessed-date' | 'last-changed-date' | 'name';
export const SORT_BY: readonly SortBy[] = ['created-date', 'last-accessed-date', 'last-changed-date', 'name'];

/** What a filter looks at in one secret. */
export interface Searchable {
  name: string;
  description: string | null;
  tags: Record<string, string>;
  primaryRegion: string;
}

/** AWS's pattern for a filter value (`!` to negate), at most 512 characters, 1-10 values per filter. */
const FILTER_VALUE = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;

export function validateFilters(filters: SecretFilter[]): void {
  for (const filter of filters) {
    if (!FILTER_KEYS.includes(filter.key)) throw new AppError('validation_failed', `filter key "${String(filter.key).slice(0, 32)}" is not one of ${FILTER_KEYS.join(', ')}`);
    if (filter.values.length === 0 || filter.values.length > 10) throw new AppError('validation_failed', 'each filter has 1 to 10 values');
    for (const value of filter.values) {
      if (value.length > 512 || !FILTER_VALUE.test(value)) throw new AppError('validation_failed', 'a filter value is at most 512 characters of a-z A-Z 0-9 space : _ @ / + = . - ! (a leading ! negates)');
    }
  }
}

/**
 * Words as AWS's search splits them: runs of letters or digits, split where lower case turns to
 * upper case and between letters and digits: `credsDatabase#892` -> creds, Database, 892.
 */
export function searchWords(text: string): string[] {
  return text.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g) ?? [];
}

const startsAnyWord = (words: string[], prefix: string) => words.some((w) => w.startsWith(prefix));

function hits(secret: Searchable, key: FilterKey, value: string): boolean {
  switch (key) {
    case 'name':
      return secret.name.startsWith(value);
    case 'tag-key':
      return Object.keys(secret.tags).some((k) => k.startsWith(value));
    case 'tag-value':
      return Object.values(secret.tags).some((v) => v.startsWith(value));
    case 'primary-region':
      return secret.primaryRegion.startsWith(value);
    case 'owning-service':
      return false; // no secret in Custos is managed by another service
    case 'description': {
      const description = (secret.description ?? '').toLowerCase();
      if (description.startsWith(value.toLowerCase())) return true;
      const wanted = searchWords(value).map((w) => w.toLowerCase());
      const words = searchWords(secret.description ?? '').map((w) => w.toLowerCase());
      return wanted.length > 0 && wanted.every((w) => startsAnyWord(words, w));
    }
    case 'all': {
      const words = [secret.name, secret.description ?? '', ...Object.keys(secret.tags), ...Object.values(secret.tags)].flatMap(searchWords).map((w) => w.toLowerCase());
      return searchWords(value).some((w) => startsAnyWord(words, w.toLowerCase()));
    }
  }
}

/**
 * Within one filter, plain values are alternatives (any may match) and `!` values are
 * exclusions (none may match): `["!dev/", "!test/"]` leaves out both, where alternatives of
 * negations would leave out nothing.
 */
export function matchesFilters(secret: Searchable, filters: SecretFilter[]): boolean {
  return filters.every((filter) => {
    let wanted = false;
    let anyWanted = false;
    for (const raw of filter.values) {
      if (raw.startsWith('!')) {
        if (hits(secret, filter.key, raw.slice(1))) return false;
      } else {
        anyWanted = true;
        wanted ||= hits(secret, filter.key, raw);
      }
    }
    return wanted || !anyWanted;
  });
}

/** Sort key for ListSecrets' SortBy; secrets never accessed sort first (as the oldest). */
export interface Sortable {
  name: string;
  createdAt: number;
  updatedAt: number;
  lastAccessedAt: number | null;
}

export function compareBy(sortBy: SortBy): (a: Sortable, b: Sortable) => number {
  switch (sortBy) {
    case 'name':
      return (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    case 'last-changed-date':
      return (a, b) => a.updatedAt - b.updatedAt || a.createdAt - b.createdAt;
    case 'last-accessed-date':
      return (a, b) => (a.lastAccessedAt ?? 0) - (b.lastAccessedAt ?? 0) || a.createdAt - b.createdAt;
    case 'created-date':
      return (a, b) => a.createdAt - b.createdAt;
  }
}

/** Paging tokens (ListSecrets, ListSecretVersionIds, BatchGetSecretValue): an opaque offset. */
export function pageToken(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

export function pageOffset(token: string | undefined): number {
  if (token === undefined) return 0;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const offset = text.startsWith('o:') ? Number(text.slice(2)) : Number.NaN;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new AppError('invalid_next_token', 'the NextToken is not one this server gave out');
  return offset;
}
