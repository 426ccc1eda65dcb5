/**
 * Security issue #17, item 6: the embedded database and Settle's own secrets under DATA_DIR are
 * not readable by other local users. The real service on the embedded default (PGlite) in a temp
 * DATA_DIR: the directory is 0700 (PGlite's own ~1000 files keep the umask's 0644, the directory
 * is what keeps others out), an existing loose one is narrowed with a log line, and the files
 * Settle writes itself (payer-link-secret, dev-defaults.json) are 0600 even under a umask of 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateDevDefaults } from '../../infrastructure/config/devDefaults';
import { ensurePrivateDir } from '../../infrastructure/config/dataDir';
import { startTestService } from '../support/service';

jest.setTimeout(120_000);

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('DATA_DIR is private (embedded default)', () => {
  let root: string;
  let umask: number;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-datadir-'));
    fs.chmodSync(root, 0o755);
    umask = process.umask(0); // the loosest umask: every mode below is Settle's own doing
  });
  afterEach(() => {
    process.umask(umask);
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('a new DATA_DIR is created 0700; the database lives inside it; payer-link-secret is 0600', async () => {
    const dataDir = path.join(root, 'nested', 'data');
    const svc = await startTestService({ DATA_DIR: dataDir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined });
    try {
      expect(mode(dataDir)).toBe(0o700);
      const files = fs.readdirSync(path.join(dataDir, 'pglite'), { recursive: true });
      expect(files.length).toBeGreaterThan(100); // PGlite's catalog, WAL, tables: all below the 0700 directory
      expect(mode(path.join(dataDir, 'payer-link-secret'))).toBe(0o600);
    } finally {
      await svc.shutdown('test end');
    }
  });

  test('an existing DATA_DIR others can enter is narrowed to 0700, with a log line; a loosened secret file back to 0600', async () => {
    const dataDir = path.join(root, 'data');
    fs.mkdirSync(dataDir, { mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
    fs.writeFileSync(path.join(dataDir, 'payer-link-secret'), 'k'.repeat(43));
    fs.chmodSync(path.join(dataDir, 'payer-link-secret'), 0o644);
    const svc = await startTestService({ DATA_DIR: dataDir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined });
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(path.join(dataDir, 'payer-link-secret'))).toBe(0o600);
      expect(svc.logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'DATA_DIR was readable by other local users; narrowed to 0700', dataDir, mode: '0755' }));
    } finally {
      await svc.shutdown('test end');
    }
    // a private one is left alone, and not logged
    expect(ensurePrivateDir(dataDir)).toEqual({ created: false, tightenedFrom: null });
  });

  test('dev defaults: a new DATA_DIR it creates is 0700, the file 0600', () => {
    const dataDir = path.join(root, 'dev');
    const file = path.join(dataDir, 'dev-defaults.json');
    loadOrCreateDevDefaults(file);
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(file)).toBe(0o600);
  });
});
