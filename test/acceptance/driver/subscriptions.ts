/**
 * Stripe Billing as a SaaS tenant lives it, for the subscription scenarios: the tenant's plans
 * (created through the API, so Stripe, here stripe-mock, gives them their price ids) and the
 * webhook events Stripe sends on the platform endpoint for a customer's subscription: the
 * Checkout Session completed, the Subscription object (created / updated / deleted, with its
 * status, period, price and cancellation fields) and the Invoice (paid / failed, in the current
 * "basil" shape: `parent.subscription_details` and `lines[].pricing`). Built from Stripe's
 * published example objects (test/fixtures/stripe/events), signed with the platform secret.
 */
import { deliver as post, stripeEvent, type StripeEvent } from '../../support/stripeEvents';
import { STRIPE_PLATFORM_SECRET, startSettle, until, type Api, type Settle } from './service';
import { stripeMockProxy, type StripeProxy } from './stripeProxy';
import { newTenant } from './tenant';
import { toStripeAmount } from '../model/currencies';
import { DAY, MONTH, isoOf, type Fact } from '../model/subscriptions';
export { DAY, MONTH, isoOf };

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
export type Obj = Record<string, any>;

export interface Billing {
  readonly settle: Settle;
  readonly tenantId: string;
  readonly api: Api;
  /** planId -> the Stripe price id the API answered. */
  readonly price: Record<string, string>;
  /** What the monthly plan costs (ISO minor units): what its invoices collect. */
  readonly monthly: { amount: number; currency: string };
  /** planId -> what the plan costs (ISO minor units of `monthly.currency`). */
  readonly planAmount?: Record<string, number>;
}

/** Creates the plans (by default monthly 20 USD, yearly 200 USD) through the API. */
export async function withPlans(settle: Settle, tenantId: string, api: Api, monthly = { amount: 2000, currency: 'USD' }, yearlyAmount = monthly.amount * 10): Promise<Billing> {
  const price: Record<string, string> = {};
  const planAmount: Record<string, number> = {};
  for (const [planId, interval, amount] of [
    ['monthly', 'month', monthly.amount],
    ['yearly', 'year', yearlyAmount],
  ] as const) {
    const r = await api.post<{ providerPriceId: string }>('/v1/plans', { planId, name: planId, amount: { amount, currency: monthly.currency }, interval });
    if (r.status !== 201) throw new Error(`create plan ${planId}: ${r.status} ${JSON.stringify(r.body)}`);
    price[planId] = r.body.providerPriceId;
    planAmount[planId] = amount;
  }
  return { settle, tenantId, api, price, monthly, planAmount };
}

/** One more plan through the API (e.g. a dearer monthly one): its Stripe price id joins `b.price`. */
export async function addPlan(b: Billing, planId: string, interval: 'month' | 'year', amount: number): Promise<void> {
  const r = await b.api.post<{ providerPriceId: string }>('/v1/plans', { planId, name: planId, amount: { amount, currency: b.monthly.currency }, interval });
  if (r.status !== 201) throw new Error(`create plan ${planId}: ${r.status} ${JSON.stringify(r.body)}`);
  b.price[planId] = r.body.providerPriceId;
  if (b.planAmount) b.planAmount[planId] = amount;
}

/** What a subscription scenario runs against; read in tests (it is set in `beforeAll`). */
export interface BillingScenario {
  readonly settle: Settle;
  /** The recording proxy the service calls Stripe through (throws when the scenario has none). */
  readonly proxy: StripeProxy;
  readonly world: BillingWorld;
}

export interface BillingScenarioOptions {
  /** The monthly plan's price and the yearly plan's amount (`withPlans`' defaults otherwise). */
  readonly monthly?: { amount: number; currency: string };
  readonly yearlyAmount?: number;
  /** Default in-process. */
  readonly messaging?: 'in-process' | 'kafka';
  /** Default true: stripe-mock behind a recording proxy (STRIPE_API_BASE = the proxy); false: stripe-mock at STRIPE_API_BASE directly. */
  readonly proxied?: boolean;
}

/**
 * The set-up every subscription scenario shares, registered as its `beforeAll` / `afterAll`:
 * stripe-mock behind a recording proxy, the built service on PostgreSQL calling Stripe through it,
 * a tenant `tenantName` with its plans (`withPlans`) and a `BillingWorld` for it; afterwards the
 * service, then the proxy, are stopped.
 */
export function billingScenario(tenantName: string, options: BillingScenarioOptions = {}): BillingScenario {
  let settle: Settle | undefined;
  let proxy: StripeProxy | undefined;
  let world: BillingWorld | undefined;
  const proxied = options.proxied ?? true;
  beforeAll(async () => {
    if (proxied) {
      proxy = stripeMockProxy();
      await proxy.start();
    }
    settle = await startSettle({ storage: 'postgres', messaging: options.messaging ?? 'in-process', ...(proxy ? { env: { STRIPE_API_BASE: proxy.url } } : {}) });
    const tenant = await newTenant(settle, tenantName);
    world = new BillingWorld(await withPlans(settle, tenant.id, tenant.api, options.monthly, options.yearlyAmount));
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await proxy?.stop();
  });
  const set = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`billingScenario(${tenantName}): no ${what}${what === 'proxy' && !proxied ? ' (proxied: false)' : ' before beforeAll ran'}`);
    return v;
  };
  return {
    get settle() {
      return set(settle, 'service');
    },
    get proxy() {
      return set(proxy, 'proxy');
    },
    get world() {
      return set(world, 'world');
    },
  };
}

export interface SubShape {
  status?: string;
  planId?: string;
  /** A price set at Stripe (dashboard) instead of the plan's. */
  priceId?: string;
  periodStart: number;
  periodEnd: number;
  cancelAtPeriodEnd?: boolean;
  cancelAt?: number | null;
  canceledAt?: number | null;
}

export interface InvoiceShape {
  id: string;
  reason?: string;
  periodStart: number;
  periodEnd: number;
  /** ISO minor units of the plan's currency (default: the monthly plan's price) */
  amount?: number;
  created?: number;
  linePrices?: string[];
  /** The PaymentIntent that paid it (basil: `payments.data[].payment.payment_intent`). */
  paymentIntent?: string;
  /** Lines with their own price, amount (ISO minor units; negative: a proration credit) and period. */
  lines?: Array<{ price: string; amount: number; periodStart: number; periodEnd: number }>;
  /** invoice.payment_failed: when Stripe retries (null: no retry left). */
  nextPaymentAttempt?: number | null;
}

export class BillingWorld {
  constructor(readonly b: Billing) {}

  md(customerId: string, planId = 'monthly') {
    return { tenant_id: this.b.tenantId, customer_id: customerId, plan_id: planId };
  }

  checkoutCompleted(customerId: string, created: number): StripeEvent {
    return stripeEvent('checkout.session.completed', (o, ev) => {
      ev.created = created;
      delete ev.account;
      Object.assign(o, { mode: 'subscription', customer: `cus_${customerId}`, subscription: `sub_${customerId}`, payment_intent: null, metadata: this.md(customerId) });
    });
  }

  subscription(type: 'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted', customerId: string, created: number, s: SubShape): StripeEvent {
    return stripeEvent(type, (o: Obj, ev) => {
      ev.created = created;
      delete ev.account;
      const planId = s.planId ?? 'monthly';
      const priceId = s.priceId ?? this.b.price[planId]!;
      Object.assign(o, {
        id: `sub_${customerId}`,
        customer: `cus_${customerId}`,
        metadata: this.md(customerId),
        status: s.status ?? (type === 'customer.subscription.deleted' ? 'canceled' : 'active'),
        cancel_at_period_end: s.cancelAtPeriodEnd ?? false,
        cancel_at: s.cancelAt ?? null,
        canceled_at: s.canceledAt ?? null,
        ended_at: type === 'customer.subscription.deleted' ? (s.canceledAt ?? created) : null,
      });
      const item = o.items.data[0];
      item.current_period_start = s.periodStart;
      item.current_period_end = s.periodEnd;
      item.price = { ...item.price, id: priceId, metadata: s.priceId ? {} : { plan_id: planId }, recurring: { ...item.price.recurring, interval: planId === 'yearly' ? 'year' : 'month' } };
      item.price.unit_amount = toStripeAmount(this.b.planAmount?.[planId] ?? this.b.monthly.amount, this.b.monthly.currency);
      item.price.currency = this.b.monthly.currency.toLowerCase();
      o.currency = this.b.monthly.currency.toLowerCase();
      if (item.plan) item.plan = { ...item.plan, id: priceId };
    });
  }

  invoice(type: 'invoice.paid' | 'invoice.payment_failed' | 'invoice.payment_failed.next_payment_attempt_null', customerId: string, i: InvoiceShape): StripeEvent {
    return stripeEvent(type, (o: Obj, ev) => {
      if (i.created !== undefined) ev.created = i.created;
      delete ev.account;
      const { currency } = this.b.monthly;
      const amount = toStripeAmount(i.amount ?? this.b.monthly.amount, currency);
      Object.assign(o, { id: i.id, customer: `cus_${customerId}`, billing_reason: i.reason ?? 'subscription_cycle', currency: currency.toLowerCase(), amount_paid: type === 'invoice.paid' ? amount : 0, amount_due: amount, total: amount, subtotal: amount });
      delete o.payment_intent;
      delete o.charge;
      o.payments = i.paymentIntent
        ? { object: 'list', data: [{ id: `inpay_${i.id}`, object: 'invoice_payment', amount_paid: type === 'invoice.paid' ? amount : 0, currency: currency.toLowerCase(), invoice: i.id, is_default: true, status: type === 'invoice.paid' ? 'paid' : 'open', payment: { type: 'payment_intent', payment_intent: i.paymentIntent } }], has_more: false }
        : { object: 'list', data: [], has_more: false };
      o.status_transitions = { ...(o.status_transitions ?? {}), paid_at: type === 'invoice.paid' ? (i.created ?? Math.floor(Date.now() / 1000)) : null };
      const template = o.lines.data[0];
      const lines = i.lines ?? (i.linePrices ?? [this.b.price.monthly!]).map((price) => ({ price, amount: i.amount ?? this.b.monthly.amount, periodStart: i.periodStart, periodEnd: i.periodEnd }));
      o.lines = {
        ...o.lines,
        total_count: lines.length,
        data: lines.map((line, n) => {
          const lineAmount = toStripeAmount(line.amount, currency);
          const l: Obj = { ...template, id: `il_${i.id}_${n}`, amount: lineAmount, currency: currency.toLowerCase(), period: { start: line.periodStart, end: line.periodEnd } };
          delete l.price;
          l.pricing = { type: 'price_details', price_details: { price: line.price, product: 'prod_x' }, unit_amount_decimal: String(lineAmount) };
          if (lineAmount < 0) l.parent = { ...(l.parent ?? {}), type: 'subscription_item_details', subscription_item_details: { ...(l.parent?.subscription_item_details ?? {}), proration: true } };
          return l;
        }),
      };
      if (type !== 'invoice.paid') {
        if (i.nextPaymentAttempt !== undefined) o.next_payment_attempt = i.nextPaymentAttempt;
        o.amount_remaining = amount;
      }
      delete o.subscription;
      o.parent = { type: 'subscription_details', subscription_details: { subscription: `sub_${customerId}`, metadata: this.md(customerId) } };
    });
  }

  /** The webhook Stripe sends for one of the model's facts (test/acceptance/model/subscriptions.ts). */
  factEvent(customerId: string, f: Fact): StripeEvent {
    switch (f.kind) {
      case 'checkout':
        return this.checkoutCompleted(customerId, f.at);
      case 'object':
        return this.subscription(f.type, customerId, f.at, {
          status: f.status,
          planId: f.planId,
          periodStart: f.period.start,
          periodEnd: f.period.end,
          cancelAtPeriodEnd: f.cancelAtPeriodEnd,
          cancelAt: f.cancelAtPeriodEnd ? f.period.end : null,
          canceledAt: f.canceledAt,
        });
      case 'invoice_paid':
        return this.invoice('invoice.paid', customerId, { ...this.invoiceShape(f), reason: f.reason, paymentIntent: f.paymentIntent });
      case 'invoice_failed':
        return this.invoice(f.nextAttempt === null ? 'invoice.payment_failed.next_payment_attempt_null' : 'invoice.payment_failed', customerId, {
          id: f.id,
          periodStart: f.period.start,
          periodEnd: f.period.end,
          amount: f.amount,
          created: f.at,
          paymentIntent: f.paymentIntent,
          nextPaymentAttempt: f.nextAttempt,
        });
    }
  }

  private invoiceShape(f: Extract<Fact, { kind: 'invoice_paid' }>): InvoiceShape {
    return {
      id: f.id,
      periodStart: f.period.start,
      periodEnd: f.period.end,
      amount: f.amount,
      created: f.at,
      lines: f.lines.map((l) => ({ price: this.b.price[l.planId]!, amount: l.amount, periodStart: l.period.start, periodEnd: l.period.end })),
    };
  }

  /**
   * What Stripe answers to the plan change (`POST /v1/subscriptions/{id}` with
   * `expand[]=latest_invoice.payments`) when it accepts it: the Subscription object on the new
   * price, its latest invoice the proration invoice, paid.
   */
  acceptedChange(customerId: string, object: Extract<Fact, { kind: 'object' }>, invoice: Extract<Fact, { kind: 'invoice_paid' }>): Obj {
    const sub = this.factEvent(customerId, object).data.object;
    sub.latest_invoice = this.factEvent(customerId, invoice).data.object;
    return sub;
  }

  /** A customer who paid the first period through Checkout (period [start, start + 30 days]): checkout.session.completed, customer.subscription.created, invoice.paid. */
  async activate(customerId: string, start: number, planId = 'monthly'): Promise<void> {
    const end = start + (planId === 'yearly' ? 365 * DAY : MONTH);
    await this.send(
      this.checkoutCompleted(customerId, start),
      this.subscription('customer.subscription.created', customerId, start + 1, { planId, periodStart: start, periodEnd: end }),
      this.invoice('invoice.paid', customerId, { id: `in_${customerId}_0`, reason: 'subscription_create', periodStart: start, periodEnd: end, created: start + 2, linePrices: [this.b.price[planId]!] }),
    );
  }

  /** Delivers events to the platform endpoint one after the other; each must be accepted (200). */
  async send(...events: StripeEvent[]): Promise<void> {
    for (const e of events) await this.sendOne(e);
  }

  async sendOne(e: StripeEvent): Promise<void> {
    const r = await post(`${this.b.settle.url}/webhooks/stripe`, e, STRIPE_PLATFORM_SECRET);
    if (r.status !== 200) throw new Error(`${e.type} ${e.id}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Delivers events `concurrency` at a time, in the given order of starting. */
  async sendConcurrently(events: StripeEvent[], concurrency = 4): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < events.length) await this.sendOne(events[next++]!);
      }),
    );
  }

  /** GET /v1/customers/{id}/subscription once it satisfies `ok` (or the last answer after the timeout). */
  async view(customerId: string, ok: (b: Obj) => boolean = () => true, timeoutMs = 10_000): Promise<Obj> {
    const r = await until(() => this.b.api.get<Obj>(`/v1/customers/${customerId}/subscription`), (x) => x.status === 200 && ok(x.body), timeoutMs);
    return r.body;
  }
}
