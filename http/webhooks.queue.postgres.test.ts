/**
 * Queue-first webhooks (PostgreSQL): a 200 means the event is stored; the applier applies it
 * afterwards. A crash between the answer and the apply loses nothing: the rows stay `received`
 * (counted by settle_webhook_inbox{status="received"}, the backlog gauge) and the next process
 * applies them.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { appliedRow, scrape, startTestService, type TestService } from '../test/support/service';
import { deliver, stripeEvent } from '../test/support/stripeEvents';

const SECRET = 'whsec_queue_test_secret';

describe('queue-first webhooks', () => {
  const schema = `whq_${randomBytes(5).toString('hex')}`;
  const env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, STRIPE_WEBHOOK_SECRET: SECRET, METRICS_QUERY_TTL_MS: '50' };
  let svc: TestService | null = null;
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  test('acknowledged deliveries survive a crash before they are applied, and the next process applies them', async () => {
    svc = await startTestService(env);
    // the process "crashes" right after answering: nothing applies the stored rows
    await svc.runtime.inboxApplier.stop();
    await svc.runtime.inboxRetrier.stop();
    const ignored = stripeEvent('payment_intent.processing', (_o, ev) => (ev.type = 'customer.tax_id.created'));
    const early = stripeEvent('payment_intent.succeeded', (o) => {
      o.metadata = { tenant_id: 'nobody-yet', booking_id: 'bk-not-yet' };
    });
    for (const e of [ignored, early]) {
      const r = await deliver(`${svc.url}/webhooks/stripe`, e, SECRET);
      expect(r).toMatchObject({ status: 200, body: { received: true, id: e.id, status: 'received', duplicate: false } });
    }
    const status = async (id: string) => (await svc!.runtime.db.query<{ status: string }>('SELECT status FROM webhook_inbox WHERE event_id = $1', [id])).rows[0]?.status;
    expect(await status(ignored.id)).toBe('received');
    expect(await status(early.id)).toBe('received');
    expect(await scrape(svc)).toMatch(/settle_webhook_inbox\{status="received"\} 2/);
    await svc.shutdown('crash');

    svc = await startTestService(env);
    expect(await appliedRow(svc, 'stripe', ignored.id)).toEqual({ status: 'ignored', last_error: null });
    expect((await appliedRow(svc, 'stripe', early.id)).status).toBe('parked');
    await new Promise((r) => setTimeout(r, 60)); // past the gauge's reuse interval
    expect(await scrape(svc)).toMatch(/settle_webhook_inbox\{status="received"\} 0/);
  });

  test('one batch: a refund that names only the charge is applied beside the payment that taught Settle the charge, not parked', async () => {
    await svc?.shutdown('next test');
    svc = await startTestService(env);
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'queue', name: 'Queue' });
    const api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/queue/api-keys', {})).body.apiKey);
    const created = await api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: 'client-q',
      customer: { name: 'Client', email: 'client@example.com' },
      currency: 'USD',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: 4000 }],
      dueDate: '2026-12-31',
      allowedPaymentMethods: ['stripe_connect'],
    });
    const invoiceId = created.body.invoiceId;
    const [piId, ch] = [`pi_q_${invoiceId}`, `ch_q_${invoiceId}`];
    // both delivered before either is applied: they land in one batch of the applier
    await svc.runtime.inboxApplier.stop();
    await svc.runtime.inboxRetrier.stop();
    const paid = stripeEvent('payment_intent.succeeded', (o) => Object.assign(o, { id: piId, metadata: { tenant_id: 'queue', invoice_id: invoiceId }, amount: 4000, amount_received: 4000, currency: 'usd', latest_charge: ch }));
    const refunded = stripeEvent('charge.refunded', (o) => {
      Object.assign(o, { id: ch, payment_intent: piId, metadata: {}, currency: 'usd' });
      o.refunds = { object: 'list', data: [{ id: `re_q_${invoiceId}`, object: 'refund', amount: 1000, currency: 'usd', status: 'succeeded', charge: ch, reason: null }] };
    });
    for (const e of [paid, refunded]) expect((await deliver(`${svc.url}/webhooks/stripe`, e, SECRET)).status).toBe(200);
    expect(await svc.runtime.inboxApplier.runOnce()).toBe(2);
    const row = async (id: string) => (await svc!.runtime.db.query<{ status: string; last_error: string | null }>('SELECT status, last_error FROM webhook_inbox WHERE event_id = $1', [id])).rows[0];
    expect(await row(paid.id)).toMatchObject({ status: 'processed' });
    expect(await row(refunded.id)).toMatchObject({ status: 'processed' });
    const types = (await svc.runtime.eventStore.readStream(`invoice-queue.${invoiceId}`)).map((e) => e.type);
    expect(types).toContain('PaymentSucceeded');
    expect(types.some((t) => /Refund/.test(t))).toBe(true);
  });

  test('a stuck applier: backlog and oldest age on /metrics, /readyz degraded with the reason; ready again once it applies', async () => {
    await svc?.shutdown('next test');
    svc = await startTestService({ ...env, WEBHOOK_APPLIER_STUCK_SECONDS: '1' });
    await svc.runtime.inboxApplier.stop();
    await svc.runtime.inboxRetrier.stop();
    const readyz = async () => (await (await fetch(`${svc!.url}/readyz`)).json()) as { status: string; checks: Record<string, { ok: boolean; detail?: string }> };
    expect((await readyz()).checks.webhooks).toMatchObject({ ok: true });
    const e = stripeEvent('payment_intent.processing', (_o, ev) => (ev.type = 'customer.tax_id.created'));
    expect((await deliver(`${svc.url}/webhooks/stripe`, e, SECRET)).status).toBe(200);
    await readyz(); // the applier's head is seen
    await new Promise((r) => setTimeout(r, 1200));
    const stuck = await readyz();
    expect(stuck.status).toBe('degraded');
    expect(stuck.checks.webhooks).toMatchObject({ ok: false, detail: expect.stringContaining('applier stuck: 1 stored webhook(s) not applied') });
    const metrics = await scrape(svc);
    expect(metrics).toMatch(/settle_webhook_applier_backlog 1/);
    expect(metrics).toMatch(/settle_webhook_applier_stuck 1/);
    expect(Number(/settle_webhook_applier_oldest_age_seconds ([\d.]+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    svc.runtime.inboxApplier.start();
    expect(await appliedRow(svc, 'stripe', e.id)).toMatchObject({ status: 'ignored' });
    expect((await readyz()).checks.webhooks).toMatchObject({ ok: true, detail: 'backlog 0' });
  });
});
