import { randomInt } from 'node:crypto';
import { AppError } from '../errors/app-error.js';

/** Options mirror AWS GetRandomPassword so both APIs share one generator. */
export interface PasswordOptions {
  length?: number;
  excludeCharacters?: string;
  excludeNumbers?: boolean;
  excludePunctuation?: boolean;
  excludeUppercase?: boolean;
  excludeLowercase?: boolean;
  includeSpace?: boolean;
  requireEachIncludedType?: boolean;
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
// The punctuation set AWS documents for GetRandomPassword.
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

export const PASSWORD_DEFAULT_LENGTH = 32;
export const PASSWORD_MAX_LENGTH = 4096;

/** Generates a password with a CSPRNG and unbiased index selection (crypto.randomInt). */
export function generatePassword(options: PasswordOptions = {}): string {
  const length = options.length ?? PASSWORD_DEFAULT_LENGTH;
  if (!Number.isInteger(length) || length < 1 || length > PASSWORD_MAX_LENGTH) {
    throw new AppError('validation_failed', `password length must be an integer from 1 to ${PASSWORD_MAX_LENGTH}`);
  }
  const excluded = new Set(options.excludeCharacters ?? '');
  const keep = (chars: string) => [...chars].filter((c) => !excluded.has(c)).join('');
  const classes: string[] = [];
  if (!options.excludeLowercase) classes.push(keep(LOWER));
  if (!options.excludeUppercase) classes.push(keep(UPPER));
  if (!options.excludeNumbers) classes.push(keep(DIGITS));
  if (!options.excludePunctuation) classes.push(keep(PUNCTUATION));
  if (options.includeSpace) classes.push(keep(' '));
  const usable = classes.filter((c) => c.length > 0);
  if (usable.length === 0) throw new AppError('validation_failed', 'the password options exclude every character');
  const requireEach = options.requireEachIncludedType ?? true;
  if (requireEach && usable.length > length) {
    throw new AppError('validation_failed', `length ${length} is too short to include one character of each of ${usable.length} types`);
  }
  const alphabet = usable.join('');
  const chars: string[] = [];
  if (requireEach) for (const cls of usable) chars.push(cls[randomInt(cls.length)]!);
  while (chars.length < length) chars.push(alphabet[randomInt(alphabet.length)]!);
  // Fisher-Yates so the guaranteed characters are not always at the front.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}
