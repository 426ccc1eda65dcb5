/**
 * Reconciliation with PayPal, through HTTP, against the PayPal simulator (PayPal's published
 * REST API: an order lists its captures and refunds) and a real PostgreSQL. PayPal has no list
 * API for captures, so the orders Settle knows of (learned when it creates them) are re-read.
 * Lost here: the recording of a capture Settle made (and its webhook), and dashboard refunds'
 * webhooks. A twin invoice whose webhooks did arrive is the reference.
 */
import { randomBytes } from 'node:crypto';
import { invoiceDecider, type InvoiceEvent, type InvoiceState } from '../domain/invoice/invoice';
import { fold } from '../domain/shared/decider';
import { PayPalClient } from '../infrastructure/providers/paypal';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { startTestService, type TestService } from '../test/support/service';
import { startPayPalSimulator, type PayPalSimulator } from '../test/simulators/paypal';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

describe('reconciliation with PayPal (simulator + PostgreSQL)', () => {
  let sim: PayPalSimulator;
  let svc: TestService;
  let paypal: PayPalClient;
  const schema = `recon_p_${randomBytes(5).toString('hex')}`;
  let api: ReturnType<typeof client>;
  const admin = () => client(svc.url, ADMIN_KEY);
  const since = new Date(Date.now() - 86_400_000).toISOString();
  const ids: Record<string, { invoiceId: string; orderId: string; captureId?: string; refundId?: string }> = {};

  const invoiceState = async (id: string) => fold(invoiceDecider, (await svc.runtime.eventStore.readStream(`invoice-coach.${id}`)).map((e) => ({ type: e.type, data: e.data })) as InvoiceEvent[]);
  const comparable = (s: InvoiceState, o: { orderId: string; captureId?: string; refundId?: string }) =>
    JSON.parse(
      JSON.stringify({
        status: s.status,
        amountPaid: s.amountPaid,
        amountRefunded: s.amountRefunded,
        payment: s.payment ? { provider: s.payment.provider, providerPaymentId: s.payment.providerPaymentId, providerChargeId: s.payment.providerChargeId } : null,
        attempts: s.attempts.map((a) => ({ outcome: a.outcome, amount: a.amount })),
        refunds: s.refunds.map((r) => ({ amount: r.amount, providerRefundId: (r as Obj).providerRefundId })),
      })
        .replaceAll(o.orderId, 'ORDER')
        .replaceAll(o.captureId ?? '§', 'CAPTURE')
        .replaceAll(o.refundId ?? '§', 'REFUND'),
    );

  async function payableInvoice(name: string, unitAmount: number): Promise<void> {
    const inv = await api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: `client-${name}`, customer: { name: 'Client', email: 'client@example.com' }, currency: 'EUR',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount }], dueDate: '2026-12-31', allowedPaymentMethods: ['paypal'],
    });
    const started = await api.post<{ reference: string }>(`/v1/invoices/${inv.body.invoiceId}/payment-sessions`, { method: 'paypal' });
    expect(started.status).toBe(201);
    ids[name] = { invoiceId: inv.body.invoiceId, orderId: started.body.reference };
  }

  /** Captured at PayPal (by Settle, say, which then crashed before recording it); refunded in PayPal's dashboard. */
  async function captureAndRefund(name: string, refund: number): Promise<void> {
    const o = ids[name]!;
    sim.approveOrder(o.orderId);
    const captured = await paypal.captureOrder({ orderId: o.orderId, requestId: `capture-${o.orderId}` });
    o.captureId = captured.capture.id;
    o.refundId = (await paypal.refundCapture({ captureId: o.captureId, requestId: `refund-${o.orderId}`, amount: { amount: refund, currency: 'EUR' } })).id;
  }

  beforeAll(async () => {
    sim = await startPayPalSimulator();
    svc = await startTestService({
      DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined,
      PAYPAL_API_BASE: sim.url, PAYPAL_CLIENT_ID: sim.clientId, PAYPAL_CLIENT_SECRET: sim.clientSecret, PAYPAL_WEBHOOK_ID: sim.webhookId,
      RECONCILE_PAGE_SIZE: '2', RECONCILE_PAGE_DELAY_MS: '5',
    });
    paypal = new PayPalClient({ apiBase: sim.url, clientId: sim.clientId, clientSecret: sim.clientSecret });
    await admin().post('/v1/tenants', { tenantId: 'coach', name: 'Coach' });
    api = client(svc.url, (await admin().post<{ apiKey: string }>('/v1/tenants/coach/api-keys', {})).body.apiKey);
    await payableInvoice('lost', 12000);
    await payableInvoice('twin', 12000);
    await payableInvoice('returned', 5000);
    await payableInvoice('abandoned', 800);
    await captureAndRefund('lost', 3000);
    await captureAndRefund('twin', 3000);
    // the twin's webhooks arrive
    const hook = `${svc.url}/webhooks/paypal`;
    expect((await sim.sendWebhook(hook, sim.events.captureCompleted(ids.twin!.captureId!))).status).toBe(200);
    expect((await sim.sendWebhook(hook, sim.events.captureRefunded(ids.twin!.refundId!))).status).toBe(200);
    // stored on the 200, applied by the applier right after: applied before anything is reconciled
    await eventually(async () => {
      const twin = await invoiceState(ids.twin!.invoiceId);
      return twin.status === 'paid' && twin.amountRefunded === 3000;
    }, 30_000);
    // the buyer came back (Settle captured and recorded it); a later dashboard refund's webhook is lost
    sim.approveOrder(ids.returned!.orderId);
    expect((await fetch(`${svc.url}/pay/paypal/return?token=${ids.returned!.orderId}&PayerID=PAYER1`, { headers: { accept: 'application/json' } })).status).toBe(200);
    ids.returned!.refundId = (await paypal.refundCapture({ captureId: (await invoiceState(ids.returned!.invoiceId)).payment!.providerChargeId!, requestId: 'refund-returned', amount: { amount: 1000, currency: 'EUR' } })).id;
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await sim?.close();
    await dropSchema(schema);
  });

  async function reconcile(body: Obj): Promise<Obj> {
    const started = await admin().post<{ runId: string }>('/v1/admin/reconciliations', body);
    expect(started.status).toBe(202);
    let run: Obj = {};
    await eventually(async () => {
      run = (await admin().get<Obj>(`/v1/admin/reconciliations/${started.body.runId}`)).body;
      return run.status !== 'running';
    }, 30_000);
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    return run;
  }
  const eventCount = async () => Number((await svc.runtime.db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n);

  test('a dry run lists the lost capture and refunds, and writes nothing', async () => {
    const before = await eventCount();
    const run = await reconcile({ tenantId: 'coach', since, dryRun: true });
    expect(run.differences.map((d: Obj) => [d.eventType, d.outcome, d.facts.includes('InvoicePaid') || d.facts.includes('RefundRecorded')])).toEqual(
      expect.arrayContaining([
        ['PAYMENT.CAPTURE.COMPLETED', 'would_repair', true],
        ['PAYMENT.CAPTURE.REFUNDED', 'would_repair', true],
        ['PAYMENT.CAPTURE.REFUNDED', 'would_repair', true],
      ]),
    );
    expect(run.found).toBe(3);
    expect(await eventCount()).toBe(before);
    expect((await invoiceState(ids.lost!.invoiceId)).status).toBe('open');
  });

  test('a run re-reads the known orders and records what was lost, exactly as the webhooks would have; a second run repairs nothing', async () => {
    const reads = sim.requests({ method: 'GET', path: /^\/v2\/checkout\/orders\// }).length;
    // PayPal pushes back twice (429 RATE_LIMIT_REACHED, no Retry-After): the reads back off and go on
    sim.failNext(2, { status: 429 }, (r) => r.method === 'GET' && r.path.startsWith('/v2/checkout/orders/'));
    const run = await reconcile({ tenantId: 'coach', since, dryRun: false });
    expect(svc.logs.filter((l) => l.msg === 'reconciliation: provider asked to slow down; waiting' && l.runId === run.runId && l.provider === 'paypal')).toHaveLength(2);
    expect({ found: run.found, repaired: run.repaired, unrepairable: run.unrepairable }).toEqual({ found: 3, repaired: 3, unrepairable: 0 });
    // every order Settle created was read again (capture ids it learned may be tried too: PayPal answers 404, skipped)
    const read = sim.requests({ method: 'GET', path: /^\/v2\/checkout\/orders\// }).slice(reads).map((r) => r.path.split('/').pop());
    expect(read).toEqual(expect.arrayContaining(Object.values(ids).map((o) => o.orderId)));
    const lost = comparable(await invoiceState(ids.lost!.invoiceId), ids.lost!);
    expect(lost).toEqual(comparable(await invoiceState(ids.twin!.invoiceId), ids.twin!));
    expect(lost).toMatchObject({ status: 'paid', amountPaid: 12000, amountRefunded: 3000, payment: { providerPaymentId: 'ORDER', providerChargeId: 'CAPTURE' } });
    expect(await invoiceState(ids.returned!.invoiceId)).toMatchObject({ status: 'paid', amountPaid: 5000, amountRefunded: 1000 });
    expect((await invoiceState(ids.abandoned!.invoiceId)).status).toBe('open');
    await eventually(async () => {
      const p = await api.get<{ data: Obj[] }>(`/v1/payments?payable_id=${ids.lost!.invoiceId}`);
      return p.body.data.some((x) => x.status === 'succeeded' || x.status === 'partially_refunded' || x.refunded?.amount === 3000);
    }, 10_000);

    const before = await eventCount();
    const again = await reconcile({ tenantId: 'coach', since, dryRun: false });
    expect({ found: again.found, repaired: again.repaired }).toEqual({ found: 0, repaired: 0 });
    expect(await eventCount()).toBe(before);
  });
});
