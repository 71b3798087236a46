import pino, { type Logger } from 'pino';

/**
 * Every field that could ever carry secret material is redacted, wherever it appears
 * (request bodies, headers, error objects). Values are also never passed to the logger
 * on purpose; this is the second line of defence. A secret's *name* (`secret`, `secret_name`)
 * is not secret: operators need it to act on a log line, so it is logged as is.
 */
export const REDACT_PATHS = [
  'value', 'value_base64', 'password', 'token', 'root_token', 'keys', 'key', 'secret_key', 'secret_access_key', 'SecretString', 'SecretBinary',
  '*.value', '*.value_base64', '*.password', '*.token', '*.root_token', '*.keys', '*.key', '*.secret_key', '*.secret_access_key', '*.SecretString', '*.SecretBinary',
  'req.headers.authorization', 'req.headers["x-custos-token"]', 'headers.authorization', 'headers["x-custos-token"]',
  'err.config', 'err.request', 'err.response',
];

export function createLogger(level: string, destination: pino.DestinationStream | number = 1): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'custos' } },
    typeof destination === 'number' ? pino.destination({ dest: destination, sync: false }) : destination,
  );
}
