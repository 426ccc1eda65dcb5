/**
 * The reference model of subscription billing: from what Stripe Billing did for one customer (the
 * Subscription objects it held over time, the invoices it collected or failed to collect) and
 * what the tenant asked through Settle's API (plan changes), it says what a user of Settle must
 * see: the customer's subscription (GET /v1/customers/{id}/subscription), the payment rows
 * (GET /v1/payments), the finance totals (GET /v1/reports/finance) and what needs attention.
 * Written from Stripe's documentation and Settle's public documentation (README "Convergence
 * rule", ARCHITECTURE.md "Subscriptions converge to the provider's truth"), without looking at
 * the product's code.
 *
 * Stripe's rules the model relies on:
 * - A Subscription object carries its status (`active`, `past_due`, `unpaid`, `canceled`), the
 *   current period (`items.data[].current_period_start/end` since API 2025-03-31.basil) and the
 *   cancellation fields (`cancel_at_period_end`, `cancel_at`, `canceled_at`). Each
 *   `customer.subscription.*` event carries the whole object as it was when the event was created;
 *   Stripe does not deliver events in order ("Webhooks: event ordering",
 *   https://docs.stripe.com/webhooks#event-ordering), so the LATEST object (by the event's
 *   `created`; within one second, the later period) is the truth.
 * - Renewal: at the period's end Stripe opens the next period (`customer.subscription.updated`)
 *   and finalizes an invoice about an hour later, then charges it
 *   (https://docs.stripe.com/billing/subscriptions/overview#subscription-lifecycle).
 * - Dunning ("Automate payment retries", https://docs.stripe.com/billing/revenue-recovery/smart-retries,
 *   and "Subscription status", https://docs.stripe.com/billing/subscriptions/overview#subscription-statuses):
 *   a failed renewal charge sends `invoice.payment_failed` with `next_payment_attempt` (when Stripe
 *   retries) and the subscription becomes `past_due`; the retries reuse the invoice's
 *   PaymentIntent; a retry that succeeds pays the invoice (`invoice.paid`) and the subscription is
 *   `active` again. After the last retry fails, `next_payment_attempt` is null and Stripe does what
 *   the account's settings say ("Manage failed payments", https://docs.stripe.com/billing/revenue-recovery/smart-retries#manage-failed-payments):
 *   cancel the subscription (`customer.subscription.deleted`, status `canceled`), mark it
 *   `unpaid`, or leave it `past_due`. The invoice stays open, so the customer can still pay it
 *   (hosted invoice page) until it is voided.
 * - Cancelling through the API (`DELETE /v1/subscriptions/{id}`) or in the customer portal "cancel
 *   immediately" ends the subscription at once: `customer.subscription.deleted`, status `canceled`;
 *   the portal's "cancel at period end" sets `cancel_at_period_end: true` and the status stays
 *   `active` (https://docs.stripe.com/customer-management/cancel-subscriptions).
 * - Voiding a paid invoice is refused ("You can only void open invoices",
 *   https://docs.stripe.com/api/invoices/void).
 * - Plan changes (https://docs.stripe.com/billing/subscriptions/change-price and
 *   https://docs.stripe.com/billing/subscriptions/prorations): the subscription item gets the new
 *   price; Stripe credits the unused time on the old price and charges the remaining time on the
 *   new one, to the second: for a change at T in period [s, e), the fraction is (e - T) / (e - s),
 *   each proration line rounded to the currency's smallest unit. With
 *   `proration_behavior=always_invoice` the proration is invoiced and charged at once
 *   (`billing_reason: subscription_update`). Same interval: the billing cycle anchor stays, the
 *   period is unchanged, the invoice is new x fraction - old x fraction. Another interval (month to
 *   year), or `billing_cycle_anchor=now` (https://docs.stripe.com/billing/subscriptions/billing-cycle#changing):
 *   the period restarts at T for one whole new interval (a calendar year) and the invoice is the
 *   new price in full minus the old price x fraction. A request Stripe refuses (4xx
 *   `invalid_request_error`) changes nothing at Stripe.
 * - Each collected invoice (`invoice.paid`) was paid by ONE PaymentIntent (`payments.data[]
 *   .payment.payment_intent` in the basil shape); the money moved once, on `status_transitions
 *   .paid_at`, however many events mention it.
 *
 * Settle's documented rules:
 * - `status`: `suspended` (access off) once the final retry failed (Settle then cancels the
 *   subscription at Stripe and voids the open invoice); otherwise from the latest object:
 *   `cancelled` once deleted, `cancellation_scheduled` when it cancels at period end, `past_due`
 *   while `past_due` (access on) or `unpaid` (access off), else `active`. The plan, price, period
 *   and `providerStatus` are the latest object's.
 * - A plan change through the API answers 422 `provider-rejected` when Stripe refuses it; nothing
 *   stays pending.
 * - A payment that arrives after the suspension, when Stripe has canceled the subscription, needs
 *   a human (refund or reactivate): on the subscription (`needsAttention: late_payment`) and on the
 *   payment's row.
 * - One provider payment is one payment row (a failed attempt too, one row per failure event) and
 *   is counted once in finance; the final failed attempt's row needs attention.
 */

export const DAY = 86_400;
export const MONTH = 30 * DAY;
export const isoOf = (sec: number) => new Date(sec * 1000).toISOString();

/** One year later on the calendar (what Stripe's yearly interval means). */
export const yearAfter = (sec: number) => {
  const d = new Date(sec * 1000);
  d.setUTCFullYear(d.getUTCFullYear() + 1);
  return Math.floor(d.getTime() / 1000);
};

export type PlanId = 'monthly' | 'plus' | 'yearly';

/** What happened at Stripe when period k (k >= 1) renewed. */
export type Renewal =
  /** the first charge succeeded */
  | { readonly kind: 'paid' }
  /** `failures` charges failed (Stripe retried each time), then a retry succeeded */
  | { readonly kind: 'recovered'; readonly failures: number }
  /**
   * `failures` charges failed, the last with no retry left; Stripe then did what the settings say
   * (`setting`); `late`: the customer paid the open invoice after the subscription was canceled.
   */
  | { readonly kind: 'final'; readonly failures: number; readonly setting: 'cancel' | 'unpaid' | 'past_due'; readonly late: boolean };

/** One customer's history. */
export interface Lifecycle {
  /** Renewals 1..n; only the last may be `final`. */
  readonly renewals: readonly Renewal[];
  /** How it ends at Stripe (when the last renewal is not `final`). */
  readonly ending: 'none' | 'portal_cancel_at_period_end' | 'portal_cancel_now' | 'past_due_at_stripe';
  /** A plan change the tenant asks through the API in the current period (only when nothing ends it). */
  readonly planChange: { readonly to: 'plus' | 'yearly'; readonly refused: boolean } | null;
}

export interface Period {
  readonly start: number;
  readonly end: number;
}

export interface SubObject {
  readonly kind: 'object';
  readonly at: number;
  readonly type: 'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted';
  readonly status: 'active' | 'past_due' | 'unpaid' | 'canceled';
  readonly period: Period;
  readonly planId: PlanId;
  readonly cancelAtPeriodEnd: boolean;
  readonly canceledAt: number | null;
}

export interface InvoiceLine {
  readonly planId: PlanId;
  /** ISO minor units (negative: a credit) */
  readonly amount: number;
  readonly period: Period;
}

export interface InvoicePaid {
  readonly kind: 'invoice_paid';
  readonly at: number;
  readonly id: string;
  readonly reason: 'subscription_create' | 'subscription_cycle' | 'subscription_update';
  readonly period: Period;
  readonly amount: number;
  readonly paymentIntent: string;
  readonly lines: readonly InvoiceLine[];
}

export interface InvoiceFailed {
  readonly kind: 'invoice_failed';
  readonly at: number;
  readonly id: string;
  readonly period: Period;
  readonly amount: number;
  readonly paymentIntent: string;
  /** when Stripe retries; null: no retry left */
  readonly nextAttempt: number | null;
}

export type Fact = ({ readonly kind: 'checkout'; readonly at: number } | SubObject | InvoicePaid | InvoiceFailed) & {
  /**
   * When the fact can happen: `history` before anything Settle does; `after_settle_cancel` only
   * once Settle asked Stripe to cancel (its deletion); `late_payment`: the customer pays the open
   * invoice after that deletion (delivered once the deletion is applied: see RELIABILITY.md, a
   * payment delivered before the deletion it follows reinstates the subscription, an open
   * defect); `after_change` once the tenant asked for the plan change.
   */
  readonly phase?: 'history' | 'after_settle_cancel' | 'late_payment' | 'after_change';
};

export interface Prices {
  readonly currency: string;
  /** ISO minor units of each plan's price; Stripe charges a multiple of `step`. */
  readonly amount: Record<PlanId, number>;
  readonly step: number;
}

export interface Story {
  readonly customerId: string;
  readonly facts: Fact[];
  readonly period: (k: number) => Period;
  /** The invoice Settle must ask Stripe to void (and the final failure suspends), if any. */
  readonly suspendedBy: string | null;
}

export const paymentIntentOf = (customerId: string, k: number | 'chg') => `pi_${customerId}_${k}`;
export const invoiceOf = (customerId: string, k: number | 'chg') => `in_${customerId}_${k}`;

/** Stripe's Smart Retries spread over days; the model retries every three days (any schedule would do). */
const RETRY_GAP = 3 * DAY;
/** Stripe finalizes and charges a renewal invoice about an hour after the period starts. */
const CHARGE_DELAY = 3600;

/** What Stripe did, as facts with their `created` times; the last period contains now and started 12 days ago. */
export function story(customerId: string, l: Lifecycle, prices: Prices, now = Date.now()): Story {
  const n = l.renewals.length;
  const today = Math.floor(now / 1000 / DAY) * DAY;
  const t0 = today - n * MONTH - 12 * DAY;
  const period = (k: number): Period => ({ start: t0 + k * MONTH, end: t0 + (k + 1) * MONTH });
  const price = prices.amount.monthly;
  const obj = (at: number, type: SubObject['type'], status: SubObject['status'], k: number, more: Partial<SubObject> = {}): SubObject => ({
    kind: 'object', at, type, status, period: period(k), planId: 'monthly', cancelAtPeriodEnd: false, canceledAt: null, ...more,
  });
  const paid = (at: number, k: number): InvoicePaid => ({
    kind: 'invoice_paid', at, id: invoiceOf(customerId, k), reason: k === 0 ? 'subscription_create' : 'subscription_cycle', period: period(k), amount: price,
    paymentIntent: paymentIntentOf(customerId, k), lines: [{ planId: 'monthly', amount: price, period: period(k) }],
  });
  const failed = (at: number, k: number, nextAttempt: number | null): InvoiceFailed => ({
    kind: 'invoice_failed', at, id: invoiceOf(customerId, k), period: period(k), amount: price, paymentIntent: paymentIntentOf(customerId, k), nextAttempt,
  });

  const facts: Fact[] = [{ kind: 'checkout', at: t0 }, obj(t0 + 1, 'customer.subscription.created', 'active', 0), paid(t0 + 2, 0)];
  let suspendedBy: string | null = null;
  l.renewals.forEach((r, i) => {
    const k = i + 1;
    const start = period(k).start;
    const charged = start + CHARGE_DELAY;
    if (k === n && l.ending === 'past_due_at_stripe' && r.kind !== 'final') {
      // Stripe set past_due; the invoice's events are not (yet) here
      facts.push(obj(start, 'customer.subscription.updated', 'past_due', k));
      return;
    }
    facts.push(obj(start, 'customer.subscription.updated', 'active', k));
    if (r.kind === 'paid') {
      facts.push(paid(charged, k));
      return;
    }
    for (let j = 0; j < r.failures - 1; j++) {
      facts.push(failed(charged + j * RETRY_GAP, k, charged + (j + 1) * RETRY_GAP));
      if (j === 0) facts.push(obj(charged, 'customer.subscription.updated', 'past_due', k));
    }
    const last = charged + (r.failures - 1) * RETRY_GAP;
    if (r.kind === 'recovered') {
      if (r.failures === 1) throw new Error('a recovered renewal fails at least once');
      facts.push(paid(last, k), obj(last, 'customer.subscription.updated', 'active', k));
      return;
    }
    // the final failure: no retry left; Stripe applies the subscription's settings
    facts.push(failed(last, k, null));
    if (r.failures === 1) facts.push(obj(last, 'customer.subscription.updated', 'past_due', k));
    if (r.setting === 'cancel') facts.push(obj(last + 1, 'customer.subscription.deleted', 'canceled', k, { canceledAt: last + 1 }));
    if (r.setting === 'unpaid') facts.push(obj(last + 1, 'customer.subscription.updated', 'unpaid', k));
    suspendedBy = invoiceOf(customerId, k);
    // Settle cancels the subscription at Stripe (deleted, unless Stripe's settings did already) ...
    if (r.setting !== 'cancel') facts.push({ ...obj(last + 60, 'customer.subscription.deleted', 'canceled', k, { canceledAt: last + 60 }), phase: 'after_settle_cancel' });
    // ... and the customer pays the open invoice after that (Settle's void then refused)
    if (r.late) facts.push({ ...paid(last + 120, k), phase: 'late_payment' });
  });
  if (l.renewals.at(-1)?.kind !== 'final') {
    // the customer acts in the portal a day after the last thing Stripe did (a canceled subscription never comes back)
    const at = Math.max(...facts.map((f) => f.at)) + DAY;
    if (l.ending === 'portal_cancel_at_period_end') facts.push(obj(at, 'customer.subscription.updated', 'active', n, { cancelAtPeriodEnd: true, canceledAt: at }));
    if (l.ending === 'portal_cancel_now') facts.push(obj(at, 'customer.subscription.deleted', 'canceled', n, { canceledAt: at }));
  }
  return { customerId, facts, period, suspendedBy };
}

/** Whether the tenant's plan change can be asked in this lifecycle: the subscription is active in the current period. */
export function canChangePlan(l: Lifecycle): boolean {
  return l.ending === 'none' && l.renewals.at(-1)?.kind !== 'final';
}

const roundTo = (x: number, step: number) => Math.round(x / step) * step;

/**
 * What Stripe does when the tenant changes the plan at `changeAt` (seconds, Stripe's clock) in
 * the story's current period, when it accepts: the proration invoice paid at once and the
 * subscription object on the new price (Stripe's rule: see the header).
 */
export function planChangeFacts(s: Story, to: 'plus' | 'yearly', changeAt: number, prices: Prices): { invoice: InvoicePaid; object: SubObject } {
  const current = [...objectsOf(s.facts)].sort(byStripeOrder).at(-1)!;
  const { start, end } = current.period;
  const fraction = (end - changeAt) / (end - start);
  const credit = -roundTo(prices.amount.monthly * fraction, prices.step);
  const resetAnchor = to === 'yearly'; // another interval: the cycle restarts at the change
  const period = resetAnchor ? { start: changeAt, end: yearAfter(changeAt) } : { start, end };
  const charge = resetAnchor ? prices.amount[to] : roundTo(prices.amount[to] * fraction, prices.step);
  const lines: InvoiceLine[] = [
    { planId: 'monthly', amount: credit, period: { start: changeAt, end } },
    { planId: to, amount: charge, period: resetAnchor ? period : { start: changeAt, end } },
  ];
  const invoice: InvoicePaid = {
    kind: 'invoice_paid', at: changeAt, id: invoiceOf(s.customerId, 'chg'), reason: 'subscription_update', period, amount: credit + charge,
    paymentIntent: paymentIntentOf(s.customerId, 'chg'), lines,
  };
  const object: SubObject = { kind: 'object', at: changeAt, type: 'customer.subscription.updated', status: 'active', period, planId: to, cancelAtPeriodEnd: false, canceledAt: null };
  return { invoice, object };
}

const objectsOf = (facts: readonly Fact[]) => facts.filter((f): f is SubObject & Fact => f.kind === 'object');
const rank = { 'customer.subscription.created': 0, 'customer.subscription.updated': 1, 'customer.subscription.deleted': 2 } as const;
const byStripeOrder = (a: SubObject, b: SubObject) => a.at - b.at || a.period.start - b.period.start || a.period.end - b.period.end || rank[a.type] - rank[b.type];

/** The customer's subscription as GET /v1/customers/{id}/subscription must show it. */
export function expectedView(facts: readonly Fact[], prices: Prices): Record<string, unknown> {
  const latest = [...objectsOf(facts)].sort(byStripeOrder).at(-1)!;
  const finalFailure = facts.find((f): f is InvoiceFailed => f.kind === 'invoice_failed' && f.nextAttempt === null);
  const late = finalFailure ? facts.find((f): f is InvoicePaid => f.kind === 'invoice_paid' && f.id === finalFailure.id) : undefined;
  const status = finalFailure
    ? 'suspended'
    : latest.status === 'canceled'
      ? 'cancelled'
      : latest.cancelAtPeriodEnd
        ? 'cancellation_scheduled'
        : latest.status === 'past_due' || latest.status === 'unpaid'
          ? 'past_due'
          : 'active';
  return {
    planId: latest.planId,
    status,
    accessActive: status !== 'suspended' && status !== 'cancelled' && latest.status !== 'unpaid',
    currentPeriodStart: isoOf(latest.period.start),
    currentPeriodEnd: isoOf(latest.period.end),
    cancelAtPeriodEnd: latest.cancelAtPeriodEnd,
    providerStatus: latest.status,
    pendingPlanChange: null,
    needsAttention: late ? [{ kind: 'late_payment', providerInvoiceId: late.id, amount: { amount: late.amount, currency: prices.currency } }] : [],
  };
}

export interface PaymentRow {
  readonly providerPaymentId: string;
  readonly status: 'succeeded' | 'failed';
  /** ISO minor units */
  readonly amount: number;
  readonly currency: string;
  /** whether the row says it needs a human */
  readonly needsAttention: boolean;
}

/**
 * The payment rows and finance totals of several customers' facts on one tenant: one row per
 * collected invoice (its PaymentIntent) and one per failed charge; gross = every collected
 * invoice once; no refunds, disputes or fees here, so net = gross.
 */
export function expectedMoney(customers: ReadonlyArray<readonly Fact[]>, currency: string) {
  const payments: PaymentRow[] = customers.flatMap((facts) => {
    const finalFailure = facts.find((f): f is InvoiceFailed => f.kind === 'invoice_failed' && f.nextAttempt === null);
    return facts.flatMap((f): PaymentRow[] => {
      if (f.kind === 'invoice_paid') return [{ providerPaymentId: f.paymentIntent, status: 'succeeded', amount: f.amount, currency, needsAttention: f.id === finalFailure?.id }];
      if (f.kind === 'invoice_failed') return [{ providerPaymentId: f.paymentIntent, status: 'failed', amount: f.amount, currency, needsAttention: f.nextAttempt === null }];
      return [];
    });
  });
  const succeeded = payments.filter((p) => p.status === 'succeeded');
  const gross = succeeded.reduce((a, p) => a + p.amount, 0);
  const finance = { currency, grossCollected: gross, refunds: 0, net: gross, succeededCount: succeeded.length, failedCount: payments.length - succeeded.length };
  return { payments, finance };
}
