export { createApiClient, CustosApiError } from './api-client.js';
export type { ApiClient, ApiClientOptions, SecretValueResponse, SecretMetadataResponse, TokenResponse, AuditEventResponse, SealStatusResponse } from './api-client.js';
export type { RotationRunResponse, RotationStatusResponse, RotationListResponse } from './api-client.js';
