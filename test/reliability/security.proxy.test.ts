/**
 * TRUST_PROXY: which peers may set X-Forwarded-For / X-Forwarded-Proto. The client address
 * (per-IP rate limits) and TLS (Secure `__Host-` console cookies, HSTS) follow the forwarded
 * headers exactly as configured, and are ignored when the peer is not trusted.
 *
 * Part one: the setting as loadConfig parses it, applied the way createApp applies it, on a bare
 * Express app that echoes req.ip / req.secure (the whole matrix, fast). Part two: the real
 * service (PostgreSQL) with the default (loopback: the test client is the "proxy") and with a
 * proxy range the test client is not in.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import express from 'express';
import { ConfigError, loadConfig } from '../../infrastructure/config/config';
import { securityHeaders } from '../../http/middleware';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, type TestService } from '../support/service';

async function echoApp(trustProxy: string | undefined): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.set('trust proxy', loadConfig(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy }).TRUST_PROXY);
  app.use(securityHeaders());
  app.get('/who', (req, res) => {
    res.json({ ip: req.ip, secure: req.secure, protocol: req.protocol });
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('TRUST_PROXY: the setting', () => {
  const who = async (url: string, headers: Record<string, string>) => {
    const r = await fetch(`${url}/who`, { headers });
    return { ...((await r.json()) as { ip: string; secure: boolean }), hsts: r.headers.get('strict-transport-security') };
  };
  const fwd = { 'x-forwarded-for': '203.0.113.7, 198.51.100.2', 'x-forwarded-proto': 'https' };

  test.each([
    // [setting, expected client ip, secure]: the peer is 127.0.0.1, the chain is client 203.0.113.7 -> proxy 198.51.100.2 -> peer
    [undefined, '198.51.100.2', true], // default loopback: only the peer is trusted, so the hop before it is the client
    ['loopback', '198.51.100.2', true],
    ['1', '198.51.100.2', true], // one load balancer in front
    ['2', '203.0.113.7', true], // two hops trusted
    ['0', '127.0.0.1', false], // no proxy: forwarded headers ignored
    ['127.0.0.1, 198.51.100.0/24', '203.0.113.7', true], // the peer and the second proxy by address and CIDR
    ['10.0.0.0/8', '127.0.0.1', false], // the peer is not a trusted proxy: ignored
    ['192.168.1.5,fd00::/8', '127.0.0.1', false],
  ])('TRUST_PROXY=%s: client %s, secure %s', async (setting, ip, secure) => {
    const app = await echoApp(setting);
    try {
      const got = await who(app.url, fwd);
      expect(got.ip.replace(/^::ffff:/, '')).toBe(ip);
      expect(got.secure).toBe(secure);
      expect(got.hsts !== null).toBe(secure);
      // without forwarded headers the peer is the client, whatever the setting
      const direct = await who(app.url, {});
      expect(direct.ip.replace(/^::ffff:/, '')).toBe('127.0.0.1');
      expect(direct.secure).toBe(false);
      expect(direct.hsts).toBeNull();
    } finally {
      await app.close();
    }
  });

  test.each(['', 'yes', '10.0.0.0/33', '300.1.1.1', 'loopback, example.com', '::1/129', '1.2.3.4/8/9', '100'])('TRUST_PROXY=%j is refused at startup', (v) => {
    if (v === '') {
      // empty counts as unset: the default
      expect(loadConfig({ TRUST_PROXY: v }).TRUST_PROXY).toEqual(['loopback']);
      return;
    }
    expect(() => loadConfig({ TRUST_PROXY: v })).toThrow(ConfigError);
    expect(() => loadConfig({ TRUST_PROXY: v })).toThrow(/TRUST_PROXY: must be a hop count/);
  });
});

describe('TRUST_PROXY: the real service', () => {
  const schemas: string[] = [];
  const started: TestService[] = [];
  async function service(extra: Record<string, string>): Promise<TestService> {
    const schema = `sec_p_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    const svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, KAFKA_BROKERS: undefined, LOG_LEVEL: 'warn', RATE_LIMIT_PUBLIC_BURST: '2', RATE_LIMIT_PUBLIC_PER_SECOND: '0.01', ...extra });
    started.push(svc);
    return svc;
  }
  afterAll(async () => {
    for (const s of started) await s.shutdown('test end');
    for (const s of schemas) await dropSchema(s);
  });

  const statuses = async (url: string, forwardedFor: string[]) => {
    const out: number[] = [];
    for (const f of forwardedFor) out.push((await fetch(`${url}/pay/cancel`, { headers: { 'x-forwarded-for': f } })).status);
    return out;
  };

  test('default (loopback proxy): per-IP limits follow X-Forwarded-For; X-Forwarded-Proto https gives HSTS and a Secure __Host- cookie', async () => {
    const svc = await service({});
    // 2 per client address: three different forwarded clients each get their own budget
    expect(await statuses(svc.url, ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2', '203.0.113.3'])).toEqual([200, 200, 429, 200, 200]);
    const r = await fetch(`${svc.url}/admin/sign-in`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(r.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    expect(r.headers.getSetCookie()[0]).toMatch(/^__Host-settle_console_signin=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure;/);
  });

  test('a peer outside TRUST_PROXY: X-Forwarded-For and X-Forwarded-Proto are ignored (no spoofed buckets, no HSTS, no Secure cookie)', async () => {
    const svc = await service({ TRUST_PROXY: '10.0.0.0/8' });
    // every request is the peer 127.0.0.1 whatever it claims: a spoofed header buys no fresh bucket
    expect(await statuses(svc.url, ['203.0.113.1', '203.0.113.2', '203.0.113.3'])).toEqual([200, 200, 429]);
    const r = await fetch(`${svc.url}/admin/sign-in`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(r.headers.get('strict-transport-security')).toBeNull();
    expect(r.headers.getSetCookie()[0]).toMatch(/^settle_console_signin=[^;]+; Path=\/admin\/sign-in; HttpOnly; SameSite=Strict; Max-Age=3600$/);
  });
});
