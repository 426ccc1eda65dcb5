/**
 * The rate limiter end to end in front of the real application: an outer Express app mounts the
 * limiters exactly where http/app.ts should (public /pay per IP, webhooks per IP, /v1 per API
 * key) and then the real createApp(runtime). Beyond each budget the answer is 429 problem+json
 * with Retry-After; other keys and other surfaces keep their own budgets; within budget the real
 * app answers as usual.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import express from 'express';
import { createApp } from '../../http/app';
import { byApiKey, byIp, rateLimit } from '../../http/rateLimit';
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
  const pay = rateLimit({ name: 'public', capacity: 5, refillPerSecond: 0.5, key: byIp, now });
  const hooks = rateLimit({ name: 'webhooks', capacity: 8, refillPerSecond: 4, key: byIp, now });
  const v1 = rateLimit({ name: 'api', capacity: 6, refillPerSecond: 2, key: byApiKey, now });
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, STRIPE_WEBHOOK_SECRET: PLATFORM_SECRET, STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET, LOG_LEVEL: 'warn' });
    keyA = (await tenantWithKey(svc.url, 'rl-a')).apiKey;
    keyB = (await tenantWithKey(svc.url, 'rl-b')).apiKey;
    const outer = express();
    outer.set('trust proxy', 'loopback');
    outer.use('/pay', pay);
    outer.use('/webhooks', hooks);
    outer.use('/v1', v1);
    outer.use(createApp(svc.runtime));
    server = http.createServer(outer);
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
    expect(pay.counters).toMatchObject({ allowed: 5, limited: 2 });
    t += 2000;
  });

  test('webhooks /webhooks/*: 8 per IP, then 429 Retry-After 1 — before verification stores anything', async () => {
    const e = () => stripeEvent('payment_intent.processing');
    const got: number[] = [];
    for (let i = 0; i < 8; i++) got.push((await deliver(`${url}/webhooks/stripe`, e(), PLATFORM_SECRET)).status);
    expect(got).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    const inbox = async () => Number((await svc.runtime.db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_inbox')).rows[0]!.n);
    const before = await inbox();
    const r = await deliver(`${url}/webhooks/stripe/connect`, e(), CONNECT_SECRET);
    expect(r.status).toBe(429);
    expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/rate-limited', limit: 'webhooks' });
    expect(await inbox()).toBe(before);
    t += 250; // one token at 4/s
    expect((await deliver(`${url}/webhooks/stripe`, e(), PLATFORM_SECRET)).status).toBe(200);
    await expect429(await fetch(`${url}/webhooks/stripe`, { method: 'POST', body: '{}' }), 'webhooks', '1');
  });

  test('API /v1/*: 6 per key; another key (and the admin key) keep their own budget; no key counts per IP', async () => {
    const a = client(url, keyA);
    const got: number[] = [];
    for (let i = 0; i < 6; i++) got.push((await a.get('/v1/invoices')).status);
    expect(got).toEqual([200, 200, 200, 200, 200, 200]);
    const r = await fetch(`${url}/v1/invoices`, { headers: { authorization: `Bearer ${keyA}` } });
    await expect429(r, 'api', '1');
    expect((await client(url, keyB).get('/v1/invoices')).status).toBe(200);
    expect((await client(url, ADMIN_KEY).get('/v1/admin/projections')).status).toBe(200);
    // the limiter answers before authentication: a flood of wrong keys never reaches the key lookup
    const anon: number[] = [];
    for (let i = 0; i < 7; i++) anon.push((await fetch(`${url}/v1/invoices`)).status);
    expect(anon).toEqual([401, 401, 401, 401, 401, 401, 429]);
    t += 500;
    expect((await a.get('/v1/invoices')).status).toBe(200);
    expect((await a.get('/v1/invoices')).status).toBe(429);
  });

  test('health and the OpenAPI document are never limited', async () => {
    for (let i = 0; i < 30; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/openapi.json`)).status).toBe(200);
  });
});
