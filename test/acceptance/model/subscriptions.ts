/**
 * The reference model of subscription billing: from what Stripe Billing did for one customer (the
 * Subscription objects it held over time and the invoices it collected) it says what a user of
 * Settle must see: the customer's subscription (GET /v1/customers/{id}/subscription), the payment
 * rows (GET /v1/payments) and the finance totals (GET /v1/reports/finance). Written from Stripe's
 * documentation and Settle's public API documentation, without looking at the product's code.
 *
 * Stripe's rules the model relies on (Stripe API reference, "Subscriptions", "How subscriptions
 * work", "Invoices", "Webhooks: event ordering"):
 * - A Subscription object carries its status (`active`, `past_due`, ...), the current period
 *   (`items.data[].current_period_start/end` since API 2025-03-31.basil) and the cancellation
 *   fields (`cancel_at_period_end`, `cancel_at`, `canceled_at`). Each `customer.subscription.*`
 *   event carries the whole object as it was when the event was created; events are not
 *   delivered in order, so the LATEST object (by the event's `created`; within one second, the
 *   later period) is the truth.
 * - A renewal opens a new period and finalizes an invoice; when the charge fails the subscription
 *   goes `past_due` and Smart Retries try again; a later success makes it `active` again. A
 *   cancellation in the customer portal sets `cancel_at_period_end` (status stays `active`).
 * - Each collected invoice (`invoice.paid`) was paid by ONE PaymentIntent (`payments.data[]
 *   .payment.payment_intent` in the basil shape); the money moved once, on `status_transitions
 *   .paid_at`, however many events mention it (`checkout.session.completed`,
 *   `customer.subscription.*`, `invoice.paid`).
 *
 * Settle's documented rules (README "Subscriptions", ARCHITECTURE.md "Money rules"):
 * - `status` is `past_due` while Stripe says so, `cancellation_scheduled` when the latest object
 *   cancels at period end, else `active`; access stays on through dunning and until the period
 *   ends; the current period is the latest object's.
 * - One provider payment is one payment row and is counted once in finance, whatever it paid for.
 */

export const DAY = 86_400;
export const MONTH = 30 * DAY;
export const isoOf = (sec: number) => new Date(sec * 1000).toISOString();

/** One customer's history at Stripe. */
export interface Lifecycle {
  readonly renewals: number;
  /** A renewal (1..renewals) whose first charge failed: past_due, then paid, then active again. */
  readonly recoveredRenewal: number | null;
  /** How it ends at Stripe: nothing more, a cancellation in the customer portal, or the last renewal left past_due (unpaid invoice). */
  readonly ending: 'none' | 'portal_cancel' | 'past_due';
}

/** A Subscription object Stripe holds at `created` (what the events carry). */
export interface SubObject {
  readonly created: number;
  readonly type: 'customer.subscription.created' | 'customer.subscription.updated';
  readonly status: 'active' | 'past_due';
  /** index of the period it is in */
  readonly k: number;
  readonly cancelAtPeriodEnd: boolean;
}

/** An invoice Stripe collected: for period `k`, paid at `paidAt` by one PaymentIntent. */
export interface PaidInvoice {
  readonly k: number;
  readonly paidAt: number;
}

export interface Story {
  readonly objects: SubObject[];
  readonly paid: PaidInvoice[];
  readonly period: (k: number) => { start: number; end: number };
}

/** What Stripe did, as objects and paid invoices; the timeline ends in the present (the last period contains now). */
export function story(l: Lifecycle, now = Date.now()): Story {
  const today = Math.floor(now / 1000 / DAY) * DAY;
  const t0 = today - l.renewals * MONTH - 5 * DAY;
  const period = (k: number) => ({ start: t0 + k * MONTH, end: t0 + (k + 1) * MONTH });
  const objects: SubObject[] = [{ created: t0 + 1, type: 'customer.subscription.created', status: 'active', k: 0, cancelAtPeriodEnd: false }];
  const paid: PaidInvoice[] = [{ k: 0, paidAt: t0 + 2 }];
  for (let k = 1; k <= l.renewals; k++) {
    const at = period(k).start;
    if (k === l.renewals && l.ending === 'past_due') {
      objects.push({ created: at, type: 'customer.subscription.updated', status: 'past_due', k, cancelAtPeriodEnd: false });
      continue;
    }
    if (k === l.recoveredRenewal) {
      objects.push({ created: at, type: 'customer.subscription.updated', status: 'past_due', k, cancelAtPeriodEnd: false });
      objects.push({ created: at + 3601, type: 'customer.subscription.updated', status: 'active', k, cancelAtPeriodEnd: false });
    } else {
      objects.push({ created: at, type: 'customer.subscription.updated', status: 'active', k, cancelAtPeriodEnd: false });
    }
    paid.push({ k, paidAt: at + 3600 });
  }
  if (l.ending === 'portal_cancel') objects.push({ created: period(l.renewals).start + 2 * DAY, type: 'customer.subscription.updated', status: 'active', k: l.renewals, cancelAtPeriodEnd: true });
  return { objects, paid, period };
}

/** The customer's subscription as GET /v1/customers/{id}/subscription must show it: the latest object decides. */
export function expectedView(s: Story, planId: string): Record<string, unknown> {
  const latest = [...s.objects].sort((a, b) => a.created - b.created || a.k - b.k).at(-1)!;
  const p = s.period(latest.k);
  return {
    planId,
    status: latest.status === 'past_due' ? 'past_due' : latest.cancelAtPeriodEnd ? 'cancellation_scheduled' : 'active',
    accessActive: true,
    currentPeriodStart: isoOf(p.start),
    currentPeriodEnd: isoOf(p.end),
    cancelAtPeriodEnd: latest.cancelAtPeriodEnd,
    providerStatus: latest.status,
  };
}

export interface SubscriptionPayment {
  readonly providerPaymentId: string;
  readonly status: 'succeeded';
  /** ISO minor units */
  readonly amount: number;
  readonly currency: string;
}

/** The payment ids Stripe gave one customer's collected invoices (the world builds events with the same ids). */
export const paymentIntentOf = (customerId: string, k: number) => `pi_${customerId}_${k}`;

/**
 * The money of several customers' stories on one tenant whose plan costs `price`: one succeeded
 * payment per collected invoice, and the finance totals (gross = every collected invoice, once;
 * no refunds, disputes or fees in these histories, so net = gross).
 */
export function expectedMoney(customers: ReadonlyArray<{ customerId: string; story: Story }>, price: { amount: number; currency: string }) {
  const payments: SubscriptionPayment[] = customers.flatMap(({ customerId, story: s }) =>
    s.paid.map((p) => ({ providerPaymentId: paymentIntentOf(customerId, p.k), status: 'succeeded' as const, amount: price.amount, currency: price.currency })),
  );
  const finance = { currency: price.currency, grossCollected: price.amount * payments.length, refunds: 0, net: price.amount * payments.length, succeededCount: payments.length, failedCount: 0 };
  return { payments, finance };
}
