/**
 * Money defects reported from outside, reproduced through the public interfaces only: the HTTP
 * API and signed Stripe webhooks, against a real PostgreSQL (DATABASE_URL), the in-process bus
 * (finance reporting and the CRM sync saga run in the service) and the CRM simulator.
 *
 * Ids are at the maximum length the API accepts (100: http/routes/schemas.ts `id`), and amounts
 * use a zero-decimal (JPY) and a three-decimal (KWD) currency where refunds and disputes are.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { deliverApplied, startTestService, type TestService } from '../test/support/service';
import { stripeEvent, type StripeEvent } from '../test/support/stripeEvents';
import { startCrmSimulator, type CrmSimulator } from '../test/simulators/crm';

const SECRET = 'whsec_money_test_secret';
const MAX_ID = 100;
/** An id of exactly the maximum length the API accepts. */
const longId = (tag: string) => `${tag}-${randomBytes(6).toString('hex')}-`.padEnd(MAX_ID, 'x');

type Api = ReturnType<typeof client>;
interface Totals {
  currency: string;
  grossCollected: number;
  refunds: number;
  disputed: number;
  disputeLosses: number;
  net: number;
  succeededCount: number;
  failedCount: number;
}
interface Payment {
  payable: { type: string; id: string };
  subscription: { providerSubscriptionId: string; customerId: string } | null;
  providerPaymentId: string;
  status: string;
  amount: { amount: number; currency: string };
  refunded: { amount: number; currency: string };
  needsAttention: string | null;
}
interface BookingRead {
  bookingId: string;
  status: string;
  stage: string;
  needsAttention: boolean;
  attention: string[];
  refunded: { amount: number };
  payments: Array<{ providerPaymentId: string; kept: boolean; refunded: { amount: number } }>;
  disputes: Array<{ disputeId: string; status: string; amount: { amount: number; currency: string } }>;
  waitlist: { promotedAt: string | null };
}

describe('money through the API and signed webhooks (PostgreSQL)', () => {
  let svc: TestService;
  /** Delivered and applied (queue first): `body.status` is the inbox row's status. */
  const deliver = (url: string, event: StripeEvent | string, secret: string, opts: { timestamp?: number; signature?: string } = {}) => deliverApplied(svc, url, event, secret, opts);
  let crm: CrmSimulator;
  let platform: string;
  const schema = `money_${randomBytes(5).toString('hex')}`;
  const today = new Date().toISOString().slice(0, 10);

  beforeAll(async () => {
    crm = await startCrmSimulator();
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_WEBHOOK_SECRET: SECRET,
      CRM_BASE_URL: crm.url,
      CRM_API_KEY: crm.apiKey,
      CRM_RETRY_BASE_MS: '50',
      CRM_RETRY_MAX_MS: '200',
    });
    platform = `${svc.url}/webhooks/stripe`;
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await crm?.close();
    await dropSchema(schema);
  });

  /** A tenant with a 100-character id and its API key. */
  async function tenant(tag: string): Promise<{ tenantId: string; api: Api }> {
    const tenantId = longId(tag);
    const admin = client(svc.url, ADMIN_KEY);
    expect((await admin.post('/v1/tenants', { tenantId, name: tag })).status).toBe(201);
    return { tenantId, api: client(svc.url, (await admin.post<{ apiKey: string }>(`/v1/tenants/${tenantId}/api-keys`, {})).body.apiKey) };
  }

  async function departure(api: Api, capacity: number): Promise<string> {
    const departureId = longId('dep');
    const r = await api.post('/v1/departures', { departureId, name: 'Hokkaido, February', paymentScheduleId: 'sched-1', capacity });
    expect(r.status).toBe(201);
    return departureId;
  }

  async function booking(api: Api, departureId: string, price: { amount: number; currency: string }): Promise<string> {
    const r = await api.post<{ bookingId: string; status: string }>('/v1/bookings', {
      departureId,
      contact: { firstName: 'Aiko', lastName: 'Tanaka', email: 'aiko@example.com', phone: '+81 3 0000 0000' },
      guests: [{ firstName: 'Aiko', lastName: 'Tanaka' }],
      price,
    });
    expect(r.status).toBe(201);
    return r.body.bookingId;
  }

  /** payment_intent.succeeded for a booking, with its charge. */
  function paid(tenantId: string, bookingId: string, amount: number, currency: string, piId: string, chargeId: string): StripeEvent {
    return stripeEvent('payment_intent.succeeded', (o) => {
      Object.assign(o, { id: piId, amount, amount_received: amount, currency: currency.toLowerCase(), latest_charge: chargeId, metadata: { tenant_id: tenantId, booking_id: bookingId } });
    });
  }

  /** charge.refunded as Stripe sends it: the charge with its cumulative amount_refunded and its refunds (no metadata). */
  function chargeRefunded(chargeId: string, piId: string, amount: number, currency: string, refunds: Array<{ id: string; amount: number }>, amountRefunded: number): StripeEvent {
    return stripeEvent('charge.refunded', (o) => {
      Object.assign(o, { id: chargeId, payment_intent: piId, metadata: {}, amount, amount_captured: amount, amount_refunded: amountRefunded, currency: currency.toLowerCase(), refunded: amountRefunded === amount });
      o.refunds = { object: 'list', data: refunds.map((r) => ({ id: r.id, object: 'refund', amount: r.amount, currency: currency.toLowerCase(), status: 'succeeded', charge: chargeId, payment_intent: piId, reason: 'duplicate', metadata: {} })) };
    });
  }

  async function send(e: StripeEvent, expected = 'processed'): Promise<void> {
    const r = await deliver(platform, e, SECRET);
    expect(r).toMatchObject({ status: 200, body: { status: expected } });
  }

  /** Everything written so far has reached the read models and the finance ledger. */
  async function settled(api: Api): Promise<void> {
    await eventually(async () => {
      const { rows } = await svc.runtime.db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox WHERE published_at IS NULL AND (available_at IS NULL OR available_at <= now())`);
      return Number(rows[0]!.n) === 0;
    }, 45_000);
    const head = (await svc.runtime.eventStore.readAll({ after: null, maxCount: 100_000 })).at(-1)!.position;
    const min = `${head.commit}/${head.prepare}`;
    // the read models have caught up with the head of the log
    for (const path of ['/v1/payments?limit=1', '/v1/bookings?limit=1']) {
      await eventually(async () => (await api.get(`${path}&min_position=${min}`)).headers.get('settle-stale') !== 'true', 45_000);
    }
  }

  async function totals(api: Api, currency: string): Promise<Totals> {
    await settled(api);
    const r = await api.get<{ totals: Totals[] }>(`/v1/reports/finance?from=${today}&to=${today}`);
    expect(r.status).toBe(200);
    return r.body.totals.find((t) => t.currency === currency) ?? ({ currency, grossCollected: 0, refunds: 0, disputed: 0, disputeLosses: 0, net: 0, succeededCount: 0, failedCount: 0 });
  }

  async function payments(api: Api, payableId?: string): Promise<Payment[]> {
    await settled(api);
    const r = await api.get<{ data: Payment[] }>(`/v1/payments?limit=100${payableId ? `&payable_id=${payableId}` : ''}`);
    expect(r.status).toBe(200);
    return r.body.data;
  }

  async function read(api: Api, bookingId: string): Promise<BookingRead> {
    await settled(api);
    const r = await api.get<BookingRead>(`/v1/bookings/${bookingId}`);
    expect(r.status).toBe(200);
    return r.body;
  }

  test('(1) one paid subscription invoice is one payment: once in payment history (the invoice, linked to the subscription), once in finance', async () => {
    const { tenantId, api } = await tenant('subs');
    const customerId = longId('cus');
    const sub = `sub_${randomBytes(8).toString('hex')}`;
    const cus = `cus_${randomBytes(8).toString('hex')}`;
    const invoiceId = `in_${randomBytes(8).toString('hex')}`;
    const md = { tenant_id: tenantId, customer_id: customerId, plan_id: 'pro' };
    await send(stripeEvent('checkout.session.completed', (o) => Object.assign(o, { mode: 'subscription', customer: cus, subscription: sub, payment_intent: null, metadata: md })));
    await send(stripeEvent('customer.subscription.created', (o) => Object.assign(o, { id: sub, customer: cus, metadata: md })));
    // the first attempt fails (Stripe retries): one failed payment, not two
    await send(
      stripeEvent('invoice.payment_failed', (o) => {
        Object.assign(o, { id: invoiceId, customer: cus, subscription: sub, billing_reason: 'subscription_cycle', currency: 'eur', amount_paid: 0, amount_due: 2900, total: 2900, next_payment_attempt: Math.floor(Date.now() / 1000) + 86400 });
        o.parent = { type: 'subscription_details', subscription_details: { subscription: sub, metadata: md } };
        o.lines.data[0].period = { start: 1785600000, end: 1788278400 };
      }),
    );
    await send(
      stripeEvent('invoice.paid', (o) => {
        Object.assign(o, { id: invoiceId, customer: cus, subscription: sub, billing_reason: 'subscription_cycle', currency: 'eur', amount_paid: 2900, amount_due: 2900, total: 2900 });
        o.parent = { type: 'subscription_details', subscription_details: { subscription: sub, metadata: md } };
        o.lines.data[0].period = { start: 1785600000, end: 1788278400 };
        o.status_transitions = { ...o.status_transitions, paid_at: Math.floor(Date.now() / 1000) };
      }),
    );
    const t = await totals(api, 'EUR');
    expect(t).toMatchObject({ grossCollected: 2900, succeededCount: 1, failedCount: 1, net: 2900 });
    const all = await payments(api);
    expect(all.map((p) => [p.payable.type, p.status]).sort()).toEqual([
      ['invoice', 'failed'],
      ['invoice', 'succeeded'],
    ]);
    const list = all.filter((p) => p.status === 'succeeded');
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ payable: { type: 'invoice', id: invoiceId }, subscription: { providerSubscriptionId: sub, customerId }, amount: { amount: 2900, currency: 'EUR' } });
    // the subscription itself still renewed
    expect((await api.get<{ status: string }>(`/v1/customers/${customerId}/subscription`)).body.status).toBe('active');
  });

  test("(2) refunding a duplicate payment (JPY) refunds the duplicate's charge, never the kept payment", async () => {
    const { tenantId, api } = await tenant('dup');
    const dep = await departure(api, 10);
    const bookingId = await booking(api, dep, { amount: 38000, currency: 'JPY' });
    const [pi1, ch1, pi2, ch2] = ['pi_kept', 'ch_kept', 'pi_dup', 'ch_dup'].map((x) => `${x}_${randomBytes(6).toString('hex')}`) as [string, string, string, string];
    await send(paid(tenantId, bookingId, 38000, 'JPY', pi1, ch1));
    await send(paid(tenantId, bookingId, 38000, 'JPY', pi2, ch2));
    let b = await read(api, bookingId);
    expect(b).toMatchObject({ status: 'paid', needsAttention: true, attention: [`payment:${pi2}`] });
    // the provider refunds the duplicate's charge; the same report arrives twice, plus refund.updated
    const refund = chargeRefunded(ch2, pi2, 38000, 'JPY', [{ id: `re_dup_${bookingId}`, amount: 38000 }], 38000);
    await send(refund);
    await send(chargeRefunded(ch2, pi2, 38000, 'JPY', [{ id: `re_dup_${bookingId}`, amount: 38000 }], 38000));
    await send(
      stripeEvent('charge.refunded', (_o, ev) => {
        ev.type = 'refund.updated';
        ev.data.object = { id: `re_dup_${bookingId}`, object: 'refund', amount: 38000, currency: 'jpy', status: 'succeeded', charge: ch2, payment_intent: pi2, reason: 'duplicate', metadata: {} };
      }),
    );
    b = await read(api, bookingId);
    expect(b).toMatchObject({ status: 'paid', needsAttention: false, attention: [], refunded: { amount: 0 } });
    expect(b.payments.map((p) => [p.providerPaymentId, p.kept, p.refunded.amount])).toEqual([
      [pi1, true, 0],
      [pi2, false, 38000],
    ]);
    const rows = await payments(api, bookingId);
    expect(rows.find((p) => p.providerPaymentId === pi1)).toMatchObject({ status: 'succeeded', refunded: { amount: 0 } });
    expect(rows.find((p) => p.providerPaymentId === pi2)).toMatchObject({ status: 'refunded', refunded: { amount: 38000 }, needsAttention: null });
    expect(await totals(api, 'JPY')).toMatchObject({ grossCollected: 76000, succeededCount: 2, refunds: 38000, net: 38000 });
    // the kept payment can still be refunded in full through the API (nothing of it was refunded)
    expect((await api.post(`/v1/bookings/${bookingId}/refunds`, { amount: { amount: 38001, currency: 'JPY' } })).body).toMatchObject({ type: 'https://settle.dev/problems/refund-exceeds-paid' });
  });

  test('(2) cumulative charge.refunded reports (KWD, three decimals) out of order converge; never double-counted', async () => {
    const { tenantId, api } = await tenant('kwd');
    const dep = await departure(api, 10);
    const bookingId = await booking(api, dep, { amount: 125750, currency: 'KWD' });
    const pi = `pi_kwd_${randomBytes(6).toString('hex')}`;
    const ch = `ch_kwd_${randomBytes(6).toString('hex')}`;
    await send(paid(tenantId, bookingId, 125750, 'KWD', pi, ch));
    const first = { id: `re_a_${randomBytes(4).toString('hex')}`, amount: 50000 };
    const second = { id: `re_b_${randomBytes(4).toString('hex')}`, amount: 25750 };
    // the later report (both refunds, total 75.750 KWD) arrives before the earlier one (50.000 KWD)
    await send(chargeRefunded(ch, pi, 125750, 'KWD', [first, second], 75750));
    await send(chargeRefunded(ch, pi, 125750, 'KWD', [first], 50000));
    // a current-API charge.refunded lists no refunds: only the cumulative total, again
    await send(chargeRefunded(ch, pi, 125750, 'KWD', [], 75750));
    const b = await read(api, bookingId);
    expect(b).toMatchObject({ status: 'paid', refunded: { amount: 75750 } });
    expect(await totals(api, 'KWD')).toMatchObject({ grossCollected: 125750, refunds: 75750, net: 50000 });
    // the rest, reported as a total only: fully refunded, the booking ends
    await send(chargeRefunded(ch, pi, 125750, 'KWD', [], 125750));
    expect(await read(api, bookingId)).toMatchObject({ status: 'refunded', refunded: { amount: 125750 } });
    expect(await totals(api, 'KWD')).toMatchObject({ refunds: 125750, net: 0 });
  });

  test("(2) refunding an invoice's overpayment (BHD, three decimals) refunds the overpayment, not the invoice's payment", async () => {
    const { tenantId, api } = await tenant('over');
    const inv = await api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: longId('client'),
      customer: { name: 'Layla', email: 'layla@example.com' },
      currency: 'BHD',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: 150250 }],
      dueDate: '2030-12-31',
      allowedPaymentMethods: ['stripe_connect'],
    });
    expect(inv.status).toBe(201);
    const invoiceId = inv.body.invoiceId;
    const pay = (piId: string, chargeId: string) =>
      stripeEvent('payment_intent.succeeded', (o) => Object.assign(o, { id: piId, amount: 150250, amount_received: 150250, currency: 'bhd', latest_charge: chargeId, metadata: { tenant_id: tenantId, invoice_id: invoiceId } }));
    const [pi1, ch1, pi2, ch2] = ['pi_inv', 'ch_inv', 'pi_over', 'ch_over'].map((x) => `${x}_${randomBytes(6).toString('hex')}`) as [string, string, string, string];
    await send(pay(pi1, ch1));
    await send(pay(pi2, ch2));
    await send(chargeRefunded(ch2, pi2, 150250, 'BHD', [{ id: `re_over_${randomBytes(4).toString('hex')}`, amount: 150250 }], 150250));
    await settled(api);
    const got = await api.get<{ status: string; amountRefunded: { amount: number }; needsAttention: boolean }>(`/v1/invoices/${invoiceId}`);
    expect(got.body).toMatchObject({ status: 'paid', amountRefunded: { amount: 0 }, needsAttention: false });
    const rows = await payments(api, invoiceId);
    expect(rows.find((p) => p.providerPaymentId === pi1)).toMatchObject({ status: 'succeeded', refunded: { amount: 0 } });
    expect(rows.find((p) => p.providerPaymentId === pi2)).toMatchObject({ status: 'refunded', refunded: { amount: 150250 }, needsAttention: null });
    expect(await totals(api, 'BHD')).toMatchObject({ grossCollected: 300500, refunds: 150250, net: 150250 });
  });

  test('(3) a payment for a waitlisted booking is held (no seat, not in the CRM); a capacity raise promotes the oldest, which then goes to the CRM as confirmed', async () => {
    const { tenantId, api } = await tenant('wait');
    const dep = await departure(api, 1);
    const price = { amount: 480000, currency: 'JPY' };
    const a = await booking(api, dep, price);
    const w1 = await booking(api, dep, price);
    const w2 = await booking(api, dep, price);
    expect((await read(api, w1)).status).toBe('waitlisted');
    await send(paid(tenantId, a, 480000, 'JPY', `pi_a_${a}`, `ch_a_${a}`));
    await send(paid(tenantId, w1, 480000, 'JPY', `pi_w_${w1}`, `ch_w_${w1}`));
    await eventually(() => crm.booking(a) !== undefined, 20_000);
    let w = await read(api, w1);
    expect(w).toMatchObject({ status: 'waitlisted', stage: 'needs_attention', attention: [`paid_while_waitlisted:pi_w_${w1}`], waitlist: { promotedAt: null } });
    expect(crm.booking(w1)).toBeUndefined();
    expect((await api.get<{ seatsTaken: number }>(`/v1/departures/${dep}`)).body.seatsTaken).toBe(1);
    // the money was received: finance counts it; payment history says it is held
    expect((await payments(api, w1))[0]).toMatchObject({ status: 'succeeded', needsAttention: expect.stringContaining('paid while waitlisted') });
    // a capacity below the seats taken is refused with a precise problem
    const below = await api.patch(`/v1/departures/${dep}`, { capacity: 0 });
    expect(below.status).toBe(409);
    expect(below.body).toMatchObject({ type: 'https://settle.dev/problems/capacity-below-seats-taken', seatsTaken: 1 });
    // one more seat: the oldest waitlisted booking (w1, not w2) gets it, and being paid, goes to the CRM
    const raised = await api.patch<{ seatsTaken: number }>(`/v1/departures/${dep}`, { capacity: 2 });
    expect(raised).toMatchObject({ status: 200, body: { seatsTaken: 2 } });
    w = await read(api, w1);
    expect(w).toMatchObject({ status: 'paid', attention: [], waitlist: { promotedAt: expect.any(String) } });
    expect((await read(api, w2)).status).toBe('waitlisted');
    await eventually(() => crm.booking(w1) !== undefined, 20_000);
    expect(crm.booking(w1)!.waitlisted).toBe(false);
    expect(crm.booking(w1)!.payload['p15_bookings.p15_waitlisted']).toBe(false);
    expect((await payments(api, w1))[0]).toMatchObject({ status: 'succeeded', needsAttention: null });
    // the promotion is announced through the outbox (notification hook)
    const { rows } = await svc.runtime.db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox WHERE value->>'type' = 'booking.promoted-from-waitlist' AND value->'data'->>'bookingId' = $1`, [w1]);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  test('(3) a cancellation frees the seat for the oldest waitlisted booking', async () => {
    const { api } = await tenant('cancel');
    const dep = await departure(api, 1);
    const price = { amount: 120000, currency: 'JPY' };
    const c = await booking(api, dep, price);
    const w1 = await booking(api, dep, price);
    const w2 = await booking(api, dep, price);
    expect((await api.post(`/v1/bookings/${c}/cancel`, { reason: 'changed plans' })).status).toBe(200);
    expect(await read(api, w1)).toMatchObject({ status: 'requested', waitlist: { promotedAt: expect.any(String) } });
    expect((await read(api, w2)).status).toBe('waitlisted');
    expect((await api.get<{ seatsTaken: number }>(`/v1/departures/${dep}`)).body.seatsTaken).toBe(1);
    // a waitlisted booking that is cancelled leaves the queue: the next seat goes past it
    expect((await api.post(`/v1/bookings/${w2}/cancel`, { reason: 'no longer' })).status).toBe(200);
    expect((await api.patch(`/v1/departures/${dep}`, { capacity: 3 })).body).toMatchObject({ seatsTaken: 1 });
  });

  test('(3) a booking fully refunded at the provider ends: its seat goes to the oldest waitlisted booking (waitlist reactor)', async () => {
    const { tenantId, api } = await tenant('refund-seat');
    const dep = await departure(api, 1);
    const price = { amount: 7500, currency: 'JPY' };
    const a = await booking(api, dep, price);
    const w = await booking(api, dep, price);
    await send(paid(tenantId, a, 7500, 'JPY', `pi_rs_${a}`, `ch_rs_${a}`));
    await send(chargeRefunded(`ch_rs_${a}`, `pi_rs_${a}`, 7500, 'JPY', [], 7500));
    expect((await read(api, a)).status).toBe('refunded');
    await eventually(async () => (await read(api, w)).status === 'requested', 20_000);
    expect((await api.get<{ seatsTaken: number }>(`/v1/departures/${dep}`)).body.seatsTaken).toBe(1);
  });

  test.each([
    ['lost', 'JPY', 90000],
    ['won', 'KWD', 42125],
  ])('(4) a dispute on a booking payment (%s, %s) is recorded: payment disputed, outcome visible, finance counts it', async (outcome, currency, amount) => {
    const { tenantId, api } = await tenant(`dispute-${outcome}`);
    const dep = await departure(api, 10);
    const bookingId = await booking(api, dep, { amount, currency });
    const pi = `pi_dp_${randomBytes(6).toString('hex')}`;
    const ch = `ch_dp_${randomBytes(6).toString('hex')}`;
    const dp = `dp_${randomBytes(6).toString('hex')}`;
    await send(paid(tenantId, bookingId, amount, currency, pi, ch));
    // disputes carry no metadata: found through the learned charge
    await send(stripeEvent('charge.dispute.created', (o) => Object.assign(o, { id: dp, charge: ch, payment_intent: pi, amount, currency: currency.toLowerCase(), status: 'needs_response', reason: 'fraudulent', metadata: {} })));
    expect((await payments(api, bookingId))[0]).toMatchObject({ status: 'disputed' });
    expect(await read(api, bookingId)).toMatchObject({ needsAttention: true, disputes: [{ disputeId: dp, status: 'open', amount: { amount, currency } }] });
    expect(await totals(api, currency)).toMatchObject({ disputed: amount });
    await send(
      stripeEvent('charge.dispute.created', (o, ev) => {
        ev.type = 'charge.dispute.closed';
        Object.assign(o, { id: dp, charge: ch, payment_intent: pi, amount, currency: currency.toLowerCase(), status: outcome, reason: 'fraudulent', metadata: {} });
      }),
    );
    const b = await read(api, bookingId);
    expect(b.disputes).toEqual([expect.objectContaining({ disputeId: dp, status: outcome })]);
    const t = await totals(api, currency);
    if (outcome === 'lost') {
      expect((await payments(api, bookingId))[0]).toMatchObject({ status: 'disputed' });
      expect(b).toMatchObject({ needsAttention: true, attention: [`dispute_lost:${dp}`] });
      expect(t).toMatchObject({ grossCollected: amount, disputed: 0, disputeLosses: amount, net: 0 });
    } else {
      expect((await payments(api, bookingId))[0]).toMatchObject({ status: 'succeeded' });
      expect(b).toMatchObject({ needsAttention: false, attention: [] });
      expect(t).toMatchObject({ grossCollected: amount, disputed: 0, disputeLosses: 0, net: amount });
    }
  });

  test('(5) money received after cancellation needs attention and is listed under stage=needs_attention', async () => {
    const { tenantId, api } = await tenant('late');
    const dep = await departure(api, 10);
    const bookingId = await booking(api, dep, { amount: 5000, currency: 'JPY' });
    expect((await api.post(`/v1/bookings/${bookingId}/cancel`, { reason: 'customer cancelled' })).status).toBe(200);
    await send(paid(tenantId, bookingId, 5000, 'JPY', `pi_late_${bookingId}`, `ch_late_${bookingId}`));
    expect(await read(api, bookingId)).toMatchObject({ status: 'cancelled', needsAttention: true });
    const listed = await api.get<{ data: Array<{ bookingId: string }> }>('/v1/bookings?stage=needs_attention');
    expect(listed.body.data.map((b) => b.bookingId)).toContain(bookingId);
  });
});
