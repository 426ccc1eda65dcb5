/**
 * Billing converges to the provider's truth (issue #16, subscriptions), through the public
 * interfaces only: the HTTP API and signed Stripe webhooks on the platform endpoint, against a
 * real PostgreSQL (DATABASE_URL). Outbound provider calls go to a recording provider; the same
 * paths against stripe-mock are in http/stripe.stripemock.test.ts.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ProviderError } from '../domain/ports/billingProvider';
import { fold } from '../domain/shared/decider';
import { subscriptionDecider, type SubscriptionEvent, type SubscriptionState } from '../domain/subscription/subscription';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { RecordingBillingProvider } from '../test/support/recordingProvider';
import { deliverApplied, startTestService, type TestService } from '../test/support/service';
import { stripeEvent, type StripeEvent } from '../test/support/stripeEvents';

const SECRET = 'whsec_subscriptions_test_secret';
/** 2026-08-01T00:00:00Z; periods are 30 days. */
const T0 = 1785542400;
const DAY = 86_400;
const M = 30 * DAY;
const period = (k: number) => ({ start: T0 + k * M, end: T0 + (k + 1) * M });
const isoOf = (sec: number) => new Date(sec * 1000).toISOString();

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Sub = Record<string, any>;

describe('subscriptions converge to the provider (HTTP + Stripe webhooks, PostgreSQL)', () => {
  let svc: TestService;
  /** Delivered and applied (queue first): `body.status` is the inbox row's status. */
  const deliver = (url: string, event: StripeEvent | string, secret: string, opts: { timestamp?: number; signature?: string } = {}) => deliverApplied(svc, url, event, secret, opts);
  const schema = `subs_${randomBytes(5).toString('hex')}`;
  const provider = new RecordingBillingProvider();
  let api: ReturnType<typeof client>;
  let platform: string;
  const price: Record<string, string> = {};

  beforeAll(async () => {
    svc = await startTestService(
      { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, STRIPE_WEBHOOK_SECRET: SECRET },
      async (rt) => {
        rt.provider = provider;
      },
    );
    platform = `${svc.url}/webhooks/stripe`;
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'saas', name: 'SaaS' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/saas/api-keys', {})).body.apiKey);
    for (const [planId, interval, amount] of [
      ['monthly', 'month', 2000],
      ['yearly', 'year', 20000],
    ] as const) {
      const r = await api.post<{ providerPriceId: string }>('/v1/plans', { planId, name: planId, amount: { amount, currency: 'USD' }, interval });
      expect(r.status).toBe(201);
      price[planId] = r.body.providerPriceId;
    }
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  // ---- Stripe objects -----------------------------------------------------------------------

  const md = (customerId: string, planId = 'monthly') => ({ tenant_id: 'saas', customer_id: customerId, plan_id: planId });

  function checkoutCompleted(customerId: string, created = T0): StripeEvent {
    return stripeEvent('checkout.session.completed', (o, ev) => {
      ev.created = created;
      Object.assign(o, { mode: 'subscription', customer: `cus_${customerId}`, subscription: `sub_${customerId}`, payment_intent: null, metadata: md(customerId) });
    });
  }

  interface SubShape {
    status?: string;
    planId?: string;
    priceId?: string;
    interval?: 'month' | 'year';
    k?: number;
    cancelAtPeriodEnd?: boolean;
    cancelAt?: number | null;
    canceledAt?: number | null;
  }

  function subscriptionEvent(type: 'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted', customerId: string, created: number, s: SubShape = {}): StripeEvent {
    return stripeEvent(type, (o: Sub, ev) => {
      ev.created = created;
      const planId = s.planId ?? 'monthly';
      const p = period(s.k ?? 0);
      const priceId = s.priceId ?? price[planId]!;
      Object.assign(o, {
        id: `sub_${customerId}`,
        customer: `cus_${customerId}`,
        metadata: md(customerId),
        status: s.status ?? (type === 'customer.subscription.deleted' ? 'canceled' : 'active'),
        cancel_at_period_end: s.cancelAtPeriodEnd ?? false,
        cancel_at: s.cancelAt ?? null,
        canceled_at: s.canceledAt ?? null,
      });
      const item = o.items.data[0];
      item.current_period_start = p.start;
      item.current_period_end = p.end;
      item.price = { ...item.price, id: priceId, metadata: s.priceId ? {} : { plan_id: planId }, recurring: { ...item.price.recurring, interval: s.interval ?? (planId === 'yearly' ? 'year' : 'month') } };
      if (item.plan) item.plan = { ...item.plan, id: priceId };
    });
  }

  interface InvoiceShape {
    id: string;
    reason?: string;
    k?: number;
    amount?: number;
    currency?: string;
    created?: number;
    /** 'basil': parent.subscription_details + lines[].pricing (API 2025-03-31.basil and later); 'legacy': invoice.subscription + lines[].price */
    shape?: 'basil' | 'legacy';
    linePrices?: string[];
    paidAt?: number;
  }

  function invoiceEvent(type: 'invoice.paid' | 'invoice.payment_failed' | 'invoice.payment_failed.next_payment_attempt_null', customerId: string, i: InvoiceShape): StripeEvent {
    return stripeEvent(type, (o: Sub, ev) => {
      if (i.created !== undefined) ev.created = i.created;
      const sub = `sub_${customerId}`;
      const p = period(i.k ?? 0);
      const amount = i.amount ?? 2000;
      Object.assign(o, { id: i.id, customer: `cus_${customerId}`, billing_reason: i.reason ?? 'subscription_cycle', currency: i.currency ?? 'usd', amount_paid: type === 'invoice.paid' ? amount : 0, amount_due: amount, total: amount });
      o.status_transitions = { ...(o.status_transitions ?? {}), paid_at: i.paidAt ?? (type === 'invoice.paid' ? Math.floor(Date.now() / 1000) : null) };
      const template = o.lines.data[0];
      const prices = i.linePrices ?? [price.monthly!];
      const lines = prices.map((pr, n) => {
        const l: Sub = { ...template, id: `il_${i.id}_${n}`, amount, period: { start: p.start, end: p.end } };
        delete l.price;
        delete l.pricing;
        if (i.shape === 'legacy') l.price = { id: pr, object: 'price' };
        else l.pricing = { type: 'price_details', price_details: { price: pr, product: 'prod_x' }, unit_amount_decimal: String(amount) };
        return l;
      });
      o.lines = { ...o.lines, data: lines };
      if (i.shape === 'legacy') {
        o.subscription = sub;
        o.subscription_details = { metadata: md(customerId) };
        delete o.parent;
      } else {
        delete o.subscription;
        o.parent = { type: 'subscription_details', subscription_details: { subscription: sub, metadata: md(customerId) } };
      }
    });
  }

  // ---- helpers ------------------------------------------------------------------------------

  async function send(...events: StripeEvent[]): Promise<void> {
    for (const e of events) expect((await deliver(platform, e, SECRET)).status).toBe(200);
  }

  async function settle(): Promise<void> {
    // parked events are retried until none is left that can still apply
    for (let i = 0; i < 5; i++) await svc.runtime.inboxRetrier.runOnce(true);
  }

  const stream = async (customerId: string) =>
    fold<SubscriptionEvent, SubscriptionState>(subscriptionDecider, (await svc.runtime.eventStore.readStream(`subscription-saas.${customerId}`)).map((e) => ({ type: e.type, data: e.data })) as never);

  /** GET /v1/customers/{id}/subscription once the read model satisfies `ok`. */
  async function subscriptionView(customerId: string, ok: (b: Sub) => boolean): Promise<Sub> {
    let last: Sub = {};
    try {
      await eventually(async () => {
        const r = await api.get<Sub>(`/v1/customers/${customerId}/subscription`);
        last = r.body;
        return r.status === 200 && ok(r.body);
      }, 10_000);
    } catch {
      /* the assertion below shows what was seen */
    }
    return last;
  }

  async function activate(customerId: string, planId = 'monthly'): Promise<void> {
    await send(checkoutCompleted(customerId), subscriptionEvent('customer.subscription.created', customerId, T0 + 1, { planId }), invoiceEvent('invoice.paid', customerId, { id: `in_${customerId}_0`, reason: 'subscription_create', created: T0 + 2 }));
    expect((await stream(customerId)).status).toBe('active');
  }

  // ---- 1. shuffled lifecycles --------------------------------------------------------------

  /** checkout, created (P0), paid (P0), then per renewal: updated (Pk), paid (Pk). */
  function lifecycle(customerId: string, renewals: number): StripeEvent[] {
    const events = [
      checkoutCompleted(customerId, T0),
      subscriptionEvent('customer.subscription.created', customerId, T0 + 1, { k: 0 }),
      invoiceEvent('invoice.paid', customerId, { id: `in_${customerId}_0`, reason: 'subscription_create', k: 0, created: T0 + 2 }),
    ];
    for (let k = 1; k <= renewals; k++) {
      events.push(subscriptionEvent('customer.subscription.updated', customerId, period(k).start, { k }));
      events.push(invoiceEvent('invoice.paid', customerId, { id: `in_${customerId}_${k}`, k, created: period(k).start + 3600 }));
    }
    return events;
  }

  const comparable = (s: SubscriptionState, customerId: string) => ({
    status: s.status,
    accessActive: s.accessActive,
    planId: s.planId,
    priceId: s.priceId,
    interval: s.interval,
    currentPeriodStart: s.currentPeriodStart,
    currentPeriodEnd: s.currentPeriodEnd,
    nextPaymentAttempt: s.nextPaymentAttempt,
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    providerObservedAt: s.provider?.observedAt ?? null,
    processed: s.processedInvoiceIds.map((p) => p.replace(customerId, '<c>')).sort(),
  });

  test('1. fifty shuffled deliveries of a lifecycle with three renewals each reach the in-order state (latest period, not the last-applied invoice)', async () => {
    const RENEWALS = 3;
    await send(...lifecycle('inorder', RENEWALS));
    const reference = comparable(await stream('inorder'), 'inorder');
    expect(reference).toMatchObject({ status: 'active', currentPeriodStart: isoOf(period(RENEWALS).start), currentPeriodEnd: isoOf(period(RENEWALS).end) });
    expect(await subscriptionView('inorder', (b) => b.currentPeriodEnd === isoOf(period(RENEWALS).end))).toMatchObject({ status: 'active', currentPeriodEnd: isoOf(period(RENEWALS).end) });
    let run = 0;
    const size = 3 + 2 * RENEWALS;
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray([...Array(size).keys()], { minLength: size, maxLength: size }), async (order) => {
        const customerId = `shuffle-${++run}`;
        const events = lifecycle(customerId, RENEWALS);
        await send(...order.map((i) => events[i]!));
        await settle();
        expect(comparable(await stream(customerId), customerId)).toEqual(reference);
      }),
      { seed: 20261207, numRuns: 50 },
    );
    const parked = await svc.runtime.db.query(`SELECT event_type, last_error FROM webhook_inbox WHERE status = 'parked' AND payload::text LIKE '%shuffle-%'`);
    expect(parked.rows).toEqual([]);
  }, 240_000);

  // ---- 2. changes made at Stripe --------------------------------------------------------------

  test('2. a portal cancellation, past_due and unpaid, a dashboard price change (known, archived, unknown) are followed; stale objects are not; deletion ends it', async () => {
    const c = 'portal';
    await activate(c);
    const end0 = period(0).end;
    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 100, { cancelAtPeriodEnd: true, cancelAt: end0, canceledAt: T0 + 100 }));
    expect(await subscriptionView(c, (b) => b.status === 'cancellation_scheduled')).toMatchObject({ status: 'cancellation_scheduled', cancelAtPeriodEnd: true, cancelAt: isoOf(end0), accessActive: true });

    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 200, { status: 'past_due' }));
    expect(await subscriptionView(c, (b) => b.status === 'past_due')).toMatchObject({ status: 'past_due', cancelAtPeriodEnd: false, cancelAt: null, accessActive: true, providerStatus: 'past_due' });

    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 250, { status: 'unpaid' }));
    expect(await subscriptionView(c, (b) => b.providerStatus === 'unpaid')).toMatchObject({ status: 'past_due', accessActive: false });

    // the dashboard moves the customer to the yearly plan's price
    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 300, { planId: 'yearly' }));
    expect(await subscriptionView(c, (b) => b.planId === 'yearly')).toMatchObject({ status: 'active', accessActive: true, planId: 'yearly', priceId: price.yearly, interval: 'year', needsAttention: [] });

    // a stale object (older than the last one applied) delivered late changes nothing
    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 150, { planId: 'monthly', status: 'past_due' }));
    await settle();
    expect(await stream(c)).toMatchObject({ planId: 'yearly', status: 'active' });

    // a price Settle does not know: recorded, and flagged
    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 400, { priceId: 'price_dashboard_only', interval: 'month' }));
    const unknown = await subscriptionView(c, (b) => b.priceId === 'price_dashboard_only');
    expect(unknown).toMatchObject({ priceId: 'price_dashboard_only', needsAttention: [{ kind: 'unknown_price', priceId: 'price_dashboard_only' }] });

    // an archived price of a plan is still that plan's price
    const old = price.monthly!;
    const changed = await api.post<{ archivedProviderPriceIds: string[] }>('/v1/plans/monthly/price', { amount: { amount: 2500, currency: 'USD' } });
    expect(changed.body.archivedProviderPriceIds).toContain(old);
    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 500, { priceId: old, interval: 'month' }));
    expect(await subscriptionView(c, (b) => b.priceId === old)).toMatchObject({ planId: 'monthly', priceId: old, interval: 'month', needsAttention: [] });

    await send(subscriptionEvent('customer.subscription.deleted', c, T0 + 600, { priceId: old }));
    expect(await subscriptionView(c, (b) => b.status === 'cancelled')).toMatchObject({ status: 'cancelled', accessActive: false, providerStatus: 'canceled' });
  });

  // ---- 3. a refused plan change ---------------------------------------------------------------

  test('3. a plan change the provider refused is recorded as refused and no longer pending; only the invoice of THAT change (or the subscription object) changes the plan', async () => {
    const c = 'refused';
    await activate(c);
    provider.failNext.changeSubscriptionPlan = new ProviderError('invalid', "Invalid billing_cycle_anchor: not a string", 'parameter_invalid_string');
    const refused = await api.post<Sub>(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ type: expect.stringContaining('provider-rejected') });
    expect(await stream(c)).toMatchObject({ pendingPlanChange: null, planId: 'monthly' });
    const types = (await svc.runtime.eventStore.readStream(`subscription-saas.${c}`)).map((e) => e.type);
    expect(types).toContain('PlanChangeRefused');
    expect(await subscriptionView(c, (b) => b.pendingPlanChange === null && b.revision !== undefined)).toMatchObject({ pendingPlanChange: null, planId: 'monthly' });

    // an unrelated paid subscription_update invoice (e.g. a quantity change made at Stripe) changes nothing
    await send(invoiceEvent('invoice.paid', c, { id: `in_${c}_unrelated`, reason: 'subscription_update', linePrices: [price.monthly!] }));
    expect(await stream(c)).toMatchObject({ planId: 'monthly', priceId: price.monthly });

    // the next change is not blocked (no 409 plan_change_pending); it stays pending until the provider shows it
    provider.planChangeOutcome = 'pending';
    const again = await api.post<Sub>(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    provider.planChangeOutcome = 'captured';
    expect(again.status).toBe(202);
    expect((await stream(c)).pendingPlanChange).toMatchObject({ toPlanId: 'yearly', toPriceId: price.yearly });
    // another unrelated update invoice, in the legacy shape, does not settle it either
    await send(invoiceEvent('invoice.paid', c, { id: `in_${c}_unrelated2`, reason: 'subscription_update', shape: 'legacy', linePrices: ['price_addon'] }));
    expect(await stream(c)).toMatchObject({ planId: 'monthly', pendingPlanChange: { toPlanId: 'yearly' } });
    // the proration invoice whose lines carry the new price settles it (legacy line shape)
    await send(invoiceEvent('invoice.paid', c, { id: `in_${c}_change`, reason: 'subscription_update', shape: 'legacy', linePrices: [price.monthly!, price.yearly!] }));
    expect(await stream(c)).toMatchObject({ planId: 'yearly', priceId: price.yearly, interval: 'year', pendingPlanChange: null });
  });

  test('3b. a pending change settled by the provider subscription object showing its price', async () => {
    const c = 'viaobject';
    await activate(c);
    provider.planChangeOutcome = 'pending';
    expect((await api.post(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' })).status).toBe(202);
    provider.planChangeOutcome = 'captured';
    await send(subscriptionEvent('customer.subscription.updated', c, T0 + 100, { planId: 'yearly', k: 0 }));
    const s = await stream(c);
    expect(s).toMatchObject({ planId: 'yearly', priceId: price.yearly, pendingPlanChange: null });
    expect((await svc.runtime.eventStore.readStream(`subscription-saas.${c}`)).map((e) => e.type)).toContain('PlanChanged');
  });

  // ---- 4. late payment after suspension -------------------------------------------------------

  async function suspendAfterFinalFailure(c: string): Promise<void> {
    await activate(c);
    provider.failNext.voidInvoice = new ProviderError('invalid', 'This invoice can no longer be voided: it is not open.', 'invoice_not_open');
    await send(invoiceEvent('invoice.payment_failed.next_payment_attempt_null', c, { id: `in_${c}_1`, k: 1, created: period(1).start + 7 * DAY }));
    expect(await stream(c)).toMatchObject({ status: 'suspended', accessActive: false });
    await eventually(() => provider.callsOf('voidInvoice').some((x) => x.request.providerInvoiceId === `in_${c}_1`), 15_000);
  }

  test('4a. paid just as the final retry failed, the provider subscription still alive: access is restored, nothing needs attention, one payment', async () => {
    const c = 'late-alive';
    await suspendAfterFinalFailure(c);
    await send(subscriptionEvent('customer.subscription.updated', c, period(1).start + 7 * DAY + 5, { k: 1, status: 'active' }));
    await send(invoiceEvent('invoice.paid', c, { id: `in_${c}_1`, k: 1, created: period(1).start + 7 * DAY + 10 }));
    expect(await subscriptionView(c, (b) => b.status === 'active')).toMatchObject({ status: 'active', accessActive: true, needsAttention: [], currentPeriodEnd: isoOf(period(1).end) });
    await eventually(async () => (await api.get<{ data: Sub[] }>(`/v1/payments?customer_id=${c}&status=succeeded`)).body.data.some((p) => p.payable.id === `in_${c}_1`));
    const paid = (await api.get<{ data: Sub[] }>(`/v1/payments?customer_id=${c}&status=succeeded`)).body.data.filter((p) => p.payable.id === `in_${c}_1`);
    expect(paid).toHaveLength(1);
    expect(paid[0]!.needsAttention).toBeNull();
  });

  test('4b. paid after the provider subscription was canceled: suspended, and the money needs a human (subscription and payments list)', async () => {
    const c = 'late-dead';
    await suspendAfterFinalFailure(c);
    await send(subscriptionEvent('customer.subscription.deleted', c, period(1).start + 7 * DAY + 5, { k: 1 }));
    await send(invoiceEvent('invoice.paid', c, { id: `in_${c}_1`, k: 1, amount: 2000, created: period(1).start + 7 * DAY + 10 }));
    const view = await subscriptionView(c, (b) => Array.isArray(b.needsAttention) && b.needsAttention.length > 0);
    expect(view).toMatchObject({ status: 'suspended', accessActive: false, providerStatus: 'canceled', needsAttention: [{ kind: 'late_payment', providerInvoiceId: `in_${c}_1`, amount: { amount: 2000, currency: 'USD' } }] });
    let rows: Sub[] = [];
    await eventually(async () => {
      rows = (await api.get<{ data: Sub[] }>(`/v1/payments?customer_id=${c}`)).body.data.filter((p) => p.payable.id === `in_${c}_1` && p.status === 'succeeded');
      return rows.length > 0 && rows[0]!.needsAttention !== null;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.needsAttention).toMatch(/refund or reactivate/);
  });

  test('a failed renewal is ONE failed payment (the invoice) and counts once; the final failure flags that row', async () => {
    const c = 'fin-fail';
    await send(checkoutCompleted(c), subscriptionEvent('customer.subscription.created', c, T0 + 1));
    const now = Math.floor(Date.now() / 1000);
    await send(invoiceEvent('invoice.payment_failed', c, { id: `in_${c}_1`, k: 1, currency: 'sek', amount: 9900 }));
    await send(invoiceEvent('invoice.payment_failed.next_payment_attempt_null', c, { id: `in_${c}_1`, k: 1, currency: 'sek', amount: 9900 }));
    expect(await stream(c)).toMatchObject({ status: 'suspended' });
    let rows: Sub[] = [];
    await eventually(async () => {
      rows = (await api.get<{ data: Sub[] }>(`/v1/payments?customer_id=${c}&status=failed`)).body.data;
      return rows.some((r) => r.needsAttention !== null);
    });
    // two failed attempts of the invoice (the retry and the final one), no subscription copies
    expect(rows.map((r) => r.payable)).toEqual([
      { type: 'invoice', id: `in_${c}_1` },
      { type: 'invoice', id: `in_${c}_1` },
    ]);
    expect(rows.filter((r) => r.needsAttention === 'final payment failure: subscription suspended')).toHaveLength(1);
    const day = new Date(now * 1000).toISOString().slice(0, 10);
    let failed = 0;
    await eventually(async () => {
      const r = await api.get<{ rows: Array<{ currency: string; failedCount: number }> }>(`/v1/reports/finance?from=${day}&to=${day}`);
      failed = r.body.rows.filter((x) => x.currency === 'SEK').reduce((n, x) => n + x.failedCount, 0);
      return failed >= 2;
    });
    await new Promise((r) => setTimeout(r, 500));
    const r = await api.get<{ rows: Array<{ currency: string; failedCount: number }> }>(`/v1/reports/finance?from=${day}&to=${day}`);
    expect(r.body.rows.filter((x) => x.currency === 'SEK').reduce((n, x) => n + x.failedCount, 0)).toBe(2);
  });

  // ---- 5. checkout with a different plan ------------------------------------------------------

  test('5. checkout of another plan while a session is pending expires that session at the provider and creates a new one', async () => {
    const c = 'switcher';
    const monthly = await api.post<Sub>(`/v1/customers/${c}/checkout`, { planId: 'monthly' });
    expect(monthly.status).toBe(201);
    const yearly = await api.post<Sub>(`/v1/customers/${c}/checkout`, { planId: 'yearly' });
    expect(yearly.status).toBe(201);
    expect(yearly.body.reused).toBe(false);
    expect(yearly.body.sessionId).not.toBe(monthly.body.sessionId);
    expect(provider.callsOf('expireCheckoutSession').map((x) => x.request.sessionId)).toContain(monthly.body.sessionId);
    expect(provider.callsOf('createCheckoutSession').at(-1)!.request.priceId).toBe(price.yearly);
    // the same plan again: the pending session is returned
    const same = await api.post<Sub>(`/v1/customers/${c}/checkout`, { planId: 'yearly' });
    expect(same.body).toMatchObject({ sessionId: yearly.body.sessionId, reused: true });
    expect(await subscriptionView(c, (b) => b.pendingCheckout?.sessionId === yearly.body.sessionId)).toMatchObject({ status: 'checkout_pending', pendingCheckout: { sessionId: yearly.body.sessionId } });

    // a session the provider will not expire (completed: the customer is paying) is a clear 409
    provider.failNext.expireCheckoutSession = new ProviderError('invalid', 'Only Checkout Sessions with a status of open can be expired.', 'checkout_session_not_open');
    const late = await api.post<Sub>(`/v1/customers/${c}/checkout`, { planId: 'monthly' });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'checkout_session_not_open' });
    expect((await stream(c)).pendingCheckout?.session?.sessionId).toBe(yearly.body.sessionId);
  });

  // ---- finance: one paid invoice, one payment --------------------------------------------------

  test('a paid subscription invoice is ONE succeeded payment (the invoice, linked to the subscription) and counts once in the finance report', async () => {
    const c = 'finance';
    await send(checkoutCompleted(c), subscriptionEvent('customer.subscription.created', c, T0 + 1));
    const now = Math.floor(Date.now() / 1000);
    await send(invoiceEvent('invoice.paid', c, { id: `in_${c}_0`, reason: 'subscription_create', currency: 'chf', amount: 4900, paidAt: now }));
    const day = new Date(now * 1000).toISOString().slice(0, 10);
    let rows: Sub[] = [];
    await eventually(async () => {
      rows = (await api.get<{ data: Sub[] }>(`/v1/payments?customer_id=${c}`)).body.data;
      return rows.length > 0;
    });
    await settle();
    rows = (await api.get<{ data: Sub[] }>(`/v1/payments?customer_id=${c}`)).body.data;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'succeeded', payable: { type: 'invoice', id: `in_${c}_0` }, amount: { amount: 4900, currency: 'CHF' } });
    const invoice = await api.get<Sub>(`/v1/invoices/in_${c}_0`);
    expect(invoice.body).toMatchObject({ subscriptionId: `sub_${c}` });
    let gross = 0;
    await eventually(async () => {
      const r = await api.get<{ rows: Array<{ currency: string; grossCollected: number }> }>(`/v1/reports/finance?from=${day}&to=${day}`);
      gross = r.body.rows.filter((x) => x.currency === 'CHF').reduce((n, x) => n + x.grossCollected, 0);
      return gross > 0;
    });
    await new Promise((r) => setTimeout(r, 500)); // a second (double) fact would land by now
    const r = await api.get<{ rows: Array<{ currency: string; grossCollected: number }> }>(`/v1/reports/finance?from=${day}&to=${day}`);
    expect(r.body.rows.filter((x) => x.currency === 'CHF').reduce((n, x) => n + x.grossCollected, 0)).toBe(4900);
  });
});
