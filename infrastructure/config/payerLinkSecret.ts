import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from './config';
import { createPrivateFile, readPrivateFile } from './dataDir';

/**
 * The payer link key: PAYER_LINK_SECRET; in embedded mode without it, a random key generated once
 * and kept in DATA_DIR/payer-link-secret (one process owns the directory). With PostgreSQL every
 * instance must share the key, so it has to be configured.
 */
export function payerLinkSecret(config: Config): string | null {
  if (config.PAYER_LINK_SECRET) return config.PAYER_LINK_SECRET;
  if (config.storage !== 'embedded') return null;
  const file = path.join(config.dataDir, 'payer-link-secret');
  const existing = readPrivateFile(file);
  if (existing !== null) return existing.trim();
  createPrivateFile(file, randomBytes(32).toString('base64url'));
  const created = readPrivateFile(file);
  if (created === null) throw new Error(`${file} could not be read back after it was created`);
  return created.trim();
}
