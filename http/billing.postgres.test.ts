/**
 * Plans, checkout, plan changes, cancellation and invoices over HTTP against a real PostgreSQL
 * (DATABASE_URL), with the provider port answered by a recording adapter.
 */
import { randomBytes } from 'node:crypto';
import { handle } from '../commands/handle';
import { streams } from '../commands/streams';
import { invoiceDecider } from '../domain/invoice/invoice';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { RecordingBillingProvider } from '../test/support/recordingProvider';
import { startTestService, type TestService } from '../test/support/service';

describe('billing API (PostgreSQL)', () => {
  let svc: TestService;
  const schema = `bill_${randomBytes(5).toString('hex')}`;
  const provider = new RecordingBillingProvider();
  let coach: ReturnType<typeof client>;
  let other: ReturnType<typeof client>;

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined }, async (rt) => {
      rt.provider = provider;
    });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'coach-anna', name: 'Anna' });
    await admin.post('/v1/tenants', { tenantId: 'coach-bob', name: 'Bob' });
    coach = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/coach-anna/api-keys', {})).body.apiKey);
    other = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/coach-bob/api-keys', {})).body.apiKey);
    expect((await coach.post('/v1/plans', { planId: 'pro', name: 'Pro', amount: { amount: 2900, currency: 'EUR' }, interval: 'month' })).status).toBe(201);
    expect((await coach.post('/v1/plans', { planId: 'pro-year', name: 'Pro yearly', amount: { amount: 29000, currency: 'EUR' }, interval: 'year' })).status).toBe(201);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  test('twenty concurrent checkout requests for one customer create exactly one checkout session', async () => {
    provider.latencyMs = 100;
    const before = provider.callsOf('createCheckoutSession').length;
    const results = await Promise.all(Array.from({ length: 20 }, () => coach.post<{ sessionId: string; reused: boolean }>('/v1/customers/cus_tabs/checkout', { planId: 'pro' })));
    provider.latencyMs = 0;
    expect(results.map((r) => r.status).sort()).toEqual([...Array(19).fill(200), 201]);
    expect(new Set(results.map((r) => r.body.sessionId)).size).toBe(1);
    expect(provider.callsOf('createCheckoutSession').length - before).toBe(1);
  });

  test('checkout for another plan while a session is pending replaces that session (expired at the provider); for a retired or unknown plan it is refused', async () => {
    const a = await coach.post<{ sessionId: string }>('/v1/customers/cus_two/checkout', { planId: 'pro' });
    const b = await coach.post<{ sessionId: string; reused: boolean }>('/v1/customers/cus_two/checkout', { planId: 'pro-year' });
    expect(b.status).toBe(201);
    expect(b.body.reused).toBe(false);
    expect(b.body.sessionId).not.toBe(a.body.sessionId);
    expect(provider.callsOf('expireCheckoutSession').map((c) => c.request.sessionId)).toContain(a.body.sessionId);
    const unknown = await coach.post('/v1/customers/cus_three/checkout', { planId: 'gold' });
    expect(unknown.status).toBe(422);
    expect(unknown.body).toMatchObject({ code: 'plan_not_found', errors: [{ path: 'body.planId' }] });
  });

  test('plan and subscription of one tenant are invisible to another', async () => {
    expect((await other.get('/v1/plans/pro')).status).toBe(404);
    expect((await other.post('/v1/customers/cus_x/checkout', { planId: 'pro' })).status).toBe(422);
    expect((await other.get('/v1/customers/cus_tabs/subscription')).status).toBe(404);
    // the subscription is a read model: ask for it at least as fresh as the session (a reused checkout answers with its position)
    const again = await coach.post<{ sessionId: string; reused: boolean }>('/v1/customers/cus_tabs/checkout', { planId: 'pro' });
    expect(again.body.reused).toBe(true);
    const at = again.headers.get('settle-position');
    expect(at).toMatch(/^\d+\/\d+$/);
    expect((await coach.get(`/v1/customers/cus_tabs/subscription?min_position=${at}`)).body).toMatchObject({ status: 'checkout_pending', pendingCheckout: { sessionId: again.body.sessionId } });
  });

  test('a price change archives the old price and creates a new one', async () => {
    const before = await coach.get<{ providerPriceId: string }>('/v1/plans/pro');
    const r = await coach.post<{ providerPriceId: string; archivedProviderPriceIds: string[]; amount: unknown }>('/v1/plans/pro/price', { amount: { amount: 3500, currency: 'EUR' } });
    expect(r.status).toBe(200);
    expect(r.body.providerPriceId).not.toBe(before.body.providerPriceId);
    expect(r.body.archivedProviderPriceIds).toEqual([before.body.providerPriceId]);
    expect(r.body.amount).toEqual({ amount: 3500, currency: 'EUR' });
  });

  test('plan change, cancellation and their refusals over HTTP', async () => {
    expect((await coach.post('/v1/customers/nobody/subscription/cancel', { at: 'now' })).status).toBe(404);
    const pending = await coach.post('/v1/customers/cus_tabs/subscription/plan-change', { planId: 'pro-year' });
    expect(pending.status).toBe(409);
    expect(pending.body).toMatchObject({ code: 'no_live_subscription' });
  });

  describe('invoices', () => {
    const issue = (over: Record<string, unknown> = {}) => ({
      customerId: 'client-7',
      customer: { name: 'Grace Hopper', email: 'grace@example.com' },
      number: null,
      currency: 'EUR',
      lineItems: [
        { description: 'Coaching session', quantity: 2, unitAmount: 12000 },
        { description: 'Workbook', quantity: 1, unitAmount: 1500 },
      ],
      dueDate: '2026-12-31',
      allowedPaymentMethods: ['stripe_connect', 'paypal'],
      ...over,
    });

    test('issue computes the total in minor units; void works only while unpaid; the history names every cause', async () => {
      const r = await coach.post<{ invoiceId: string; total: unknown; status: string }>('/v1/invoices', issue());
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ status: 'open', total: { amount: 25500, currency: 'EUR' } });
      const v = await coach.post(`/v1/invoices/${r.body.invoiceId}/void`, { reason: 'duplicate' }, { 'x-correlation-id': 'void-flow' });
      expect(v.body).toMatchObject({ status: 'void' });
      const again = await coach.post(`/v1/invoices/${r.body.invoiceId}/void`, { reason: 'again' });
      expect(again.status).toBe(409);
      // the history is a read model: read it at least as fresh as the void
      const h = await coach.get<{ entries: Array<{ type: string; actor: { kind: string }; correlationId: string; causationId: string }> }>(
        `/v1/invoices/${r.body.invoiceId}/history?min_position=${(v.body as { position: string }).position}`,
      );
      expect(h.body.entries.map((e) => e.type)).toEqual(['InvoiceIssued', 'InvoiceVoided']);
      expect(h.body.entries[1]).toMatchObject({ actor: { kind: 'user' }, correlationId: 'void-flow' });
      expect(h.body.entries[1]!.causationId).toEqual(expect.any(String));
      expect((await other.get(`/v1/invoices/${r.body.invoiceId}`)).status).toBe(404);
    });

    test('refunds: never more than was paid, provider called once per refund, the paid invoice cannot be voided', async () => {
      const r = await coach.post<{ invoiceId: string }>('/v1/invoices', issue());
      const invoiceId = r.body.invoiceId;
      expect((await coach.post(`/v1/invoices/${invoiceId}/refunds`, { amount: { amount: 100, currency: 'EUR' } })).status).toBe(409);
      // the payment arrives from the provider (webhook path): recorded through the same command loop
      const paid = await handle(
        svc.runtime.eventStore,
        streams.invoice('coach-anna', invoiceId),
        invoiceDecider,
        () => ({
          type: 'RecordPaymentAttempt' as const,
          data: { attemptId: 'pi_1', provider: 'stripe' as const, providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: { amount: 25500, currency: 'EUR' }, outcome: 'succeeded' as const, occurredAt: '2026-11-25T10:00:00.000Z', actor: { kind: 'provider' as const, id: 'evt_1' } },
          metadata: { now: new Date() },
        }),
        { tenantId: 'coach-anna', correlationId: 'evt_1', causationId: 'evt_1', now: new Date() },
      );
      const pos = `${paid.position!.commit}/${paid.position!.prepare}`;
      expect((await coach.get(`/v1/invoices/${invoiceId}?min_position=${pos}`)).body).toMatchObject({ status: 'paid', amountPaid: { amount: 25500, currency: 'EUR' } });
      expect((await coach.post(`/v1/invoices/${invoiceId}/void`, { reason: 'x' })).status).toBe(409);
      const tooMuch = await coach.post(`/v1/invoices/${invoiceId}/refunds`, { amount: { amount: 25501, currency: 'EUR' } });
      expect(tooMuch.status).toBe(422);
      expect(tooMuch.body).toMatchObject({ code: 'refund_exceeds_paid' });
      const refunds = provider.callsOf('refund').length;
      const key = { 'idempotency-key': `refund-${randomBytes(3).toString('hex')}` };
      const part = await coach.post(`/v1/invoices/${invoiceId}/refunds`, { amount: { amount: 5500, currency: 'EUR' } }, key);
      const replay = await coach.post(`/v1/invoices/${invoiceId}/refunds`, { amount: { amount: 5500, currency: 'EUR' } }, key);
      expect(part.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(provider.callsOf('refund').length - refunds).toBe(1);
      expect(provider.callsOf('refund').at(-1)!.request).toMatchObject({ providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: { amount: 5500, currency: 'EUR' } });
      const rest = await coach.post(`/v1/invoices/${invoiceId}/refunds`, { amount: { amount: 20000, currency: 'EUR' } });
      expect(rest.body).toMatchObject({ status: 'refunded', amountRefunded: 25500, collected: 0 });
      // the payment history shows the payment, now refunded, once the projection has caught up
      const payments = await coach.get<{ data: Array<{ status: string; refunded: unknown; providerPaymentId: string }> }>(
        `/v1/payments?payable_type=invoice&payable_id=${invoiceId}&min_position=${rest.body.position as string}`,
      );
      expect(payments.body.data).toEqual([expect.objectContaining({ status: 'refunded', providerPaymentId: 'pi_1', refunded: { amount: 25500, currency: 'EUR' } })]);
    });

    test('invalid invoices are 422 with field paths', async () => {
      const r = await coach.post<{ errors: Array<{ path: string }> }>('/v1/invoices', issue({ lineItems: [{ description: 'x', quantity: 0, unitAmount: 1.5 }], dueDate: '31/12/2026', allowedPaymentMethods: [] }));
      expect(r.status).toBe(422);
      expect(r.body.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['body.lineItems.0.quantity', 'body.lineItems.0.unitAmount', 'body.dueDate', 'body.allowedPaymentMethods']));
    });

    test('with no provider configured, provider-backed commands answer 503 and leave no pending checkout (the failed attempt stays visible)', async () => {
      const plain = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined });
      try {
        const admin = client(plain.url, ADMIN_KEY, { 'settle-tenant': 'coach-anna' });
        const r = await admin.post('/v1/customers/cus_noprovider/checkout', { planId: 'pro' });
        expect(r.status).toBe(503);
        expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/provider-unavailable' });
        const events = await plain.runtime.eventStore.readStream('subscription-coach-anna.cus_noprovider');
        expect(events.map((e) => e.type)).toEqual(['CheckoutRequested', 'CheckoutRequestFailed']);
        const last = events[events.length - 1]!.position;
        const s = await admin.get<{ status: string; pendingCheckout: unknown }>(`/v1/customers/cus_noprovider/subscription?min_position=${last.commit}/${last.prepare}`);
        expect(s.body).toMatchObject({ status: 'none', pendingCheckout: null });
      } finally {
        await plain.shutdown('test end');
      }
    });
  });
});
