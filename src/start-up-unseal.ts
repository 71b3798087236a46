import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { writePrivateFile } from './sdk/saved-tokens.js';
import type { OperatorService } from './services/operator-service.js';

/**
 * --dev: initialize on first start with one unseal key kept beside the data, and unseal from it.
 * Returns the new root token on the first start, to be saved once the server listens.
 */
export async function devInitAndUnseal(config: Config, operator: OperatorService, logger: Logger, output: (line: string) => void): Promise<string | null> {
  const keyFile = path.join(config.data_dir, 'unseal.key');
  const status = await operator.status();
  let rootToken: string | null = null;
  if (!status.initialized) {
    const init = await operator.initialize(1, 1);
    rootToken = init.rootToken;
    writePrivateFile(keyFile, init.keys[0]! + '\n');
    output(`Root token: ${rootToken}`);
  }
  if (!existsSync(keyFile)) throw new Error(`dev mode: the unseal key file ${keyFile} is missing`);
  // Once, on stdout beside the root token (not also as a log line: the same terminal shows both).
  output(`WARNING: dev mode keeps the unseal key in ${keyFile}; for one machine only, never for production.`);
  await operator.unseal(readFileSync(keyFile, 'utf8').trim());
  return rootToken;
}

export async function unsealFromConfig(config: Config, operator: OperatorService, logger: Logger): Promise<void> {
  const source = config.unseal_key ?? (config.unseal_key_file ? readFileSync(config.unseal_key_file, 'utf8') : undefined);
  if (!source) {
    logger.info('starting sealed; unseal with `custos operator unseal`');
    return;
  }
  if (!(await operator.status()).initialized) {
    logger.warn('an unseal key is configured but Custos is not initialized; run `custos operator init`');
    return;
  }
  for (const share of source.split(/[\s,]+/).filter(Boolean)) {
    const status = await operator.unseal(share);
    if (!status.sealed) break;
  }
  const status = await operator.status();
  if (status.sealed) logger.error({ progress: status.progress, threshold: status.threshold }, 'configured unseal keys did not unseal');
  else logger.info('unsealed from configured key');
}
