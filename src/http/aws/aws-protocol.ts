/**
 * The AWS JSON 1.1 wire protocol as Secrets Manager speaks it: content type and target prefix,
 * staging-label names, epoch-second timestamps. Error types are in aws-errors.ts.
 */
export const AWS_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const TARGET_PREFIX = 'secretsmanager.';

const TO_NATIVE: Record<string, string> = { AWSCURRENT: 'CURRENT', AWSPENDING: 'PENDING', AWSPREVIOUS: 'PREVIOUS' };
const TO_AWS: Record<string, string> = { CURRENT: 'AWSCURRENT', PENDING: 'AWSPENDING', PREVIOUS: 'AWSPREVIOUS' };

/** AWSCURRENT/AWSPENDING/AWSPREVIOUS are Custos's CURRENT/PENDING/PREVIOUS; other labels pass through. */
export const labelToNative = (label: string): string => TO_NATIVE[label] ?? label;
export const labelToAws = (label: string): string => TO_AWS[label] ?? label;

/** AWS JSON timestamps are epoch seconds. */
export const epochSeconds = (ms: number): number => ms / 1000;
export const optionalEpoch = (ms: number | null | undefined): number | undefined => (ms === null || ms === undefined ? undefined : ms / 1000);
