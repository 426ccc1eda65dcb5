/**
 * Stripe webhooks over HTTP against a real PostgreSQL (DATABASE_URL): signature verification with
 * the real scheme, nothing stored from refused requests, every mapped event type, 20 concurrent
 * copies, out-of-order delivery of a whole subscription lifecycle (parked, then applied).
 */
import { randomBytes } from 'node:crypto';
import { fold } from '../domain/shared/decider';
import { invoiceDecider, type InvoiceState } from '../domain/invoice/invoice';
import { subscriptionDecider, type SubscriptionState } from '../domain/subscription/subscription';
import { bookingDecider, type BookingState } from '../domain/booking/booking';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { RecordingBillingProvider } from '../test/support/recordingProvider';
import { deliverApplied, startTestService, type TestService, scrape } from '../test/support/service';
import { sign, stripeEvent, type StripeEvent } from '../test/support/stripeEvents';
import { rng } from '../test/support/histories';

const SECRET = 'whsec_platform_test_secret';
const CONNECT_SECRET = 'whsec_connect_test_secret';

describe('Stripe webhooks (PostgreSQL)', () => {
  let svc: TestService;
  const schema = `wh_${randomBytes(5).toString('hex')}`;
  const provider = new RecordingBillingProvider();
  let api: ReturnType<typeof client>;
  let platform: string;
  let connect: string;

  beforeAll(async () => {
    svc = await startTestService(
      { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET },
      async (rt) => {
        rt.provider = provider;
      },
    );
    platform = `${svc.url}/webhooks/stripe`;
    connect = `${svc.url}/webhooks/stripe/connect`;
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'coach', name: 'Coach' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/coach/api-keys', {})).body.apiKey);
    await api.post('/v1/departures', { departureId: 'DEP', name: 'Trip', paymentScheduleId: 'sched', capacity: 100 });
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  const deliver = (url: string, event: StripeEvent | string, secret: string, opts: { timestamp?: number; signature?: string } = {}) => deliverApplied(svc, url, event, secret, opts);
  const inboxCount = async () => Number((await svc.runtime.db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_inbox')).rows[0]!.n);
  const stream = async <S>(name: string, decider: { initialState: S; evolve: (s: S, e: never) => S }) =>
    fold<never, S>(decider, (await svc.runtime.eventStore.readStream(name)).map((e) => ({ type: e.type, data: e.data })) as never);
  const types = async (name: string) => (await svc.runtime.eventStore.readStream(name)).map((e) => e.type);

  async function invoice(amount: number): Promise<string> {
    const r = await api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: 'client-1',
      customer: { name: 'Client', email: 'client@example.com' },
      currency: 'USD',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: amount }],
      dueDate: '2026-12-31',
      allowedPaymentMethods: ['stripe_connect'],
    });
    return r.body.invoiceId;
  }

  async function booking(amount: number): Promise<string> {
    const r = await api.post<{ bookingId: string }>('/v1/bookings', {
      departureId: 'DEP',
      contact: { firstName: 'Ada', lastName: 'L', email: 'ada@example.com', phone: '+1 555 0100' },
      guests: [{ firstName: 'Ada', lastName: 'L' }],
      price: { amount, currency: 'USD' },
    });
    return r.body.bookingId;
  }

  /** A payment intent (and its charge) belonging to an invoice or a booking. */
  function pi(file: string, target: Record<string, string>, amount: number, piId: string, chargeId: string): StripeEvent {
    return stripeEvent(file, (o) => {
      o.id = piId;
      o.metadata = { tenant_id: 'coach', ...target };
      o.amount = amount;
      o.amount_received = file === 'payment_intent.succeeded' ? amount : 0;
      o.latest_charge = chargeId;
      if (o.last_payment_error) o.last_payment_error.charge = chargeId;
    });
  }

  describe('verification: refused requests store nothing', () => {
    test('a forged signature (wrong secret), a tampered body and a missing header are 400 problems', async () => {
      const before = await inboxCount();
      const e = pi('payment_intent.succeeded', { invoice_id: 'x' }, 100, 'pi_forged', 'ch_forged');
      const forged = await deliver(platform, e, 'whsec_attacker');
      expect(forged.status).toBe(400);
      expect(forged.body).toMatchObject({ type: 'https://settle.dev/problems/invalid-signature', status: 400 });
      const payload = JSON.stringify(e);
      const tampered = await deliver(platform, payload.replace('"amount":100', '"amount":1'), SECRET, { signature: sign(payload, SECRET) });
      expect(tampered.status).toBe(400);
      const r = await fetch(platform, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { type: string }).type).toBe('https://settle.dev/problems/missing-signature');
      expect(await inboxCount()).toBe(before);
    });

    test('an old replay (signed more than 300 s ago) is refused; a second valid v1 signature is accepted', async () => {
      const e = stripeEvent('payment_intent.processing', (o) => (o.metadata = {}));
      const old = await deliver(platform, e, SECRET, { timestamp: Math.floor(Date.now() / 1000) - 301 });
      expect(old.status).toBe(400);
      expect(old.body).toMatchObject({ type: 'https://settle.dev/problems/signature-expired' });
      const payload = JSON.stringify(e);
      const good = sign(payload, SECRET);
      const t = /t=(\d+)/.exec(good)![1];
      const v1 = /v1=([0-9a-f]+)/.exec(good)![1];
      const rolled = await deliver(platform, payload, SECRET, { signature: `t=${t},v1=${'0'.repeat(64)},v1=${v1}` });
      expect(rolled.status).toBe(200);
    });

    test('an event signed for one endpoint is refused by the other: a connected account can never reach platform billing', async () => {
      const before = await inboxCount();
      const acct = stripeEvent('account.updated', (o, ev) => (ev.account = o.id));
      expect((await deliver(platform, acct, SECRET)).body).toMatchObject({ type: 'https://settle.dev/problems/connect-event-on-platform-endpoint' });
      expect((await deliver(connect, acct, SECRET)).status).toBe(400); // platform secret on the Connect endpoint
      const plat = stripeEvent('invoice.finalized');
      expect((await deliver(connect, plat, CONNECT_SECRET)).body).toMatchObject({ type: 'https://settle.dev/problems/platform-event-on-connect-endpoint' });
      expect(await inboxCount()).toBe(before);
      const ok = await deliver(connect, acct, CONNECT_SECRET);
      expect(ok).toMatchObject({ status: 200, body: { status: 'processed' } });
      const { rows } = await svc.runtime.db.query<{ charges_enabled: boolean }>('SELECT charges_enabled FROM connected_accounts WHERE account_id = $1', [acct.data.object.id]);
      expect(rows[0]!.charges_enabled).toBe(true);
    });

    test("a tenant's connected account cannot touch another tenant's invoice, whatever metadata it sets", async () => {
      const admin = client(svc.url, ADMIN_KEY);
      await admin.post('/v1/tenants', { tenantId: 'mallory', name: 'Mallory' });
      await admin.post('/v1/tenants/mallory/stripe-account', { accountId: 'acct_mallory' });
      const victim = await invoice(4000);
      const attack = pi('payment_intent.succeeded', { invoice_id: victim }, 4000, `pi_attack_${victim}`, `ch_attack_${victim}`);
      attack.account = 'acct_mallory';
      const r = await deliver(connect, attack, CONNECT_SECRET);
      expect(r.status).toBe(200);
      expect((await stream<InvoiceState>(`invoice-coach.${victim}`, invoiceDecider)).status).toBe('open');
      const { rows } = await svc.runtime.db.query<{ last_error: string }>('SELECT last_error FROM webhook_inbox WHERE event_id = $1', [attack.id]);
      expect(rows[0]!.last_error).toContain('is not the tenant of account acct_mallory');
      // an account nobody linked: its events wait (parked), they are not applied
      const orphan = pi('payment_intent.succeeded', { invoice_id: victim }, 4000, `pi_orphan_${victim}`, `ch_orphan_${victim}`);
      orphan.account = 'acct_unlinked';
      expect((await deliver(connect, orphan, CONNECT_SECRET)).body).toMatchObject({ status: 'parked' });
      expect((await stream<InvoiceState>(`invoice-coach.${victim}`, invoiceDecider)).status).toBe('open');
    });

    test("a Connect payment on the tenant's own account pays its invoice and books the platform fee in the finance ledger", async () => {
      const admin = client(svc.url, ADMIN_KEY);
      await admin.post('/v1/tenants/coach/stripe-account', { accountId: 'acct_coach' });
      const invoiceId = await invoice(10000);
      const e = pi('payment_intent.succeeded', { invoice_id: invoiceId }, 10000, `pi_fee_${invoiceId}`, `ch_fee_${invoiceId}`);
      e.account = 'acct_coach';
      e.data.object.application_fee_amount = 250;
      expect((await deliver(connect, e, CONNECT_SECRET)).body).toMatchObject({ status: 'processed' });
      expect((await stream<InvoiceState>(`invoice-coach.${invoiceId}`, invoiceDecider)).status).toBe('paid');
      const day = new Date(e.created * 1000).toISOString().slice(0, 10);
      await eventually(async () => {
        const r = await api.get<{ rows: Array<{ currency: string; platformFees: number; grossCollected: number }> }>(`/v1/reports/finance?from=${day}&to=${day}`);
        const usd = r.body.rows.find((x) => x.currency === 'USD');
        return !!usd && usd.platformFees >= 250;
      }, 15_000);
    });

    test('bodies over 1 MB are 413; live-mode events on a test-mode endpoint are 400', async () => {
      const before = await inboxCount();
      const big = stripeEvent('payment_intent.processing', (o) => (o.description = 'x'.repeat(1_100_000)));
      expect((await deliver(platform, big, SECRET)).status).toBe(413);
      const live = stripeEvent('payment_intent.processing', (_o, ev) => (ev.livemode = true));
      expect((await deliver(platform, live, SECRET)).body).toMatchObject({ type: 'https://settle.dev/problems/livemode-mismatch' });
      expect(await inboxCount()).toBe(before);
    });

    test('an unhandled event type is acknowledged and counted', async () => {
      const e = stripeEvent('payment_intent.processing', (_o, ev) => (ev.type = 'customer.tax_id.created'));
      expect(await deliver(platform, e, SECRET)).toMatchObject({ status: 200, body: { status: 'ignored' } });
      const metrics = await scrape(svc);
      expect(metrics).toMatch(/settle_webhooks_unhandled_total\{endpoint="stripe",type="customer.tax_id.created"\} 1/);
    });
  });

  describe('payments', () => {
    test('twenty concurrent copies of payment_intent.succeeded pay the booking once', async () => {
      const bookingId = await booking(250000);
      const e = pi('payment_intent.succeeded', { booking_id: bookingId }, 250000, `pi_bk_${bookingId}`, `ch_bk_${bookingId}`);
      const results = await Promise.all(Array.from({ length: 20 }, () => deliver(platform, e, SECRET)));
      expect(results.every((r) => r.status === 200)).toBe(true);
      const name = `booking-coach.${bookingId}`;
      expect((await types(name)).filter((t) => t === 'BookingPaymentCompleted')).toHaveLength(1);
      expect((await stream<BookingState>(name, bookingDecider)).status).toBe('paid');
    });

    test('a failed booking payment is recorded with the error code, decline code and message', async () => {
      const bookingId = await booking(1000);
      await deliver(platform, pi('payment_intent.payment_failed', { booking_id: bookingId }, 1000, `pi_f_${bookingId}`, `ch_f_${bookingId}`), SECRET);
      const events = await svc.runtime.eventStore.readStream(`booking-coach.${bookingId}`);
      expect(events.map((e) => e.type)).toEqual(['BookingRequested', 'BookingPaymentFailed']);
      expect(events[1]!.data).toMatchObject({ errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.', card: { brand: 'visa', last4: '9995' } });
      // card brand and last four only: nothing else of the card reaches the event store
      expect(JSON.stringify(events[1]!.data)).not.toMatch(/exp_month|exp_year|fingerprint|funding|"number"/);
      const history = await api.get<{ data: Array<{ status: string; card: unknown; docsUrl: string }> }>(`/v1/payments?payable_id=${bookingId}&min_position=${events[1]!.position.commit}/${events[1]!.position.prepare}`);
      expect(history.body.data[0]).toMatchObject({ status: 'failed', card: { brand: 'visa', last4: '9995' }, docsUrl: expect.stringContaining('insufficient_funds') });
      expect(events[1]!.metadata).toMatchObject({ causationId: expect.stringMatching(/^evt_test_/) });
    });

    test('an invoice: action required, then a failure, then success; refund and dispute found through the charge', async () => {
      const invoiceId = await invoice(5000);
      const piId = `pi_inv_${invoiceId}`;
      const ch = `ch_inv_${invoiceId}`;
      const target = { invoice_id: invoiceId };
      for (const f of ['payment_intent.requires_action', 'payment_intent.processing', 'payment_intent.amount_capturable_updated', 'payment_intent.payment_failed', 'charge.failed', 'payment_intent.succeeded']) {
        const e = f === 'charge.failed' ? stripeEvent(f, (o) => Object.assign(o, { id: ch, payment_intent: piId, metadata: {} })) : pi(f, target, 5000, piId, ch);
        expect((await deliver(platform, e, SECRET)).status).toBe(200);
      }
      // the charge of the same payment intent succeeding is the same payment, not a second one
      await deliver(platform, stripeEvent('charge.succeeded', (o) => Object.assign(o, { id: ch, payment_intent: piId, metadata: {}, amount: 5000, amount_captured: 5000, currency: 'usd' })), SECRET);
      let s = await stream<InvoiceState>(`invoice-coach.${invoiceId}`, invoiceDecider);
      expect(s).toMatchObject({ status: 'paid', amountPaid: 5000 });
      expect(s.overpayments).toHaveLength(0);
      expect(s.attempts.map((a) => a.outcome)).toEqual(expect.arrayContaining(['requires_action', 'failed', 'succeeded']));
      // refunds and disputes carry no metadata: resolved through the learned payment intent / charge
      await deliver(
        platform,
        stripeEvent('charge.refunded', (o) => {
          Object.assign(o, { id: ch, payment_intent: piId, metadata: {}, currency: 'usd' });
          o.refunds = { object: 'list', data: [{ id: `re_${invoiceId}`, object: 'refund', amount: 1500, currency: 'usd', status: 'succeeded', charge: ch, reason: null }] };
        }),
        SECRET,
      );
      await deliver(platform, stripeEvent('charge.dispute.created', (o) => Object.assign(o, { id: `dp_${invoiceId}`, charge: ch, payment_intent: piId, amount: 3500, currency: 'usd' })), SECRET);
      await deliver(platform, stripeEvent('charge.dispute.created', (o, ev) => Object.assign(o, { id: `dp_${invoiceId}`, charge: ch, payment_intent: piId, amount: 3500, currency: 'usd', status: 'lost' }) && (ev.type = 'charge.dispute.closed')), SECRET);
      s = await stream<InvoiceState>(`invoice-coach.${invoiceId}`, invoiceDecider);
      expect(s).toMatchObject({ amountRefunded: 1500, amountLost: 3500, collected: 0 });
      // the same refund reported again by refund.updated (current API versions) is the same refund
      const refundObject = { id: `re_${invoiceId}`, object: 'refund', amount: 1500, currency: 'usd', status: 'succeeded', charge: ch, payment_intent: piId, reason: null, metadata: {} };
      await deliver(platform, stripeEvent('charge.refunded', (_o, ev) => {
        ev.type = 'refund.updated';
        ev.data.object = refundObject;
      }), SECRET);
      expect((await stream<InvoiceState>(`invoice-coach.${invoiceId}`, invoiceDecider)).amountRefunded).toBe(1500);
    });

    test('refund.created (charges no longer list their refunds) records a dashboard refund', async () => {
      const invoiceId = await invoice(9000);
      await deliver(platform, pi('payment_intent.succeeded', { invoice_id: invoiceId }, 9000, `pi_rc_${invoiceId}`, `ch_rc_${invoiceId}`), SECRET);
      const refund = (status: string) =>
        stripeEvent('charge.refunded', (_o, ev) => {
          ev.type = 'refund.created';
          ev.data.object = { id: `re_rc_${invoiceId}`, object: 'refund', amount: 2500, currency: 'usd', status, charge: `ch_rc_${invoiceId}`, payment_intent: `pi_rc_${invoiceId}`, reason: 'requested_by_customer', metadata: {} };
        });
      await deliver(platform, refund('pending'), SECRET);
      expect((await stream<InvoiceState>(`invoice-coach.${invoiceId}`, invoiceDecider)).amountRefunded).toBe(0);
      await deliver(platform, refund('succeeded'), SECRET);
      expect((await stream<InvoiceState>(`invoice-coach.${invoiceId}`, invoiceDecider)).amountRefunded).toBe(2500);
    });

    test('canceled payment intents, legacy charges and checkout sessions in payment mode', async () => {
      const a = await invoice(700);
      await deliver(platform, pi('payment_intent.canceled', { invoice_id: a }, 700, `pi_c_${a}`, `ch_c_${a}`), SECRET);
      expect((await stream<InvoiceState>(`invoice-coach.${a}`, invoiceDecider)).attempts[0]).toMatchObject({ outcome: 'failed', errorCode: 'canceled' });
      // a charge from the old Charges API (no payment intent) pays an invoice by itself
      const b = await invoice(800);
      await deliver(platform, stripeEvent('charge.succeeded', (o) => Object.assign(o, { id: `ch_legacy_${b}`, payment_intent: null, metadata: { tenant_id: 'coach', invoice_id: b }, amount: 800, amount_captured: 800, currency: 'usd' })), SECRET);
      expect(await stream<InvoiceState>(`invoice-coach.${b}`, invoiceDecider)).toMatchObject({ status: 'paid', payment: { providerPaymentId: `ch_legacy_${b}` } });
      // a Checkout Session in payment mode, then its (redundant) payment intent event
      const c = await invoice(1099);
      await deliver(platform, stripeEvent('checkout.session.completed', (o) => Object.assign(o, { metadata: { tenant_id: 'coach', invoice_id: c }, payment_intent: `pi_cs_${c}`, amount_total: 1099 })), SECRET);
      await deliver(platform, pi('payment_intent.succeeded', { invoice_id: c }, 1099, `pi_cs_${c}`, `ch_cs_${c}`), SECRET);
      await deliver(platform, stripeEvent('checkout.session.expired', (o) => Object.assign(o, { metadata: { tenant_id: 'coach', invoice_id: c } })), SECRET);
      const sc = await stream<InvoiceState>(`invoice-coach.${c}`, invoiceDecider);
      expect(sc).toMatchObject({ status: 'paid', amountPaid: 1099 });
      expect(sc.overpayments).toHaveLength(0);
      // async payment methods: the outcome comes later
      const d = await invoice(2000);
      await deliver(platform, stripeEvent('checkout.session.completed', (o) => Object.assign(o, { metadata: { tenant_id: 'coach', invoice_id: d }, payment_intent: `pi_async_${d}`, amount_total: 2000, payment_status: 'unpaid' })), SECRET);
      await deliver(platform, stripeEvent('checkout.session.completed', (o, ev) => Object.assign(o, { metadata: { tenant_id: 'coach', invoice_id: d }, payment_intent: `pi_async_${d}`, amount_total: 2000 }) && (ev.type = 'checkout.session.async_payment_failed')), SECRET);
      await deliver(platform, stripeEvent('checkout.session.completed', (o, ev) => Object.assign(o, { metadata: { tenant_id: 'coach', invoice_id: d }, payment_intent: `pi_async_${d}`, amount_total: 2000 }) && (ev.type = 'checkout.session.async_payment_succeeded')), SECRET);
      const sd = await stream<InvoiceState>(`invoice-coach.${d}`, invoiceDecider);
      expect(sd.status).toBe('paid');
      expect(sd.attempts.map((x) => x.outcome)).toEqual(['failed', 'succeeded']);
    });

    test('a payment for an invoice that does not exist yet is parked, then applied once the invoice exists', async () => {
      const future = `inv_future_${randomBytes(3).toString('hex')}`;
      const r = await deliver(platform, pi('payment_intent.payment_failed', { invoice_id: future }, 100, `pi_${future}`, `ch_${future}`), SECRET);
      expect(r).toMatchObject({ status: 200, body: { status: 'parked' } });
      const { rows } = await svc.runtime.db.query<{ status: string; last_error: string }>('SELECT status, last_error FROM webhook_inbox WHERE event_id = $1', [r.body.id]);
      expect(rows[0]).toMatchObject({ status: 'parked', last_error: expect.stringContaining('invoice_not_found') });
    });
  });

  describe('subscriptions', () => {
    function lifecycle(customerId: string): StripeEvent[] {
      const sub = `sub_${customerId}`;
      const cus = `cus_${customerId}`;
      const md = { tenant_id: 'coach', customer_id: customerId, plan_id: 'pro' };
      const inv = (file: string, id: string, reason: string, mutate: (o: Record<string, unknown>) => void = () => undefined) =>
        stripeEvent(file, (o) => {
          Object.assign(o, { id, customer: cus, subscription: sub, billing_reason: reason, currency: 'usd', amount_paid: 2000, amount_due: 2000, total: 2000 });
          o.parent = { type: 'subscription_details', subscription_details: { subscription: sub, metadata: md } };
          o.lines.data[0].period = { start: 1785600000, end: 1788278400 };
          mutate(o);
        });
      return [
        stripeEvent('checkout.session.completed', (o) => Object.assign(o, { mode: 'subscription', customer: cus, subscription: sub, payment_intent: null, metadata: md })),
        stripeEvent('customer.subscription.created', (o) => Object.assign(o, { id: sub, customer: cus, metadata: md })),
        inv('invoice.paid', `in_first_${customerId}`, 'subscription_create'),
        inv('invoice.payment_failed', `in_cycle_${customerId}`, 'subscription_cycle', (o) => (o.next_payment_attempt = 1788541200)),
        inv('invoice.paid', `in_cycle_${customerId}`, 'subscription_cycle'),
        stripeEvent('customer.subscription.updated', (o) => Object.assign(o, { id: sub, customer: cus, metadata: md })),
      ];
    }

    async function settle(): Promise<void> {
      // parked events are retried until none is left that can still apply
      for (let i = 0; i < 5; i++) await svc.runtime.inboxRetrier.runOnce(true);
    }

    test('in order: activated, renewed after a retried payment, access kept; invoices kept with hosted links', async () => {
      for (const e of lifecycle('cus-inorder')) expect((await deliver(platform, e, SECRET)).status).toBe(200);
      const s = await stream<SubscriptionState>('subscription-coach.cus-inorder', subscriptionDecider);
      // the lifecycle's customer.subscription.updated (the published example) is a portal cancellation at period end: followed
      expect(s).toMatchObject({ status: 'cancellation_scheduled', cancelAtPeriodEnd: true, accessActive: true, providerSubscriptionId: 'sub_cus-inorder', planId: 'pro' });
      const inv = await stream<InvoiceState>('invoice-coach.in_cycle_cus-inorder', invoiceDecider);
      expect(inv).toMatchObject({ status: 'paid', provider: 'stripe', providerInvoiceId: 'in_cycle_cus-inorder', hostedInvoiceUrl: expect.stringContaining('https://invoice.stripe.com/') });
    });

    test('shuffled delivery of the whole lifecycle ends in the same state as in-order delivery (many shuffles)', async () => {
      const reference = await stream<SubscriptionState>('subscription-coach.cus-inorder', subscriptionDecider);
      for (let seed = 1; seed <= 8; seed++) {
        const customerId = `cus-shuffle-${seed}`;
        const events = lifecycle(customerId);
        const r = rng(seed);
        for (let i = events.length - 1; i > 0; i--) {
          const j = Math.floor(r() * (i + 1));
          [events[i], events[j]] = [events[j]!, events[i]!];
        }
        for (const e of events) expect((await deliver(platform, e, SECRET)).status).toBe(200);
        await settle();
        const s = await stream<SubscriptionState>(`subscription-coach.${customerId}`, subscriptionDecider);
        const comparable = (x: SubscriptionState) => ({ status: x.status, accessActive: x.accessActive, planId: x.planId, priceId: x.priceId, interval: x.interval, currentPeriodEnd: x.currentPeriodEnd, nextPaymentAttempt: x.nextPaymentAttempt, processed: [...x.processedInvoiceIds].sort() });
        expect(comparable(s)).toEqual({ ...comparable(reference), processed: comparable(reference).processed.map((p) => p.replace('cus-inorder', customerId)).sort() });
      }
      const parked = await svc.runtime.db.query(`SELECT event_type, last_error FROM webhook_inbox WHERE status = 'parked' AND payload::text LIKE '%cus-shuffle%'`);
      expect(parked.rows).toEqual([]);
    });

    test('final failed payment: suspended, access ends, the provider subscription is cancelled and the invoice voided once', async () => {
      for (const e of lifecycle('cus-final').slice(0, 3)) await deliver(platform, e, SECRET);
      const final = stripeEvent('invoice.payment_failed.next_payment_attempt_null', (o) => {
        Object.assign(o, { id: 'in_final_cus-final', customer: 'cus_cus-final', subscription: 'sub_cus-final', billing_reason: 'subscription_cycle', currency: 'usd' });
        o.parent = { type: 'subscription_details', subscription_details: { subscription: 'sub_cus-final', metadata: { tenant_id: 'coach', customer_id: 'cus-final' } } };
      });
      await Promise.all([deliver(platform, final, SECRET), deliver(platform, final, SECRET)]);
      const s = await stream<SubscriptionState>('subscription-coach.cus-final', subscriptionDecider);
      expect(s).toMatchObject({ status: 'suspended', accessActive: false });
      await eventually(() => provider.distinctEffects('cancelSubscription') >= 1 && provider.distinctEffects('voidInvoice') >= 1, 15_000);
      expect(provider.callsOf('cancelSubscription').filter((c) => c.request.providerSubscriptionId === 'sub_cus-final').map((c) => c.request.idempotencyKey).filter((k, i, a) => a.indexOf(k) === i)).toHaveLength(1);
      expect(provider.callsOf('voidInvoice').some((c) => c.request.providerInvoiceId === 'in_final_cus-final')).toBe(true);
      // a renewal that arrives after the suspension is too late: processed, not parked forever
      const late = lifecycle('cus-final')[4]!;
      expect((await deliver(platform, late, SECRET)).body).toMatchObject({ status: 'processed' });
    });

    test('deletion ends the subscription; invoice.finalized, voided and marked_uncollectible are mapped', async () => {
      const events = lifecycle('cus-end');
      for (const e of events.slice(0, 3)) await deliver(platform, e, SECRET);
      const md = { tenant_id: 'coach', customer_id: 'cus-end' };
      const manual = (file: string, mutate: (o: Record<string, unknown>, ev: StripeEvent) => void = () => undefined) =>
        stripeEvent(file, (o, ev) => {
          Object.assign(o, { id: 'in_manual_cus-end', customer: 'cus_cus-end', subscription: null, parent: null, currency: 'usd', total: 4200, amount_due: 4200 });
          mutate(o, ev);
        });
      await deliver(platform, manual('invoice.finalized'), SECRET); // customer known from the earlier checkout
      await deliver(platform, manual('invoice.voided'), SECRET);
      expect(await stream<InvoiceState>('invoice-coach.in_manual_cus-end', invoiceDecider)).toMatchObject({ status: 'void', total: { amount: 4200, currency: 'USD' } });
      const uncollectible = stripeEvent('invoice.payment_failed', (o, ev) => {
        ev.type = 'invoice.marked_uncollectible';
        Object.assign(o, { id: 'in_unc_cus-end', customer: 'cus_cus-end', subscription: 'sub_cus-end', billing_reason: 'subscription_cycle', currency: 'usd' });
        o.parent = { type: 'subscription_details', subscription_details: { subscription: 'sub_cus-end', metadata: md } };
      });
      await deliver(platform, uncollectible, SECRET);
      expect((await stream<SubscriptionState>('subscription-coach.cus-end', subscriptionDecider)).status).toBe('suspended');
      const other = lifecycle('cus-del');
      for (const e of other.slice(0, 2)) await deliver(platform, e, SECRET);
      await deliver(platform, stripeEvent('customer.subscription.deleted', (o) => Object.assign(o, { id: 'sub_cus-del', customer: 'cus_cus-del', metadata: { tenant_id: 'coach', customer_id: 'cus-del' } })), SECRET);
      expect(await stream<SubscriptionState>('subscription-coach.cus-del', subscriptionDecider)).toMatchObject({ status: 'cancelled', accessActive: false });
    });
  });
});
