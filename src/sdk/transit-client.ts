/**
 * Typed client for the transit engine (encryption as a service): key management and the
 * batch-capable operations. Standalone like the rest of the SDK (fetch and wire shapes only).
 *
 *   const transit = createTransitClient({ address, token });
 *   const [a, b] = await transit.encryptBatch('prod/app/pii', [{ plaintext: 'alice@example.com' }, { plaintext: 'bob@example.com' }]);
 *   const email = (await transit.decrypt('prod/app/pii', a.ciphertext)).toString();
 *
 * Plaintexts, contexts and associated data may be given as strings (UTF-8) or Buffers; the
 * client base64-encodes them. Batch methods return one entry per item, in order: the result,
 * or `{ error: { code, message } }` for an item that failed on its own.
 */
import { CustosApiError, type ApiClientOptions, type ApiErrorBody } from './api-client.js';

export type Bytes = string | Buffer | Uint8Array;
export type TransitKeyType = 'aes256-gcm96' | 'chacha20-poly1305' | 'ed25519' | 'ecdsa-p256' | 'rsa-2048' | 'hmac';

export interface TransitKeyResponse {
  name: string;
  type: TransitKeyType;
  derived: boolean;
  exportable: boolean;
  deletion_allowed: boolean;
  latest_version: number;
  min_decryption_version: number;
  min_encryption_version: number;
  min_available_version: number;
  created_at: string;
  updated_at: string;
  versions: Record<string, { created_at: string; public_key?: string }>;
}

export interface TransitItemError { error: { code: string; message: string } }
export type TransitItem<T> = T | TransitItemError;
export interface AeadOptions { context?: Bytes; associatedData?: Bytes }
export interface EncryptInput extends AeadOptions { plaintext: Bytes; keyVersion?: number }
export interface DecryptInput extends AeadOptions { ciphertext: string }
export interface EncryptResult { ciphertext: string; key_version: number }
export interface DatakeyResult extends EncryptResult { plaintext?: string }

/** True when a batch item failed (its `error` says why). */
export function isItemError(item: unknown): item is TransitItemError {
  return typeof item === 'object' && item !== null && 'error' in item;
}

const b64 = (value: Bytes | undefined) => (value === undefined ? undefined : Buffer.from(value as string).toString('base64'));
const enc = (name: string) => name.split('/').map(encodeURIComponent).join('/');
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

const aead = (o: AeadOptions) => ({ context: b64(o.context), associated_data: b64(o.associatedData) });

export function createTransitClient(options: ApiClientOptions) {
  const base = options.address.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  async function call<T>(method: string, path: string, body?: unknown, query?: Record<string, string | number | undefined>): Promise<T> {
    if (DOT_SEGMENT.test(path.slice('/v1/transit/'.length))) throw new CustosApiError('invalid_name', 'a key name has a "." or ".." segment', 400, null);
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await doFetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(options.timeoutMs ?? 60_000) });
    } catch (cause) {
      throw Object.assign(new CustosApiError('unreachable', `cannot reach Custos at ${base}: ${(cause as Error).message}`, 0, null), { cause });
    }
    const text = await response.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new CustosApiError('invalid_response', `Custos answered ${response.status} with a body that is not JSON`, response.status, response.headers.get('x-request-id'));
    }
    if (!response.ok) {
      const error = (data as Partial<ApiErrorBody>).error;
      throw new CustosApiError(error?.code ?? 'http_error', error?.message ?? `HTTP ${response.status}`, response.status, error?.request_id ?? response.headers.get('x-request-id'));
    }
    return data as T;
  }

  const batch = async <T>(op: string, name: string, items: unknown[]) =>
    (await call<{ batch_results: TransitItem<T>[] }>('POST', `/v1/transit/${op}/${enc(name)}`, { batch_input: items })).batch_results;
  const single = <T>(op: string, name: string, item: unknown) => call<T>('POST', `/v1/transit/${op}/${enc(name)}`, item);

  return {
    /** Any operation with items already in wire form (base64 fields, snake_case), e.g. read from a JSON file. */
    batchRaw: (op: 'encrypt' | 'decrypt' | 'rewrap' | 'sign' | 'verify' | 'hmac' | 'verify-hmac' | 'datakey/plaintext' | 'datakey/wrapped', name: string, items: Record<string, unknown>[]) =>
      batch<Record<string, unknown>>(op, name, items),
    createKey: (name: string, input: { type: TransitKeyType; derived?: boolean; exportable?: boolean }) => call<TransitKeyResponse>('POST', `/v1/transit/keys/${enc(name)}`, input),
    readKey: (name: string) => call<TransitKeyResponse>('GET', `/v1/transit/keys/${enc(name)}`),
    listKeys: (query: { prefix?: string; limit?: number; after?: string } = {}) => call<{ keys: string[]; next_after: string | null }>('GET', '/v1/transit/keys', undefined, query),
    rotateKey: (name: string) => call<TransitKeyResponse>('POST', `/v1/transit/rotate/${enc(name)}`),
    configKey: (name: string, config: { minDecryptionVersion?: number; minEncryptionVersion?: number; deletionAllowed?: boolean }) =>
      call<TransitKeyResponse>('POST', `/v1/transit/config/${enc(name)}`, { min_decryption_version: config.minDecryptionVersion, min_encryption_version: config.minEncryptionVersion, deletion_allowed: config.deletionAllowed }),
    trimKey: (name: string, minAvailableVersion: number) => call<TransitKeyResponse>('POST', `/v1/transit/trim/${enc(name)}`, { min_available_version: minAvailableVersion }),
    deleteKey: (name: string) => call<{ deleted: string }>('DELETE', `/v1/transit/keys/${enc(name)}`),
    /** Key material of a key created `exportable` (audited); other keys answer transit_not_exportable. */
    exportKey: (name: string, version?: number) => call<{ name: string; type: TransitKeyType; keys: Record<string, string> }>('GET', `/v1/transit/export/${enc(name)}`, undefined, { version }),

    encrypt: (name: string, plaintext: Bytes, opts: AeadOptions & { keyVersion?: number } = {}) =>
      single<EncryptResult>('encrypt', name, { plaintext: b64(plaintext), key_version: opts.keyVersion, ...aead(opts) }),
    encryptBatch: (name: string, items: EncryptInput[]) =>
      batch<EncryptResult>('encrypt', name, items.map((i) => ({ plaintext: b64(i.plaintext), key_version: i.keyVersion, ...aead(i) }))),
    /** The plaintext as bytes (call `.toString()` for text). */
    decrypt: async (name: string, ciphertext: string, opts: AeadOptions = {}) =>
      Buffer.from((await single<{ plaintext: string }>('decrypt', name, { ciphertext, ...aead(opts) })).plaintext, 'base64'),
    /** Plaintexts stay base64 in batch results (`Buffer.from(r.plaintext, 'base64')`). */
    decryptBatch: (name: string, items: DecryptInput[]) => batch<{ plaintext: string }>('decrypt', name, items.map((i) => ({ ciphertext: i.ciphertext, ...aead(i) }))),
    rewrap: (name: string, ciphertext: string, opts: AeadOptions = {}) => single<EncryptResult>('rewrap', name, { ciphertext, ...aead(opts) }),
    rewrapBatch: (name: string, items: DecryptInput[]) => batch<EncryptResult>('rewrap', name, items.map((i) => ({ ciphertext: i.ciphertext, ...aead(i) }))),
    datakey: (name: string, mode: 'plaintext' | 'wrapped', opts: AeadOptions & { bits?: 128 | 256 | 512 } = {}) =>
      single<DatakeyResult>(`datakey/${mode}`, name, { bits: opts.bits, ...aead(opts) }),
    sign: (name: string, input: Bytes, opts: { keyVersion?: number } = {}) => single<{ signature: string; key_version: number }>('sign', name, { input: b64(input), key_version: opts.keyVersion }),
    signBatch: (name: string, items: { input: Bytes; keyVersion?: number }[]) => batch<{ signature: string; key_version: number }>('sign', name, items.map((i) => ({ input: b64(i.input), key_version: i.keyVersion }))),
    verify: async (name: string, input: Bytes, signature: string) => (await single<{ valid: boolean }>('verify', name, { input: b64(input), signature })).valid,
    verifyBatch: (name: string, items: { input: Bytes; signature: string }[]) => batch<{ valid: boolean }>('verify', name, items.map((i) => ({ input: b64(i.input), signature: i.signature }))),
    hmac: (name: string, input: Bytes, opts: { algorithm?: 'sha2-256' | 'sha2-512'; context?: Bytes; keyVersion?: number } = {}) =>
      single<{ hmac: string; key_version: number }>('hmac', name, { input: b64(input), algorithm: opts.algorithm, context: b64(opts.context), key_version: opts.keyVersion }),
    hmacBatch: (name: string, items: { input: Bytes; algorithm?: 'sha2-256' | 'sha2-512'; context?: Bytes }[]) =>
      batch<{ hmac: string; key_version: number }>('hmac', name, items.map((i) => ({ input: b64(i.input), algorithm: i.algorithm, context: b64(i.context) }))),
    verifyHmac: async (name: string, input: Bytes, hmac: string, opts: { algorithm?: 'sha2-256' | 'sha2-512'; context?: Bytes } = {}) =>
      (await single<{ valid: boolean }>('verify-hmac', name, { input: b64(input), hmac, algorithm: opts.algorithm, context: b64(opts.context) })).valid,
    verifyHmacBatch: (name: string, items: { input: Bytes; hmac: string; algorithm?: 'sha2-256' | 'sha2-512'; context?: Bytes }[]) =>
      batch<{ valid: boolean }>('verify-hmac', name, items.map((i) => ({ input: b64(i.input), hmac: i.hmac, algorithm: i.algorithm, context: b64(i.context) }))),
  };
}

export type TransitClient = ReturnType<typeof createTransitClient>;
