import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from './config';
import {
  DEV_CRM_BASE_URL,
  DEV_DEFAULTS_FILE,
  DEV_DEFAULT_NAMES,
  DEV_PAYPAL_API_BASE,
  DevDefaultsError,
  devDefaultsRule,
  generateDevDefaults,
  mergeDevDefaults,
  readDevDefaults,
  withDevDefaults,
} from './devDefaults';

describe('local dev defaults (embedded dev mode)', () => {
  let dir: string;
  const file = () => path.join(dir, DEV_DEFAULTS_FILE);
  const mode = (f: string) => fs.statSync(f).mode & 0o777;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-devdefaults-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('the rule', () => {
    test.each([
      [{}, true],
      [{ NODE_ENV: 'development' }, true],
      [{ NODE_ENV: 'test' }, true],
      [{ DATABASE_URL: '' }, true], // empty counts as unset, as in loadConfig
      [{ NODE_ENV: 'production' }, false],
      [{ DATABASE_URL: 'postgres://u@h/db' }, false],
      [{ SETTLE_DEV_DEFAULTS: 'off' }, false],
      // only when clearly local: a loopback HOST (unset on the embedded default is 127.0.0.1), or SETTLE_DEV_DEFAULTS=on
      [{ HOST: '127.0.0.1' }, true],
      [{ HOST: 'localhost' }, true],
      [{ HOST: '::1' }, true],
      [{ HOST: '127.0.0.2' }, true],
      [{ HOST: '' }, true],
      [{ HOST: '0.0.0.0' }, false],
      [{ HOST: '::' }, false],
      [{ HOST: '10.1.2.3' }, false],
      [{ HOST: '127.example.com' }, false],
      [{ HOST: '0.0.0.0', SETTLE_DEV_DEFAULTS: 'on' }, true],
      [{ HOST: '0.0.0.0', SETTLE_DEV_DEFAULTS: 'on', NODE_ENV: 'production' }, false],
      [{ SETTLE_DEV_DEFAULTS: 'on', DATABASE_URL: 'postgres://u@h/db' }, false],
    ])('%j -> on: %s', (env, on) => {
      expect(devDefaultsRule(env).on).toBe(on);
    });

    test('an embedded, non-production start on a non-loopback host is warned about; other off cases are not', () => {
      expect(devDefaultsRule({ HOST: '0.0.0.0' })).toMatchObject({ on: false, warn: true, reason: expect.stringContaining('HOST=0.0.0.0 is not a loopback address') });
      expect(devDefaultsRule({ NODE_ENV: 'production', HOST: '0.0.0.0' }).warn).toBe(false);
      expect(devDefaultsRule({ DATABASE_URL: 'postgres://u@h/db', HOST: '0.0.0.0' }).warn).toBe(false);
      expect(devDefaultsRule({ SETTLE_DEV_DEFAULTS: 'off', HOST: '0.0.0.0' }).warn).toBe(false);
      const out = withDevDefaults({ DATA_DIR: dir, HOST: '0.0.0.0' });
      expect(out).toMatchObject({ report: null, warn: true });
      expect(out.env.ADMIN_API_KEY).toBeUndefined();
      expect(fs.existsSync(file())).toBe(false);
    });
  });

  test('production never reads or writes a dev defaults file, even one left in DATA_DIR', () => {
    const env = { DATA_DIR: dir, NODE_ENV: 'production' };
    const out = withDevDefaults(env);
    expect(out.report).toBeNull();
    expect(out.env).toEqual(env);
    expect(fs.existsSync(file())).toBe(false);
    // a file from an earlier dev run is ignored too
    withDevDefaults({ DATA_DIR: dir });
    const again = withDevDefaults(env);
    expect(again.env).toEqual(env);
    expect(loadConfig(again.env).ADMIN_API_KEY).toBeUndefined();
  });

  test('a server database (DATABASE_URL) or SETTLE_DEV_DEFAULTS=off generates nothing', () => {
    for (const env of [{ DATA_DIR: dir, DATABASE_URL: 'postgres://u@h/db' }, { DATA_DIR: dir, SETTLE_DEV_DEFAULTS: 'off' }]) {
      expect(withDevDefaults(env)).toMatchObject({ report: null, env });
      expect(fs.existsSync(file())).toBe(false);
    }
  });

  test('first start generates every value into DATA_DIR/dev-defaults.json with mode 0600; the config accepts them', () => {
    const prev = process.umask(0o000); // the most permissive umask must not widen the file
    try {
      const out = withDevDefaults({ DATA_DIR: dir });
      expect(out.report).toMatchObject({ file: file(), created: true, permissionsFixed: false, applied: [...DEV_DEFAULT_NAMES], fromEnvironment: [] });
      expect(mode(file())).toBe(0o600);
      const c = loadConfig(out.env);
      expect(c.ADMIN_API_KEY!.length).toBeGreaterThanOrEqual(24);
      expect(c.STRIPE_WEBHOOK_SECRET).toMatch(/^whsec_/);
      expect(c.STRIPE_CONNECT_WEBHOOK_SECRET).toMatch(/^whsec_/);
      expect(c.STRIPE_WEBHOOK_SECRET).not.toBe(c.STRIPE_CONNECT_WEBHOOK_SECRET);
      expect(c.PAYPAL_WEBHOOK_ID).toBeTruthy();
      expect(c.PAYPAL_API_BASE).toBe(DEV_PAYPAL_API_BASE);
      expect(c.CRM_BASE_URL).toBe(DEV_CRM_BASE_URL);
      expect(c.CRM_API_KEY).toBeTruthy();
      expect(readDevDefaults(file())).toEqual(Object.fromEntries(DEV_DEFAULT_NAMES.map((n) => [n, out.env[n]])));
    } finally {
      process.umask(prev);
    }
  });

  test('later starts reuse the same values; the report never carries a value', () => {
    const first = withDevDefaults({ DATA_DIR: dir });
    const second = withDevDefaults({ DATA_DIR: dir });
    expect(second.report!.created).toBe(false);
    for (const n of DEV_DEFAULT_NAMES) expect(second.env[n]).toBe(first.env[n]);
    const logged = JSON.stringify([first.report, second.report]);
    for (const n of ['ADMIN_API_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_CONNECT_WEBHOOK_SECRET', 'CRM_API_KEY'] as const) expect(logged).not.toContain(first.env[n]!);
  });

  test('explicit environment variables win over the file', () => {
    withDevDefaults({ DATA_DIR: dir });
    const env = { DATA_DIR: dir, ADMIN_API_KEY: 'mine-mine-mine-mine-mine-mine', STRIPE_WEBHOOK_SECRET: 'whsec_mine', CRM_BASE_URL: 'http://crm.internal:8080', PAYPAL_WEBHOOK_ID: 'WH-MINE' };
    const out = withDevDefaults(env);
    expect(out.env).toMatchObject(env);
    expect(out.report!.fromEnvironment.sort()).toEqual(['ADMIN_API_KEY', 'CRM_BASE_URL', 'PAYPAL_WEBHOOK_ID', 'STRIPE_WEBHOOK_SECRET']);
    // a generated CRM key is never sent to a CRM someone named
    expect(out.env.CRM_API_KEY).toBeUndefined();
    expect(out.report!.applied.sort()).toEqual(['PAYPAL_API_BASE', 'STRIPE_CONNECT_WEBHOOK_SECRET']);
  });

  test('PayPal credentials mean the real PayPal: no simulator address, no generated webhook id', () => {
    const m = mergeDevDefaults({ PAYPAL_CLIENT_ID: 'sandbox-app' }, generateDevDefaults());
    expect(m.env.PAYPAL_API_BASE).toBeUndefined();
    expect(m.env.PAYPAL_WEBHOOK_ID).toBeUndefined();
    expect(m.applied).not.toContain('PAYPAL_API_BASE');
    expect(m.applied).toContain('ADMIN_API_KEY');
  });

  test('an empty variable counts as unset (as in loadConfig)', () => {
    const values = generateDevDefaults();
    expect(mergeDevDefaults({ ADMIN_API_KEY: '' }, values).env.ADMIN_API_KEY).toBe(values.ADMIN_API_KEY);
  });

  test('a file readable by others is narrowed to 0600 and reported', () => {
    withDevDefaults({ DATA_DIR: dir });
    fs.chmodSync(file(), 0o644);
    const out = withDevDefaults({ DATA_DIR: dir });
    expect(out.report!.permissionsFixed).toBe(true);
    expect(mode(file())).toBe(0o600);
  });

  test('a damaged file stops startup with a message naming it (never silently new secrets)', () => {
    fs.writeFileSync(file(), '{"values": {"ADMIN_API_KEY": "x"}}');
    expect(() => withDevDefaults({ DATA_DIR: dir })).toThrow(DevDefaultsError);
    expect(() => withDevDefaults({ DATA_DIR: dir })).toThrow(new RegExp(`${DEV_DEFAULTS_FILE} lacks STRIPE_WEBHOOK_SECRET`));
    fs.writeFileSync(file(), 'not json');
    expect(() => withDevDefaults({ DATA_DIR: dir })).toThrow(/is not JSON; delete it/);
  });

  test('DATA_DIR is created when missing; values differ between data directories', () => {
    const a = withDevDefaults({ DATA_DIR: path.join(dir, 'a', 'nested') });
    const b = withDevDefaults({ DATA_DIR: path.join(dir, 'b') });
    expect(a.env.ADMIN_API_KEY).not.toBe(b.env.ADMIN_API_KEY);
    expect(mode(path.join(dir, 'a', 'nested', DEV_DEFAULTS_FILE))).toBe(0o600);
  });
});
