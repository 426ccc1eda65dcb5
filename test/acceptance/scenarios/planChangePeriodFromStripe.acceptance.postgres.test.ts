/**
 * Named regression (found by the subscription acceptance model, subscriptionsConverge): a plan
 * change to another interval (monthly to yearly) resets the billing cycle anchor, and Stripe
 * restarts the period at ITS time of the change (https://docs.stripe.com/billing/subscriptions/billing-cycle#changing).
 * Settle restarted it at its own clock instead: when the API call returned (the call's latency
 * later), or when the paid invoice's webhook was processed (possibly hours later). Stripe's
 * later subscription object, which has the true period, could never correct it, since periods
 * only move forward: the customer's renewal date in Settle differed from Stripe's for the whole
 * year. Now the period is the one Stripe set: the updated subscription object in Stripe's answer,
 * or the paid invoice's line of the new price.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) behind a recording proxy that answers the
 * subscription update as Stripe does when it accepts it; signed platform webhooks built from
 * Stripe's published example objects.
 */

import { billingScenario, DAY, isoOf, type Obj } from '../driver/subscriptions';
import { yearAfter, type InvoicePaid, type SubObject } from '../model/subscriptions';

describe('the period after a plan change to another interval is the one Stripe set (PostgreSQL, stripe-mock)', () => {
  const billing = billingScenario('saas-change-period', { monthly: { amount: 2_900, currency: 'EUR' }, yearlyAmount: 29_000 });

  /** Stripe's side of a change at `at`: the proration invoice (credit for the unused month, the year in full) and the object on the yearly price. */
  function change(c: string, monthStart: number, at: number): { invoice: InvoicePaid; object: SubObject } {
    const period = { start: at, end: yearAfter(at) };
    const credit = -Math.round((2_900 * (monthStart + 30 * DAY - at)) / (30 * DAY));
    return {
      invoice: {
        kind: 'invoice_paid', at, id: `in_${c}_chg`, reason: 'subscription_update', period, amount: credit + 29_000, paymentIntent: `pi_${c}_chg`,
        lines: [{ planId: 'monthly', amount: credit, period: { start: at, end: monthStart + 30 * DAY } }, { planId: 'yearly', amount: 29_000, period }],
      },
      object: { kind: 'object', at, type: 'customer.subscription.updated', status: 'active', period, planId: 'yearly', cancelAtPeriodEnd: false, canceledAt: null },
    };
  }

  const onUpdate = (c: string) => (x: { method: string; path: string }) => x.method === 'POST' && x.path === `/v1/subscriptions/sub_${c}`;

  test('captured in the answer: the period of the subscription object Stripe answered', async () => {
    const c = 'change-captured';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 5 * DAY;
    await billing.world.activate(c, start);
    await billing.world.view(c, (v) => v.status === 'active');
    const at = Math.floor(Date.now() / 1000) - 2;
    const s = change(c, start, at);
    billing.proxy.answerNext(onUpdate(c), 200, billing.world.acceptedChange(c, s.object, s.invoice));
    const r = await billing.world.b.api.post<Obj>(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect(r.body.outcome).toBe('captured');
    const want = { planId: 'yearly', currentPeriodStart: isoOf(at), currentPeriodEnd: isoOf(yearAfter(at)), pendingPlanChange: null };
    expect(await billing.world.view(c, (v) => v.planId === 'yearly')).toMatchObject(want);
    await billing.world.send(billing.world.factEvent(c, s.invoice), billing.world.factEvent(c, s.object));
    await billing.settle.settled();
    expect(await billing.world.view(c)).toMatchObject(want);
  }, 60_000);

  test('pending in the answer, paid later by webhook: the period of the invoice line of the new price', async () => {
    const c = 'change-pending';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 5 * DAY;
    await billing.world.activate(c, start);
    await billing.world.view(c, (v) => v.status === 'active');
    const at = Math.floor(Date.now() / 1000) - 3600; // the webhook comes an hour after the change
    const s = change(c, start, at);
    const answer = billing.world.acceptedChange(c, s.object, s.invoice);
    // the proration invoice still open, its PaymentIntent processing (a bank debit, say)
    Object.assign(answer.latest_invoice, { status: 'open', amount_paid: 0, status_transitions: { ...answer.latest_invoice.status_transitions, paid_at: null } });
    answer.latest_invoice.payments.data[0].payment.payment_intent = { id: `pi_${c}_chg`, object: 'payment_intent', status: 'processing', last_payment_error: null };
    billing.proxy.answerNext(onUpdate(c), 200, answer);
    const r = await billing.world.b.api.post<Obj>(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect(r.body.outcome).toBe('pending');
    await billing.world.send(billing.world.factEvent(c, s.invoice));
    await billing.settle.settled();
    const want = { planId: 'yearly', currentPeriodStart: isoOf(at), currentPeriodEnd: isoOf(yearAfter(at)), pendingPlanChange: null };
    expect(await billing.world.view(c, (v) => v.planId === 'yearly')).toMatchObject(want);
    await billing.world.send(billing.world.factEvent(c, s.object));
    await billing.settle.settled();
    expect(await billing.world.view(c)).toMatchObject(want);
  }, 60_000);
});
