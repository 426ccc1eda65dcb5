/**
 * PayPal end to end over HTTP: the local PayPal simulator (test/simulators/paypal, PayPal's
 * published REST API and webhook signature scheme) and a real PostgreSQL (DATABASE_URL).
 * Invoice payment by PayPal: order, approval, capture on the buyer's return; the return twice,
 * concurrently and racing the webhook pays once; forged webhooks are refused, and a body forged to
 * the CRC32 of a genuine delivery (so its signature verifies) records no money: every fact is read
 * back from PayPal's API.
 */
import { randomBytes } from 'node:crypto';
import { fold } from '../domain/shared/decider';
import { invoiceDecider, type InvoiceEvent, type InvoiceState } from '../domain/invoice/invoice';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { appliedRow, startTestService, type TestService } from '../test/support/service';
import { startPayPalSimulator, type PayPalSimulator } from '../test/simulators/paypal';
import { crc32, forgeJsonWithCrc } from '../test/support/crc32Forge';

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

  const invoiceState = async (id: string) => fold<InvoiceEvent, InvoiceState>(invoiceDecider, (await svc.runtime.eventStore.readStream(`invoice-coach.${id}`)).map((e) => ({ type: e.type, data: e.data })) as never);
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

  /** The inbox row once the applier applied it (queue first: a 200 means stored); undefined when nothing was stored. */
  const inboxRow = async (eventId: string) => {
    const { rows } = await svc.runtime.db.query('SELECT 1 FROM webhook_inbox WHERE endpoint = $1 AND event_id = $2', ['paypal', eventId]);
    return rows.length > 0 ? appliedRow(svc, 'paypal', eventId) : undefined;
  };
  const captureOf = (orderId: string) => (sim.order(orderId) as { purchase_units: Array<{ payments: { captures: Array<{ id: string }> } }> }).purchase_units[0]!.payments.captures[0]!.id;

  /** A genuine CAPTURE.COMPLETED body, and a body forged from it (another event id, custom_id, amount) with the same CRC32. */
  function forgedCapture(captureId: string, change: (resource: Record<string, unknown>) => void): { genuine: Buffer; forged: Buffer; forgedId: string } {
    const genuine = Buffer.from(JSON.stringify(sim.events.captureCompleted(captureId)), 'utf8');
    const forgedId = `WH-FORGED${randomBytes(6).toString('hex').toUpperCase()}`;
    const forged = forgeJsonWithCrc(genuine, (filler) => {
      const e = JSON.parse(genuine.toString('utf8')) as { id: string; summary: string; resource: Record<string, unknown> };
      e.id = forgedId;
      change(e.resource);
      e.summary = `Payment completed ${filler} @@@@`;
      return JSON.stringify(e);
    });
    expect(crc32(forged)).toBe(crc32(genuine));
    return { genuine, forged, forgedId };
  }
  const post = (body: Buffer, headers: Record<string, string>) => fetch(hook, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });

  test('a body forged to the CRC32 of a genuine delivery verifies, but records no money: PayPal\'s record contradicts it', async () => {
    const paid = await payableInvoice(1999);
    sim.approveOrder(paid.orderId);
    expect((await fetch(`${svc.url}/pay/paypal/return?token=${paid.orderId}`)).status).toBe(200);
    const victim = await payableInvoice(500000);
    // the attacker holds a genuine delivery of the capture of `paid` that never reached Settle
    const { genuine, forged, forgedId } = forgedCapture(captureOf(paid.orderId), (r) => {
      r.custom_id = `coach|${victim.invoiceId}`;
      r.invoice_id = `coach|${victim.invoiceId}`;
      r.amount = { currency_code: 'EUR', value: '5000.00' };
    });
    const headers = sim.signWebhook(genuine);
    const r = await post(forged, headers);
    expect(r.status).toBe(200); // the signature verifies: PayPal signed a body with this CRC32
    expect(await inboxRow(forgedId)).toMatchObject({ status: 'ignored', last_error: expect.stringMatching(/amount 500000 EUR is 1999 EUR at PayPal; no money recorded/) });
    expect(await invoiceState(victim.invoiceId)).toMatchObject({ status: 'open', amountPaid: 0 });
    expect((await invoiceState(paid.invoiceId)).amountPaid).toBe(1999);
    // the forgery that came first does not lock out the genuine delivery under the same transmission id
    const real = await post(genuine, headers);
    expect(real.status).toBe(200);
    expect(await real.json()).toMatchObject({ received: true, status: 'received' });
    expect(await inboxRow((JSON.parse(genuine.toString('utf8')) as { id: string }).id)).toMatchObject({ status: 'processed' });
    expect((await invoiceState(paid.invoiceId)).amountPaid).toBe(1999);
    // the same forgery naming a capture PayPal does not have
    const ghost = forgedCapture(captureOf(paid.orderId), (r) => {
      r.id = 'GHOSTCAPTURE0001X';
    });
    expect((await post(ghost.forged, sim.signWebhook(ghost.genuine))).status).toBe(200);
    expect(await inboxRow(ghost.forgedId)).toMatchObject({ status: 'ignored', last_error: expect.stringContaining('PayPal has no such capture') });
    expect((await invoiceState(paid.invoiceId)).amountPaid).toBe(1999);
  });

  test('a transmission id is remembered: the same delivery again is a redelivery, another body under it is refused', async () => {
    const { invoiceId, orderId } = await payableInvoice(2500);
    sim.approveOrder(orderId);
    expect((await fetch(`${svc.url}/pay/paypal/return?token=${orderId}`)).status).toBe(200);
    const { genuine, forged, forgedId } = forgedCapture(captureOf(orderId), (r) => {
      r.amount = { currency_code: 'EUR', value: '1.00' };
    });
    const headers = sim.signWebhook(genuine);
    expect((await post(genuine, headers)).status).toBe(200);
    const again = await post(genuine, headers);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ duplicate: true });
    const reused = await post(forged, headers);
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ type: expect.stringContaining('transmission-reused') });
    expect(await inboxRow(forgedId)).toBeUndefined();
    expect(await invoiceState(invoiceId)).toMatchObject({ status: 'paid', amountPaid: 2500 });
  });

  test('a delivery whose transmission time is outside the window is refused with a 400 problem and stores nothing', async () => {
    const { orderId } = await payableInvoice(1200);
    sim.approveOrder(orderId);
    const event = sim.events.orderApproved(orderId);
    const stale = new Date(Date.now() - (3 * 86_400 + 600) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const d = await sim.sendWebhook(hook, event, { transmissionTime: stale });
    expect(d.status).toBe(400);
    expect(JSON.parse(d.body)).toMatchObject({ type: expect.stringContaining('signature-expired'), status: 400 });
    expect(await inboxRow(event.id)).toBeUndefined();
    const ahead = new Date(Date.now() + 900_000).toISOString();
    expect((await sim.sendWebhook(hook, event, { transmissionTime: ahead })).status).toBe(400);
    // inside the window (a retry two days later) it is accepted
    const twoDays = new Date(Date.now() - 2 * 86_400_000).toISOString();
    expect((await sim.sendWebhook(hook, event, { transmissionTime: twoDays })).status).toBe(200);
  });

  test('PayPal unreachable while re-reading: the event stays in the inbox and is applied once PayPal answers', async () => {
    const { invoiceId, orderId } = await payableInvoice(4100);
    sim.approveOrder(orderId);
    sim.failNext(1, { status: 503 }, (r) => r.method === 'GET' && r.path === `/v2/checkout/orders/${orderId}`);
    const event = sim.events.orderApproved(orderId);
    const d = await sim.sendWebhook(hook, event);
    expect(d.status).toBe(200);
    expect(JSON.parse(d.body)).toMatchObject({ status: 'received' });
    expect(await inboxRow(event.id)).toMatchObject({ status: 'received' });
    expect((await invoiceState(invoiceId)).status).toBe('open');
    await svc.runtime.inboxRetrier.runOnce(true);
    expect(await inboxRow(event.id)).toMatchObject({ status: 'processed' });
    expect(await invoiceState(invoiceId)).toMatchObject({ status: 'paid', amountPaid: 4100 });
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
