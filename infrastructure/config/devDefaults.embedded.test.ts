/**
 * The dev-defaults rule at the real entry point: the built service (dist/main/server.js) as a
 * child process on the embedded default (PGlite in a temp DATA_DIR). In production it generates
 * nothing, so there is no admin access and no webhook secret; in dev mode a restart keeps the
 * secrets it generated the first time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { client } from '../../test/support/api';
import { spawnService, type ServiceProcess } from '../../test/support/process';
import { DEV_DEFAULTS_FILE } from './devDefaults';

jest.setTimeout(120_000);

describe('dev defaults at the process entry point (embedded, child process)', () => {
  let dataDir: string;
  let svc: ServiceProcess | undefined;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-devmode-'));
  });
  afterEach(async () => {
    await svc?.kill('SIGTERM');
    svc = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('NODE_ENV=production on the embedded default generates no secrets: no file, no admin key, webhooks not configured', async () => {
    svc = await spawnService({ DATA_DIR: dataDir, NODE_ENV: 'production', LOG_LEVEL: 'info' });
    expect(fs.existsSync(path.join(dataDir, DEV_DEFAULTS_FILE))).toBe(false);
    expect((await client(svc.url, 'dev_admin_0123456789abcdef0123456789').post('/v1/tenants', { tenantId: 'x', name: 'X' })).status).toBe(401);
    const hook = await fetch(`${svc.url}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' }, body: '{}' });
    expect(hook.status).toBe(503);
    expect(((await hook.json()) as { type: string }).type).toBe('https://settle.dev/problems/webhook-not-configured');
    expect(svc.output.join('')).not.toContain('dev defaults');
  });

  test('no NODE_ENV on a non-loopback HOST: no dev defaults (no file, no admin access), a warning in the log', async () => {
    svc = await spawnService({ DATA_DIR: dataDir, HOST: '0.0.0.0', LOG_LEVEL: 'info' });
    expect(fs.existsSync(path.join(dataDir, DEV_DEFAULTS_FILE))).toBe(false);
    expect((await client(svc.url, 'dev_admin_0123456789abcdef0123456789').post('/v1/tenants', { tenantId: 'x', name: 'X' })).status).toBe(401);
    const warning = svc.output
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .find((l) => l.msg.includes('is not a loopback address'));
    expect(warning).toMatchObject({ level: 'warn', msg: expect.stringContaining('HOST=0.0.0.0') });
  });

  test('HOST unset on the embedded default (npm start): listens on 127.0.0.1 only, dev defaults on, /healthz answers', async () => {
    svc = await spawnService({ DATA_DIR: dataDir, HOST: '', LOG_LEVEL: 'info' });
    expect(fs.existsSync(path.join(dataDir, DEV_DEFAULTS_FILE))).toBe(true);
    expect(await (await fetch(`${svc.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) {
      const port = new URL(svc.url).port;
      await expect(fetch(`http://${external.address}:${port}/healthz`)).rejects.toThrow();
    }
  });

  test('dev mode: the first start writes the file (0600) and a restart keeps the same admin key', async () => {
    svc = await spawnService({ DATA_DIR: dataDir, NODE_ENV: 'development', LOG_LEVEL: 'info' });
    const file = path.join(dataDir, DEV_DEFAULTS_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const { ADMIN_API_KEY: key } = (JSON.parse(fs.readFileSync(file, 'utf8')) as { values: Record<string, string> }).values;
    expect((await client(svc.url, key).post('/v1/tenants', { tenantId: 'dev1', name: 'Dev 1' })).status).toBe(201);
    expect(svc.output.join('')).not.toContain(key);
    await svc.kill('SIGTERM');

    svc = await spawnService({ DATA_DIR: dataDir, NODE_ENV: 'development', LOG_LEVEL: 'info' });
    expect((await client(svc.url, key).post('/v1/tenants', { tenantId: 'dev2', name: 'Dev 2' })).status).toBe(201);
    expect(svc.output.join('')).toContain(`read from ${file}`);
  });
});
