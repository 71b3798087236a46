import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs';

/**
 * Writes a file readable by its owner only (0600), also when it already existed with wider
 * permissions: the mode is fixed on the open descriptor before any byte is written.
 */
export function writePrivateFile(file: string, text: string | Buffer): void {
  const fd = openSync(file, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    if (typeof text === "string") writeSync(fd, text);
    else writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
