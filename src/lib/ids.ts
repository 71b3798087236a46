import { randomBytes, randomUUID } from 'node:crypto';

export const newId = (): string => randomUUID();
export const newRequestId = (): string => 'req_' + randomBytes(9).toString('base64url');
