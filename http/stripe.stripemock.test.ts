/**
 * The service configured for Stripe, end to end over HTTP: commands that call Stripe go to the
 * official stripe-mock (STRIPE_API_BASE; `npm test` starts it), which validates every request
 * against Stripe's API schema; state lives in a real PostgreSQL (DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { deliverApplied, startTestService, type TestService } from '../test/support/service';
import { stripeEvent } from '../test/support/stripeEvents';

const apiBase = process.env.STRIPE_API_BASE;
if (!apiBase) throw new Error('STRIPE_API_BASE is not set: run the tests with `npm test`, which starts stripe-mock');

/** A subscription activated the way Stripe does it: checkout.session.completed, then customer.subscription.created (each applied before the next). */
async function activateOn(svc: TestService, customerId: string, subscriptionId: string, priceId: string): Promise<void> {
  const md = { tenant_id: 'saas', customer_id: customerId };
  const completed = stripeEvent('checkout.session.completed', (o) => Object.assign(o, { mode: 'subscription', customer: `cus_${customerId}`, subscription: subscriptionId, payment_intent: null, metadata: md }));
  const created = stripeEvent('customer.subscription.created', (o) => {
    Object.assign(o, { id: subscriptionId, customer: `cus_${customerId}`, metadata: md });
    o.items.data[0].price = { ...o.items.data[0].price, id: priceId };
  });
  for (const e of [completed, created]) expect((await deliverApplied(svc, `${svc.url}/webhooks/stripe`, e, 'whsec_platform')).status).toBe(200);
}

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
      STRIPE_WEBHOOK_SECRET: 'whsec_platform',
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

  test('checkout of another plan expires the pending session at Stripe and creates a new one', async () => {
    await api.post('/v1/plans', { planId: 'pro-year', name: 'Pro yearly', amount: { amount: 29000, currency: 'EUR' }, interval: 'year' });
    const monthly = await api.post<{ sessionId: string }>('/v1/customers/cus-2/checkout', { planId: 'pro' });
    const yearly = await api.post<{ sessionId: string; reused: boolean }>('/v1/customers/cus-2/checkout', { planId: 'pro-year' });
    expect([monthly.status, yearly.status]).toEqual([201, 201]);
    expect(yearly.body).toMatchObject({ reused: false, sessionId: expect.stringMatching(/^cs_/) });
  });

  test('plan change at the SDK API version: stock stripe-mock (an older spec) refuses the body (400), the API answers 422 and the change is recorded refused, not left pending', async () => {
    await activateOn(svc, 'cus-sm', 'sub_sm1', (await api.get<{ providerPriceId: string }>('/v1/plans/pro')).body.providerPriceId);
    const refused = await api.post<{ code?: string; detail?: string }>('/v1/customers/cus-sm/subscription/plan-change', { planId: 'pro-year' });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toMatch(/billing_cycle_anchor.*not a string/);
    const types = (await svc.runtime.eventStore.readStream('subscription-saas.cus-sm')).map((e) => e.type);
    expect(types).toContain('PlanChangeRefused');
    // not blocked by a change that can never complete: the next try is another refusal, not 409 plan_change_pending
    expect((await api.post('/v1/customers/cus-sm/subscription/plan-change', { planId: 'pro-year' })).status).toBe(422);
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
    expect((await deliverApplied(svc, `${svc.url}/webhooks/stripe/connect`, updated, 'whsec_connect')).body).toMatchObject({ status: 'processed' });
    const started = await pay();
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ provider: 'stripe', reference: expect.stringMatching(/^cs_/) });
    expect((await api.post(`/v1/invoices/${inv.body.invoiceId}/payment-sessions`, { method: 'paypal' })).status).toBe(422); // not an allowed method
  });
});

describe('STRIPE_API_VERSION: the compatibility path with stock stripe-mock', () => {
  // stripe-mock validates every request against the one OpenAPI spec it embeds (2026-08-26.dahlia
  // for v0.203.0) whatever Stripe-Version says; the SDK pins a later version (2026-09-30.endive+),
  // whose subscription update takes billing_cycle_anchor as an object. Pinned to the mock's
  // version, Settle sends the string form that version documents, and the plan change goes through.
  let svc: TestService;
  const schema = `smv_${randomBytes(5).toString('hex')}`;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_SECRET_KEY: 'sk_test_123',
      STRIPE_API_BASE: apiBase,
      STRIPE_API_VERSION: '2026-08-26.dahlia',
      STRIPE_WEBHOOK_SECRET: 'whsec_platform',
    });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'saas', name: 'SaaS' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/saas/api-keys', {})).body.apiKey);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  test('monthly to yearly (anchor reset now) is accepted by stripe-mock and is no longer refused', async () => {
    const pro = await api.post<{ providerPriceId: string }>('/v1/plans', { planId: 'pro', name: 'Pro', amount: { amount: 2900, currency: 'EUR' }, interval: 'month' });
    expect((await api.post('/v1/plans', { planId: 'pro-year', name: 'Pro yearly', amount: { amount: 29000, currency: 'EUR' }, interval: 'year' })).status).toBe(201);
    await activateOn(svc, 'cus-v', 'sub_v1', pro.body.providerPriceId);
    const r = await api.post<{ outcome: string }>('/v1/customers/cus-v/subscription/plan-change', { planId: 'pro-year' });
    expect([200, 202]).toContain(r.status);
    expect(['captured', 'pending']).toContain(r.body.outcome);
    expect((await svc.runtime.eventStore.readStream('subscription-saas.cus-v')).map((e) => e.type)).not.toContain('PlanChangeRefused');
  });
});
