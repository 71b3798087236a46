import { randomBytes, randomUUID } from 'node:crypto';

export const newId = (): string => randomUUID();
// Request ids need to be unique, not secret: a per-process random prefix and a counter
// avoid a CSPRNG call on every request.
const processPrefix = randomBytes(6).toString('base64url');
let requestCounter = 0;
export const newRequestId = (): string => `req_${processPrefix}${(requestCounter++).toString(36)}`;
