/** Shapes shared by the database engine's files and its adapters. */
import type { Kysely } from 'kysely';
import type { Authorizer } from '../../services/authorizer.js';
import type { DatabaseStore } from '../../storage/database-store.js';
import type { Database } from '../../storage/schema.js';
import type { SecretsService } from '../secrets/secrets-service.js';
import type { LeaseManager } from '../../leases/lease-manager.js';

export interface DatabaseServiceDeps {
  db: Kysely<Database>;
  store: DatabaseStore;
  secrets: Pick<SecretsService, 'getValue' | 'putValue' | 'moveLabel'>;
  authorizer: Pick<Authorizer, 'require'>;
  leases: Pick<LeaseManager, 'issue' | 'register' | 'abandon' | 'liveHandles'>;
  now: () => number;
  logger: { warn(obj: object, msg: string): void };
  /** Connections per database pool (default 4). */
  poolSize?: number;
}

export interface ConnectionInfo {
  name: string;
  plugin: string;
  adminSecret: string;
  allowedRoles: string[];
  createdAt: number;
  updatedAt: number;
  rootRotatedAt: number | null;
}

export interface RoleInput {
  connection: string;
  creationStatements: string[];
  revocationStatements?: string[];
  renewStatements?: string[];
  rollbackStatements?: string[];
  usernameTemplate?: string;
  passwordLength?: number;
  defaultTtl?: number;
  maxTtl?: number;
  env?: string | null;
}

export interface RoleInfo {
  name: string;
  connection: string;
  env: string | null;
  creationStatements: string[];
  revocationStatements: string[];
  renewStatements: string[];
  rollbackStatements: string[];
  usernameTemplate: string;
  passwordLength: number;
  defaultTtl: number;
  maxTtl: number;
  createdAt: number;
  updatedAt: number;
}

export interface IssuedCredential {
  username: string;
  password: string;
  leaseId: string;
  leaseDuration: number;
  renewable: boolean;
  expiresAt: number;
}
