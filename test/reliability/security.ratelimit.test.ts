/**
 * The rate limiters of the real application (createApp with the budgets below from the
 * environment and a test clock): public /pay per IP, webhooks failing verification per IP (verified
 * deliveries are not throttled), /v1 failed authentication
 * per IP before the key lookup and then per verified key id. Beyond each budget the answer is 429
 * problem+json with Retry-After; other keys and other surfaces keep their own budgets; within
 * budget the real app answers as usual. Client addresses come from X-Forwarded-For (the test
 * client is the trusted loopback proxy).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createApp } from '../../http/app';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, type TestService } from '../support/service';
import { deliver, stripeEvent } from '../support/stripeEvents';
import { CONNECT_SECRET, PLATFORM_SECRET, tenantWithKey } from './security.support';

describe('security: rate limits in front of the real app', () => {
  let svc: TestService;
  let server: http.Server;
  let url: string;
  const schema = `sec_r_${randomBytes(5).toString('hex')}`;
  let t = 1_000_000;
  const now = () => t;
  let keyA: string;
  let keyB: string;
  /** Key lookups that reached the tenant directory. */
  let lookups = 0;

  beforeAll(async () => {
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_WEBHOOK_SECRET: PLATFORM_SECRET,
      STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PUBLIC_BURST: '5',
      RATE_LIMIT_PUBLIC_PER_SECOND: '0.5',
      RATE_LIMIT_WEBHOOK_BURST: '8',
      RATE_LIMIT_WEBHOOK_PER_SECOND: '4',
      RATE_LIMIT_API_BURST: '6',
      RATE_LIMIT_API_PER_SECOND: '2',
      RATE_LIMIT_AUTH_BURST: '5',
      RATE_LIMIT_AUTH_PER_SECOND: '1',
    });
    keyA = (await tenantWithKey(svc.url, 'rl-a')).apiKey;
    keyB = (await tenantWithKey(svc.url, 'rl-b')).apiKey;
    const tenants = svc.runtime.tenants;
    const lookup = tenants.authenticate.bind(tenants);
    tenants.authenticate = async (key: string) => {
      lookups++;
      return lookup(key);
    };
    server = http.createServer(createApp(svc.runtime.httpServices(), { now }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  async function expect429(r: Response, limit: string, retryAfter: string): Promise<void> {
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe(retryAfter);
    expect(r.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(await r.json()).toMatchObject({ type: 'https://settle.dev/problems/rate-limited', status: 429, limit });
  }

  test('public /pay/*: 5 per IP, then 429 Retry-After 2', async () => {
    for (let i = 0; i < 5; i++) expect((await fetch(`${url}/pay/cancel`)).status).toBe(200);
    await expect429(await fetch(`${url}/pay/cancel`), 'public', '2');
    await expect429(await fetch(`${url}/pay/paypal/return?token=ABCDE12345`), 'public', '2');
    // another client address (through the trusted proxy) has its own budget
    expect((await fetch(`${url}/pay/cancel`, { headers: { 'x-forwarded-for': '198.51.100.9' } })).status).toBe(200);
    t += 2000;
  });

  test('webhooks /webhooks/*: verified deliveries are never throttled; 8 failed verifications per IP, then 429 Retry-After 1 before verifying', async () => {
    const e = () => stripeEvent('payment_intent.processing');
    const inbox = async () => Number((await svc.runtime.db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_inbox')).rows[0]!.n);
    // a provider's burst (after an outage) far beyond the budget of 8: every verified delivery is stored
    const first = await inbox();
    const burst = await Promise.all(Array.from({ length: 40 }, () => deliver(`${url}/webhooks/stripe`, e(), PLATFORM_SECRET)));
    expect(burst.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(await inbox()).toBe(first + 40);
    // requests that fail verification (wrong secret, stale timestamp, no signature) spend the address's budget
    const failed: number[] = [];
    for (let i = 0; i < 6; i++) failed.push((await deliver(`${url}/webhooks/stripe`, e(), 'whsec_not_the_secret')).status);
    failed.push((await deliver(`${url}/webhooks/stripe/connect`, e(), CONNECT_SECRET, { timestamp: Math.floor(Date.now() / 1000) - 3600 })).status);
    failed.push((await fetch(`${url}/webhooks/stripe`, { method: 'POST', body: '{}' })).status);
    expect(failed).toEqual([400, 400, 400, 400, 400, 400, 400, 400]);
    // spent: the address is refused before verification, a genuine delivery from it too, and nothing is stored
    const before = await inbox();
    const r = await deliver(`${url}/webhooks/stripe/connect`, e(), CONNECT_SECRET);
    expect(r.status).toBe(429);
    expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/rate-limited', limit: 'webhooks' });
    await expect429(await fetch(`${url}/webhooks/stripe`, { method: 'POST', body: '{}' }), 'webhooks', '1');
    expect(await inbox()).toBe(before);
    // another address keeps its own budget
    const other = await fetch(`${url}/webhooks/stripe`, { method: 'POST', body: '{}', headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(other.status).toBe(400);
    t += 250; // one token at 4/s
    expect((await deliver(`${url}/webhooks/stripe`, e(), PLATFORM_SECRET)).status).toBe(200);
    t += 2000;
  });

  test('API /v1/*: 6 per verified key; another key (and the admin key) keep their own budget; no key counts against the address', async () => {
    const a = client(url, keyA);
    const got: number[] = [];
    for (let i = 0; i < 6; i++) got.push((await a.get('/v1/invoices')).status);
    expect(got).toEqual([200, 200, 200, 200, 200, 200]);
    const r = await fetch(`${url}/v1/invoices`, { headers: { authorization: `Bearer ${keyA}` } });
    await expect429(r, 'api', '1');
    expect((await client(url, keyB).get('/v1/invoices')).status).toBe(200);
    expect((await client(url, ADMIN_KEY).get('/v1/admin/projections')).status).toBe(200);
    // no credential: 5 refusals per address, then 429
    const anon: number[] = [];
    for (let i = 0; i < 6; i++) anon.push((await fetch(`${url}/v1/invoices`, { headers: { 'x-forwarded-for': '198.51.100.1' } })).status);
    expect(anon).toEqual([401, 401, 401, 401, 401, 429]);
    t += 500;
    expect((await a.get('/v1/invoices')).status).toBe(200);
    expect((await a.get('/v1/invoices')).status).toBe(429);
    t += 10_000;
  });

  test('a flood of made-up keys from one address is 429 before the key lookup; a real key keeps its own bucket', async () => {
    const flooder = { 'x-forwarded-for': '203.0.113.66' };
    const b = (extra: Record<string, string> = {}) => fetch(`${url}/v1/invoices`, { headers: { authorization: `Bearer ${keyB}`, ...extra } });
    // keyB (from its own address) spends 2 of its 6
    expect([(await b()).status, (await b()).status]).toEqual([200, 200]);
    const before = lookups;
    const flood: number[] = [];
    for (let i = 0; i < 200; i++) {
      const fake = `sk_settle_${randomBytes(24).toString('base64url')}`;
      flood.push((await fetch(`${url}/v1/invoices`, { headers: { authorization: `Bearer ${fake}`, ...flooder } })).status);
    }
    expect(flood.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(flood.slice(5).every((s) => s === 429)).toBe(true);
    expect(lookups - before).toBe(5); // 195 made-up keys never reached the key lookup
    const refused = await fetch(`${url}/v1/invoices`, { headers: { authorization: 'Bearer sk_settle_madeup', ...flooder } });
    await expect429(refused, 'auth', '1');
    // keyB's bucket is exactly where it was: 4 left, then 429
    const rest: number[] = [];
    for (let i = 0; i < 5; i++) rest.push((await b()).status);
    expect(rest).toEqual([200, 200, 200, 200, 429]);
  });

  test('health and the OpenAPI document are never limited', async () => {
    for (let i = 0; i < 30; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/openapi.json`)).status).toBe(200);
  });
});
