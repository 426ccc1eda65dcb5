/**
 * Named regression (found by the subscription acceptance model, subscriptionsConverge, in its
 * long run): a renewal's charge failed once and Stripe's retry paid it; two periods later the
 * subscription was active at Stripe. The old `invoice.payment_failed` of that renewal arrived
 * late (after Stripe's newer `active` object), then its `invoice.paid`. Settle set the
 * subscription past_due on the late failure and kept it past_due for good: the paid invoice was
 * for an older period, and only the current period's payment ended a past_due. Plan changes were
 * then refused (409 no-live-subscription: "needs an active subscription (status past_due)") while
 * Stripe said active. Now the payment of the invoice that was overdue ends the past_due, unless
 * another failed invoice is still unpaid or Stripe's newest object says past_due/unpaid.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE); signed platform webhooks built from
 * Stripe's published example objects.
 */

import { billingScenario, DAY, MONTH, isoOf } from '../driver/subscriptions';

describe("an old renewal's failure and payment delivered after Stripe's newer active object (PostgreSQL, stripe-mock)", () => {
  const billing = billingScenario('saas-late-failure', { monthly: { amount: 99_900, currency: 'ISK' }, proxied: false });

  test('active, as Stripe says; a plan change is not refused as past_due', async () => {
    const c = 'late-failure';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 2 * MONTH - 12 * DAY;
    const p = (k: number) => ({ periodStart: start + k * MONTH, periodEnd: start + (k + 1) * MONTH });
    const charged = (k: number) => p(k).periodStart + 3600;
    await billing.world.activate(c, start);
    await billing.world.view(c, (v) => v.status === 'active');
    // Stripe's objects arrive first: period 1 past_due then active again, then period 2 active and paid
    await billing.world.send(
      billing.world.subscription('customer.subscription.updated', c, charged(1), { status: 'past_due', ...p(1) }),
      billing.world.subscription('customer.subscription.updated', c, charged(1) + 3 * DAY, { status: 'active', ...p(1) }),
      billing.world.subscription('customer.subscription.updated', c, p(2).periodStart, { status: 'active', ...p(2) }),
      billing.world.invoice('invoice.paid', c, { id: `in_${c}_2`, reason: 'subscription_cycle', ...p(2), amount: 99_900, created: charged(2), paymentIntent: `pi_${c}_2` }),
    );
    // then period 1's failure, and its payment by Stripe's retry
    await billing.world.send(
      billing.world.invoice('invoice.payment_failed', c, { id: `in_${c}_1`, ...p(1), amount: 99_900, created: charged(1), paymentIntent: `pi_${c}_1`, nextPaymentAttempt: charged(1) + 3 * DAY }),
      billing.world.invoice('invoice.paid', c, { id: `in_${c}_1`, reason: 'subscription_cycle', ...p(1), amount: 99_900, created: charged(1) + 3 * DAY, paymentIntent: `pi_${c}_1` }),
    );
    await billing.settle.settled();
    expect(await billing.world.view(c)).toMatchObject({ status: 'active', accessActive: true, providerStatus: 'active', nextPaymentAttempt: null, currentPeriodStart: isoOf(p(2).periodStart) });
    const change = await billing.world.b.api.post(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect(change.status).not.toBe(409);
  }, 60_000);
});
