import { AppError } from '../../errors/app-error.js';
import type { SecretFilter } from '../../engines/secrets/secrets-service.js';
import { FILTER_KEYS, type FilterKey } from '../../engines/secrets/secret-search.js';
import { awsTypedError } from './aws-errors.js';
import type { SecretValue } from '../../engines/secrets/secret-rules.js';

/**
 * Typed reads of AWS request fields. A field of the wrong type is an InvalidParameterException,
 * as AWS answers; what a field means is left to the operation that reads it.
 */
export type Input = Record<string, unknown>;

export function bad(message: string): never {
  throw new AppError('validation_failed', message);
}

export function str(input: Input, field: string, required: true): string;
export function str(input: Input, field: string, required?: false): string | undefined;
export function str(input: Input, field: string, required = false): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return required ? bad(`${field} is required`) : undefined;
  if (typeof value !== 'string') bad(`${field} must be a string`);
  return value;
}

export function bool(input: Input, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') bad(`${field} must be a boolean`);
  return value;
}

export function int(input: Input, field: string): number | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) bad(`${field} must be an integer`);
  return value;
}

export function strList(input: Input, field: string): string[] | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) bad(`${field} must be a list of strings`);
  return value as string[];
}

export function objList(input: Input, field: string): Input[] | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'object' || v === null || Array.isArray(v))) bad(`${field} must be a list of objects`);
  return value as Input[];
}

export function valueOf(input: Input): SecretValue | undefined {
  const text = str(input, 'SecretString');
  const binary = str(input, 'SecretBinary');
  if (text !== undefined && binary !== undefined) bad('You can\'t specify both SecretString and SecretBinary');
  if (text !== undefined) return { kind: 'string', text };
  if (binary !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(binary)) bad('SecretBinary must be base64');
    return { kind: 'binary', bytes: Buffer.from(binary, 'base64') };
  }
  return undefined;
}

export function tagsOf(input: Input): Record<string, string> | undefined {
  const list = objList(input, 'Tags');
  if (!list) return undefined;
  const tags: Record<string, string> = {};
  for (const tag of list) tags[str(tag, 'Key', true)] = str(tag, 'Value') ?? '';
  return tags;
}

export function replicaRegionsOf(input: Input, field: string): { region: string; kmsKeyId?: string }[] | undefined {
  return objList(input, field)?.map((r) => ({ region: str(r, 'Region', true), kmsKeyId: str(r, 'KmsKeyId') }));
}

/**
 * ListSecrets / BatchGetSecretValue filters, refused as AWS refuses them: a missing key or
 * values is an InvalidParameterException, a key outside the enum a ValidationException (the
 * service then checks the values' pattern and count).
 */
export function filtersOf(input: Input): SecretFilter[] | undefined {
  return objList(input, 'Filters')?.map((f, i) => {
    const key = str(f, 'Key');
    if (key === undefined) bad('Invalid filter key');
    if (!FILTER_KEYS.includes(key as FilterKey)) {
      throw awsTypedError('ValidationException', `1 validation error detected: Value '${key.slice(0, 64)}' at 'filters.${i + 1}.member.key' failed to satisfy constraint: Member must satisfy enum value set: [${FILTER_KEYS.join(', ')}]`);
    }
    const values = strList(f, 'Values');
    if (values === undefined) bad(`Invalid filter values for key: ${key}`);
    return { key: key as FilterKey, values };
  });
}
