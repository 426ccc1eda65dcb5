/**
 * Named regression (issue #16, defect 6): PayPal payment sessions failed (INVALID_REQUEST_ID)
 * for any tenant id of 12 or more characters and for any request carrying an Idempotency-Key,
 * and the payer page called that permanent error "try again". Here: a 100-character tenant (the
 * API's limit), a 255-character Idempotency-Key (the API's limit), JPY (no decimals at PayPal), and the
 * whole PayPal flow through to a paid invoice in the payments list and the finance report.
 * Black box: the built service on the embedded default's sibling, PostgreSQL (DATABASE_URL), with
 * in-process messaging; the PayPal simulator (test/simulators/paypal, PayPal's published Orders
 * v2 API, refusing a PayPal-Request-Id over 108 characters as PayPal does).
 */
import { startPayPalSimulator, type PayPalSimulator } from '../../simulators/paypal';
import { startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('PayPal for the longest tenant ids and Idempotency-Keys (PostgreSQL, PayPal simulator)', () => {
  let settle: Settle;
  let paypal: PayPalSimulator;
  beforeAll(async () => {
    paypal = await startPayPalSimulator();
    settle = await startSettle({
      storage: 'postgres',
      messaging: 'in-process',
      env: { PAYPAL_API_BASE: paypal.url, PAYPAL_CLIENT_ID: paypal.clientId, PAYPAL_CLIENT_SECRET: paypal.clientSecret, PAYPAL_WEBHOOK_ID: paypal.webhookId },
    });
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await paypal?.close();
  });

  test('a payment session opens, a retry with the same key returns it, and the paid invoice shows everywhere', async () => {
    const tenant = await newTenant(settle, idOfLength('Tpp'));
    const issued = await tenant.api.post<any>('/v1/invoices', {
      customerId: idOfLength('C'),
      customer: { name: 'Émilie Du Châtelet', email: 'emilie@example.com' },
      currency: 'JPY',
      lineItems: [{ description: 'Coaching, 3 sessions', quantity: 3, unitAmount: 12_340 }],
      dueDate: '2027-01-31',
      allowedPaymentMethods: ['paypal'],
    });
    expect(issued.status).toBe(201);
    const invoiceId = issued.body.invoiceId as string;
    // PayPal takes no KWD: an invoice only PayPal could pay in KWD is refused when it is issued, not when the payer tries
    const unpayable = await tenant.api.post<any>('/v1/invoices', {
      customerId: 'c-kwd',
      customer: { name: 'Payer', email: 'payer@example.com' },
      currency: 'KWD',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: 12_340 }],
      dueDate: '2027-01-31',
      allowedPaymentMethods: ['paypal'],
    });
    expect(unpayable.status).toBe(422);
    expect(unpayable.body).toMatchObject({ code: 'currency_not_supported' });
    const key = idOfLength('idem-', 255);
    const first = await tenant.api.post<any>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' }, { 'idempotency-key': key });
    if (first.status !== 201) throw new Error(`payment session: ${first.status} ${JSON.stringify(first.body)}`);
    expect(first.body).toMatchObject({ provider: 'paypal', url: expect.stringMatching(/^https?:\/\//) });
    const again = await tenant.api.post<any>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' }, { 'idempotency-key': key });
    expect(again.status).toBe(201);
    expect(again.body.reference).toBe(first.body.reference);
    expect(paypal.requests({ method: 'POST', path: '/v2/checkout/orders' })).toHaveLength(1);

    // the buyer approves at PayPal; PayPal tells Settle; Settle captures; PayPal confirms the capture
    const orderId = String(first.body.reference);
    paypal.approveOrder(orderId);
    expect((await paypal.sendWebhook(`${settle.url}/webhooks/paypal`, paypal.events.orderApproved(orderId))).status).toBe(200);
    // queue first: the 200 means stored; the applier captures the approved order right after
    const captureOf = () => String(paypal.order(orderId)?.purchase_units?.[0]?.payments?.captures?.[0]?.id ?? '');
    const captureId = await until(async () => captureOf(), (id) => id !== '');
    expect(captureId).not.toBe('');
    expect((await paypal.sendWebhook(`${settle.url}/webhooks/paypal`, paypal.events.captureCompleted(captureId))).status).toBe(200);
    await settle.settled();

    const invoice = (await tenant.api.get<any>(`/v1/invoices/${invoiceId}`)).body;
    expect(invoice).toMatchObject({ status: 'paid', amountPaid: { amount: 37_020, currency: 'JPY' } });
    const rows = (await tenant.api.get<any>('/v1/payments?limit=100')).body.data as any[];
    expect(rows).toEqual([expect.objectContaining({ provider: 'paypal', status: 'succeeded', amount: { amount: 37_020, currency: 'JPY' } })]);
    const day = new Date().toISOString().slice(0, 10);
    const finance = await until(async () => (await tenant.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`)).body, (r) => r.totals?.length > 0);
    expect(finance.totals).toEqual([expect.objectContaining({ currency: 'JPY', grossCollected: 37_020, succeededCount: 1 })]);
  }, 90_000);
});
