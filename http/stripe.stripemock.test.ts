/**
 * The service configured for Stripe, end to end over HTTP: commands that call Stripe go to the
 * official stripe-mock (STRIPE_API_BASE; `npm test` starts it), which validates every request
 * against Stripe's API schema; state lives in a real PostgreSQL (DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { startTestService, type TestService } from '../test/support/service';
import { deliver, stripeEvent } from '../test/support/stripeEvents';

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
      STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_connect',
      STRIPE_APPLICATION_FEE_BPS: '250',
    });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'saas', name: 'SaaS' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/saas/api-keys', {})).body.apiKey);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
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

  test("an invoice is paid through a Checkout Session on the tenant's connected account, once Stripe says it can take charges", async () => {
    const inv = await api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: 'client-9',
      customer: { name: 'Client', email: 'client@example.com' },
      currency: 'EUR',
      lineItems: [{ description: 'Session', quantity: 2, unitAmount: 6000 }],
      dueDate: '2026-12-31',
      allowedPaymentMethods: ['stripe_connect'],
    });
    const pay = () => api.post<{ provider: string; reference: string; url: string; code?: string }>(`/v1/invoices/${inv.body.invoiceId}/payment-sessions`, { method: 'stripe_connect' });
    const none = await pay();
    expect(none.status).toBe(409);
    expect(none.body.code).toBe('no_connected_account');
    const admin = client(svc.url, ADMIN_KEY);
    expect((await admin.post('/v1/tenants/saas/stripe-account', { accountId: 'acct_1PgafTB7WZ01zgkW' })).status).toBe(200);
    expect((await pay()).status).toBe(409); // linked, but Stripe has not enabled charges yet
    const updated = stripeEvent('account.updated', (o, ev) => {
      ev.account = o.id;
      o.metadata = { tenant_id: 'saas' };
    });
    expect((await deliver(`${svc.url}/webhooks/stripe/connect`, updated, 'whsec_connect')).status).toBe(200);
    const started = await pay();
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ provider: 'stripe', reference: expect.stringMatching(/^cs_/) });
    expect((await api.post(`/v1/invoices/${inv.body.invoiceId}/payment-sessions`, { method: 'paypal' })).status).toBe(422); // not an allowed method
  });
});
