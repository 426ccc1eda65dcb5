/**
 * The service configured for Stripe, end to end over HTTP: commands that call Stripe go to the
 * official stripe-mock (STRIPE_API_BASE; `npm test` starts it), which validates every request
 * against Stripe's API schema; state lives in a real PostgreSQL (DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl } from '../test/support/databases';
import { startTestService, type TestService } from '../test/support/service';

const apiBase = process.env.STRIPE_API_BASE;
if (!apiBase) throw new Error('STRIPE_API_BASE is not set: run the tests with `npm test`, which starts stripe-mock');

describe('Settle on Stripe (stripe-mock + PostgreSQL)', () => {
  let svc: TestService;
  const schema = `sm_${randomBytes(5).toString('hex')}`;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_SECRET_KEY: 'sk_test_123',
      STRIPE_API_BASE: apiBase,
    });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'saas', name: 'SaaS' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/saas/api-keys', {})).body.apiKey);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    const c = new Client({ connectionString: databaseUrl() });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  test('a plan is created as a Stripe product and price; a price change creates a new price and archives the old one', async () => {
    const plan = await api.post<{ providerProductId: string; providerPriceId: string }>('/v1/plans', { planId: 'pro', name: 'Pro', amount: { amount: 2900, currency: 'EUR' }, interval: 'month' });
    expect(plan.status).toBe(201);
    expect(plan.body.providerProductId).toMatch(/^prod_/);
    expect(plan.body.providerPriceId).toMatch(/^price_/);
    const changed = await api.post<{ providerPriceId: string; archivedProviderPriceIds: string[] }>('/v1/plans/pro/price', { amount: { amount: 3900, currency: 'EUR' } });
    expect(changed.status).toBe(200);
    expect(changed.body.archivedProviderPriceIds).toEqual([plan.body.providerPriceId]);
  });

  test('checkout creates a Stripe Checkout Session once; the second tab gets the same session', async () => {
    const [a, b] = await Promise.all([api.post<{ sessionId: string; url: string }>('/v1/customers/cus-1/checkout', { planId: 'pro' }), api.post<{ sessionId: string }>('/v1/customers/cus-1/checkout', { planId: 'pro' })]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.sessionId).toMatch(/^cs_/);
    expect(b.body.sessionId).toBe(a.body.sessionId);
    expect(a.body.url).toMatch(/^https:\/\//);
  });
});
