/**
 * Buckets of a login's CPU for `bench:profile` on a login path: each sampled stack goes to the
 * first rule with a frame on it, so a query run for the audit append counts as the audit
 * append. Stacks resumed after an `await` no longer show their caller: Kysely's and
 * better-sqlite3's frames that named no Custos module land in "SQL execution, unattributed".
 */
export const LOGIN_COMPONENTS: [string, RegExp][] = [
  ['idle (epoll_wait)', /epoll_wait|ep_poll/],
  ['garbage collection', /Heap::|Scavenger|MarkCompact|GCTracer|MinorGC/],
  // libuv's pool thread function is `worker`; OpenSSL's RSA arithmetic shows as bn_*/BN_*/RSA_*.
  ['JWT signature check (WebCrypto, libuv pool thread)', /(^|\n)worker(\n|$)|uv__worker|\bbn_|\bBN_|RSA_|rsa_ossl|EVP_PKEY_verify|EVP_DigestVerify/],
  ['JWT verify in jose (parse, header, key lookup, claims)', /jose\/dist|rsaSignVerify|webcrypto/],
  ['JWT claim matching (bound claims, globs)', /claim-glob/],
  ['audit event: hash chain, head check, insert', /audit-appenders|audit-log\.js|audit-chain|audit-verify|audit-store|server\.js:\d+:\d+.*beforeCommit/],
  ['token id, keyed hash, row build', /token-issuer|crypto\/tokens/],
  ['token row insert', /token-store/],
  ['role and mount lookup', /auth-store|mountOf|findRole|findMount/],
  ['AppRole secret id check and use', /approle/],
  ['policy resolution, authorization', /policy|authorizer|grants\.js/],
  ['token authentication (POST /v1/tokens caller)', /identity-service\.js.*authenticate|authenticate/],
  ['metrics hooks', /metrics\.js/],
  ['transaction begin/commit, pragmas (Kysely, SQLite)', /commitTransaction|beginTransaction|appendTransaction|transaction\.js|sqlite3PagerCommit|sqlite3WalFrames|pwrite|fsync|fdatasync/],
  ['SQL execution, unattributed (Kysely, better-sqlite3)', /kysely|better_sqlite3|better-sqlite3|sqlite3/],
  ['request body parse and validation (JSON, zod)', /zod|content-type-parser|JsonParse|parseOrThrow|ajv|validation/],
  ['login logic (auth-service, jwt/approle method, identity service)', /auth-service|jwt-method|identity-service|routes\/auth|routes\/tokens/],
  ['HTTP: Fastify, node:http, sockets, JSON reply', /fastify|_http_|llhttp|uv__read|writev|stream|JsonStringifier|tcp|__sys_sendto|sock_/],
  ['other (promise machinery, kernel, V8 runtime)', /./],
];
