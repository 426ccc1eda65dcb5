/**
 * PayPal end to end over HTTP: the local PayPal simulator (test/simulators/paypal, PayPal's
 * published REST API and webhook signature scheme) and a real PostgreSQL (DATABASE_URL).
 * Invoice payment by PayPal: order, approval, capture on the buyer's return; the return twice,
 * concurrently and racing the webhook pays once; forged webhooks are refused.
 */
import { randomBytes } from 'node:crypto';
import { fold } from '../domain/shared/decider';
import { invoiceDecider, type InvoiceState } from '../domain/invoice/invoice';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { startTestService, type TestService } from '../test/support/service';
import { startPayPalSimulator, type PayPalSimulator } from '../test/simulators/paypal';

describe('PayPal (simulator + PostgreSQL)', () => {
  let sim: PayPalSimulator;
  let svc: TestService;
  const schema = `pp_${randomBytes(5).toString('hex')}`;
  let api: ReturnType<typeof client>;
  let hook: string;

  beforeAll(async () => {
    sim = await startPayPalSimulator();
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      PAYPAL_API_BASE: sim.url,
      PAYPAL_CLIENT_ID: sim.clientId,
      PAYPAL_CLIENT_SECRET: sim.clientSecret,
      PAYPAL_WEBHOOK_ID: sim.webhookId,
    });
    hook = `${svc.url}/webhooks/paypal`;
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'coach', name: 'Coach' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/coach/api-keys', {})).body.apiKey);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await sim?.close();
    await dropSchema(schema);
  });

  const invoiceState = async (id: string) => fold(invoiceDecider, (await svc.runtime.eventStore.readStream(`invoice-coach.${id}`)).map((e) => ({ type: e.type, data: e.data })) as never) as InvoiceState;
  const eventTypes = async (id: string) => (await svc.runtime.eventStore.readStream(`invoice-coach.${id}`)).map((e) => e.type);

  async function payableInvoice(unitAmount: number, currency = 'EUR'): Promise<{ invoiceId: string; orderId: string; url: string }> {
    const inv = await api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: 'client-1',
      customer: { name: 'Client', email: 'client@example.com' },
      currency,
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount }],
      dueDate: '2026-12-31',
      allowedPaymentMethods: ['paypal'],
    });
    const started = await api.post<{ reference: string; url: string }>(`/v1/invoices/${inv.body.invoiceId}/payment-sessions`, { method: 'paypal' });
    expect(started.status).toBe(201);
    return { invoiceId: inv.body.invoiceId, orderId: started.body.reference, url: started.body.url };
  }

  test('payment by PayPal: order with the invoice amount, approval, then the return, its retry and the webhook, all at once, pay once', async () => {
    const { invoiceId, orderId, url } = await payableInvoice(1999);
    expect(url).toMatch(/^http/);
    expect(sim.order(orderId)).toMatchObject({ purchase_units: [expect.objectContaining({ amount: expect.objectContaining({ currency_code: 'EUR', value: '19.99' }), custom_id: `coach|${invoiceId}` })] });
    sim.approveOrder(orderId);
    const before = sim.captureCount;
    const back = () => fetch(`${svc.url}/pay/paypal/return?token=${orderId}&PayerID=PAYER1`, { headers: { accept: 'application/json' } });
    const [r1, r2, w] = await Promise.all([back(), back(), sim.sendWebhook(hook, sim.events.orderApproved(orderId))]);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect(w.status).toBe(200);
    expect(sim.captureCount - before).toBe(1);
    const captureId = (sim.order(orderId) as { purchase_units: Array<{ payments: { captures: Array<{ id: string }> } }> }).purchase_units[0]!.payments.captures[0]!.id;
    // PayPal's own CAPTURE.COMPLETED arrives later: the same payment
    expect((await sim.sendWebhook(hook, sim.events.captureCompleted(captureId))).status).toBe(200);
    const s = await invoiceState(invoiceId);
    expect(s).toMatchObject({ status: 'paid', amountPaid: 1999, payment: { provider: 'paypal', providerPaymentId: orderId, providerChargeId: captureId } });
    expect(s.overpayments).toHaveLength(0);
    expect((await eventTypes(invoiceId)).filter((t) => t === 'InvoicePaid')).toHaveLength(1);
  });

  test('a declined capture inside a completed order is a failed attempt with the processor code, not a payment', async () => {
    const { invoiceId, orderId } = await payableInvoice(5000);
    sim.approveOrder(orderId);
    sim.declineNextCapture();
    const r = await fetch(`${svc.url}/pay/paypal/return?token=${orderId}`, { headers: { accept: 'application/json' } });
    expect(r.status).toBe(402);
    const s = await invoiceState(invoiceId);
    expect(s.status).toBe('open');
    expect(s.attempts.at(-1)).toMatchObject({ outcome: 'failed', errorCode: 'capture_denied', declineCode: '5120' });
  });

  test('refunds: through the API (PayPal refund with a request id) and from PayPal (CAPTURE.REFUNDED) count once each', async () => {
    const { invoiceId, orderId } = await payableInvoice(3000);
    sim.approveOrder(orderId);
    await fetch(`${svc.url}/pay/paypal/return?token=${orderId}`);
    const refund = await api.post<{ refunds: Array<{ providerRefundId: string }> }>(`/v1/invoices/${invoiceId}/refunds`, { amount: { amount: 1000, currency: 'EUR' } }, { 'idempotency-key': `rf-${invoiceId}` });
    expect(refund.status).toBe(201);
    const refundId = refund.body.refunds[0]!.providerRefundId;
    expect(sim.refund(refundId)).toMatchObject({ amount: { value: '10.00', currency_code: 'EUR' } });
    // PayPal also reports it: the same refund
    expect((await sim.sendWebhook(hook, sim.events.captureRefunded(refundId))).status).toBe(200);
    expect(await invoiceState(invoiceId)).toMatchObject({ amountRefunded: 1000, collected: 2000 });
  });

  test('forged PayPal webhooks (another key, another webhook id, an untrusted cert host, no headers) are refused and store nothing', async () => {
    const count = async () => Number((await svc.runtime.db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_inbox')).rows[0]!.n);
    const before = await count();
    const event = sim.events.envelope('PAYMENT.CAPTURE.COMPLETED', 'capture', { id: 'FORGED1', status: 'COMPLETED', amount: { currency_code: 'EUR', value: '1.00' }, custom_id: 'coach|nope' });
    expect((await sim.sendWebhook(hook, event, { webhookId: 'WH-OTHER' })).status).toBe(400);
    expect((await sim.sendWebhook(hook, event, { certUrl: 'https://evil.example.com/cert.pem' })).status).toBe(400);
    const plain = await fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    expect(plain.status).toBe(400);
    const body = JSON.stringify(event);
    const tampered = await fetch(hook, { method: 'POST', headers: { ...sim.signWebhook(body), 'content-type': 'application/json' }, body: body.replace('"1.00"', '"9.00"') });
    expect(tampered.status).toBe(400);
    expect(await count()).toBe(before);
  });
});
