export { createApiClient, CustosApiError } from './api-client.js';
export type { ApiClient, ApiClientOptions, SecretValueResponse, SecretMetadataResponse, TokenResponse, AuditEventResponse, SealStatusResponse } from './api-client.js';
export {
  CustosClient, CustosClientError, SecretNotFoundError, AccessDeniedError, TransientError, StaleLimitExceededError, classifyError,
} from './custos-client.js';
export type { CustosClientOptions, GetSecretOptions, SecretResult, ClientStats, StaleEvent } from './custos-client.js';
export { buildConnectionUrl, ConnectionUrlError, SUPPORTED_DRIVERS } from './connection-url.js';
export type { ConnectionSecret } from './connection-url.js';
export { parseSecretRef, findSecretRefs, selectField, applyRef, isSecretRef, SecretRefError, SECRET_REF_PREFIX } from './secret-ref.js';
export type { SecretRef } from './secret-ref.js';
export { renderTemplate, formatForFile, TemplateInsertError, type RefResolver } from './template.js';
export type { TemplateFormat, TemplateProblem } from './template.js';
// The rotation-aware pg pool is a separate entry point (`custos/client/pg`) so that importing
// the SDK never loads `pg`.
export type { RotationRunResponse, RotationStatusResponse, RotationListResponse } from './api-client.js';
// Transit (encryption as a service): its own client, so the secrets client stays as it is.
export { createTransitClient, isItemError } from './transit-client.js';
export type { TransitClient, TransitKeyResponse, TransitKeyType, TransitItem, TransitItemError, EncryptInput, DecryptInput, EncryptResult, DatakeyResult, AeadOptions, Bytes } from './transit-client.js';
export { createAuthClient } from './auth-client.js';
export type { AuthClient, LoginResponse, WrapInfo } from './auth-client.js';
export { openChangeFeed, followChanges } from './change-feed.js';
export type { ChangeFeedEvent, OpenChangeFeedOptions, FollowChangesOptions } from './change-feed.js';
