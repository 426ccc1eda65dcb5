/**
 * Provider idempotency keys fit the provider's limit for every valid input (billing issue #16
 * item 6): a tenant id of 100 characters (the longest /v1/tenants takes) and an Idempotency-Key of
 * 255 characters (the longest the API takes), through the HTTP API, against the PayPal simulator
 * (which refuses a PayPal-Request-Id over Orders v2's 108 characters, as PayPal does) and
 * stripe-mock behind a recording proxy (Stripe's Idempotency-Key: at most 255 characters). A
 * permanent provider refusal is not shown to the payer as "try again" (503).
 * Real PostgreSQL (DATABASE_URL), stripe-mock (STRIPE_API_BASE).
 */
import { randomBytes } from 'node:crypto';
import { fold } from '../domain/shared/decider';
import { invoiceDecider, type InvoiceEvent, type InvoiceState } from '../domain/invoice/invoice';
import { PROVIDER_IDEMPOTENCY_KEY_LENGTH, PROVIDER_IDEMPOTENCY_KEY_LIMITS } from '../infrastructure/providers/idempotencyKeys';
import { startPayPalSimulator, type PayPalSimulator } from '../test/simulators/paypal';
import { dropSchema } from '../test/support/databases';
import type { TestService } from '../test/support/service';
import { header, linkConnectedAccount, RecordingProxy, securityService, stripeMockBase, tenantWithKey } from '../test/reliability/security.support';

describe('payment sessions for the longest tenant ids and Idempotency-Keys (PayPal simulator, stripe-mock, PostgreSQL)', () => {
  let sim: PayPalSimulator;
  let proxy: RecordingProxy;
  let svc: TestService;
  const schema = `pk_${randomBytes(5).toString('hex')}`;
  // 100 characters, the longest tenant id
  const tenantId = `t${'-long'.repeat(19)}${randomBytes(2).toString('hex')}`;
  let api: Awaited<ReturnType<typeof tenantWithKey>>['api'];

  beforeAll(async () => {
    expect(tenantId).toHaveLength(100);
    sim = await startPayPalSimulator();
    proxy = new RecordingProxy(new URL(stripeMockBase()));
    await proxy.start();
    svc = await securityService(schema, 'warn', {
      STRIPE_API_BASE: proxy.url,
      PAYPAL_API_BASE: sim.url,
      PAYPAL_CLIENT_ID: sim.clientId,
      PAYPAL_CLIENT_SECRET: sim.clientSecret,
      PAYPAL_WEBHOOK_ID: sim.webhookId,
      PAYER_LINK_SECRET: randomBytes(32).toString('hex'),
    });
    ({ api } = await tenantWithKey(svc.url, tenantId));
    await linkConnectedAccount(svc, tenantId, 'acct_1PgafTB7WZ01zgkW');
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await proxy?.stop();
    await sim?.close();
    await dropSchema(schema);
  });

  const invoiceState = async (id: string) => fold<InvoiceEvent, InvoiceState>(invoiceDecider, (await svc.runtime.eventStore.readStream(`invoice-${tenantId}.${id}`)).map((e) => ({ type: e.type, data: e.data })) as never);
  const maxKey = (label: string) => `${label}-${randomBytes(4).toString('hex')}-`.padEnd(255, 'k');

  async function invoice(methods: string[], key?: string): Promise<string> {
    const inv = await api.post<{ invoiceId: string }>(
      '/v1/invoices',
      { customerId: 'c'.repeat(100), customer: { name: 'Client', email: 'client@example.com' }, currency: 'EUR', lineItems: [{ description: 'Session', quantity: 1, unitAmount: 4200 }], dueDate: '2026-12-31', allowedPaymentMethods: methods },
      key ? { 'idempotency-key': key } : {},
    );
    expect(inv.status).toBe(201);
    return inv.body.invoiceId;
  }

  test('PayPal: with and without an Idempotency-Key of 255 characters the order is created, within PayPal-Request-Id 108, and the invoice is paid', async () => {
    const key = maxKey('paypal');
    const invoiceId = await invoice(['paypal'], maxKey('inv'));
    const sessions = [
      await api.post<{ reference: string }>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' }, { 'idempotency-key': key }),
      await api.post<{ reference: string }>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' }, { 'idempotency-key': key }),
      await api.post<{ reference: string }>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' }),
    ];
    expect(sessions.map((s) => s.status)).toEqual([201, 201, 201]);
    expect(sessions[1]!.body.reference).toBe(sessions[0]!.body.reference); // the replay
    const sent = sim.requests({ method: 'POST', path: '/v2/checkout/orders' }).map((r) => String(r.headers['paypal-request-id']));
    expect(sent.length).toBeGreaterThanOrEqual(2);
    for (const id of sent) expect(id.length).toBe(PROVIDER_IDEMPOTENCY_KEY_LENGTH);
    expect(PROVIDER_IDEMPOTENCY_KEY_LENGTH).toBeLessThanOrEqual(PROVIDER_IDEMPOTENCY_KEY_LIMITS.paypal);
    // custom_id "<tenant>|<invoice>" would pass PayPal's 127: its digest is sent, and the order is still found
    const orderId = sessions[0]!.body.reference;
    expect((sim.order(orderId) as { purchase_units: Array<{ custom_id: string }> }).purchase_units[0]!.custom_id).toMatch(/^~[A-Za-z0-9_-]{43}$/);
    sim.approveOrder(orderId);
    const back = await fetch(`${svc.url}/pay/paypal/return?token=${orderId}`, { headers: { accept: 'application/json' } });
    expect(back.status).toBe(200);
    expect(await invoiceState(invoiceId)).toMatchObject({ status: 'paid', amountPaid: 4200 });
  });

  test('a permanent PayPal refusal is a precise problem on the payer page and the API, never 503 "try again"', async () => {
    const invoiceId = await invoice(['paypal']);
    const link = await api.post<{ url: string }>(`/v1/invoices/${invoiceId}/payer-link`, {});
    expect(link.status).toBe(201);
    const payUrl = new URL(link.body.url, svc.url);
    const pay = () => fetch(new URL(`${payUrl.pathname}${payUrl.search}`, svc.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'method=paypal', redirect: 'manual' });
    // the payer page reads the invoice from its read model
    for (let i = 0; i < 50 && (await fetch(new URL(`${payUrl.pathname}${payUrl.search}`, svc.url))).status === 404; i++) await new Promise((r) => setTimeout(r, 100));
    sim.failNext(1, { status: 400 }, (r) => r.method === 'POST' && r.path === '/v2/checkout/orders');
    const page = await pay();
    expect(page.status).toBe(422);
    expect(await page.json()).toMatchObject({ type: expect.stringContaining('provider-rejected') });
    sim.failNext(1, { status: 400 }, (r) => r.method === 'POST' && r.path === '/v2/checkout/orders');
    const viaApi = await api.post<{ type: string }>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' });
    expect(viaApi.status).toBe(422);
    // a transient one still is 503
    sim.failNext(1, { status: 503 }, (r) => r.method === 'POST' && r.path === '/v2/checkout/orders');
    const transient = await pay();
    expect(transient.status).toBe(503);
  });

  test("Stripe Connect: with an Idempotency-Key of 255 characters the session is created, its Idempotency-Key within Stripe's 255", async () => {
    const invoiceId = await invoice(['stripe_connect']);
    const key = maxKey('stripe');
    proxy.requests.length = 0;
    const started = await api.post<{ reference: string }>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'stripe_connect' }, { 'idempotency-key': key });
    expect(started.status).toBe(201);
    expect(started.body.reference).toMatch(/^cs_/);
    const posts = proxy.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions');
    expect(posts).toHaveLength(1);
    expect(header(posts[0]!, 'idempotency-key')).toHaveLength(PROVIDER_IDEMPOTENCY_KEY_LENGTH);
    expect(PROVIDER_IDEMPOTENCY_KEY_LENGTH).toBeLessThanOrEqual(PROVIDER_IDEMPOTENCY_KEY_LIMITS.stripe);
    expect(header(posts[0]!, 'stripe-account')).toBe('acct_1PgafTB7WZ01zgkW');
  });
});

