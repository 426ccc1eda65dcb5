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
import { startSettle, type Settle } from '../driver/service';
import { BillingWorld, DAY, MONTH, isoOf, withPlans } from '../driver/subscriptions';
import { newTenant } from '../driver/tenant';

describe("an old renewal's failure and payment delivered after Stripe's newer active object (PostgreSQL, stripe-mock)", () => {
  let settle: Settle;
  let world: BillingWorld;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
    const tenant = await newTenant(settle, 'saas-late-failure');
    world = new BillingWorld(await withPlans(settle, tenant.id, tenant.api, { amount: 99_900, currency: 'ISK' }));
  }, 90_000);
  afterAll(async () => settle?.stop());

  test('active, as Stripe says; a plan change is not refused as past_due', async () => {
    const c = 'late-failure';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 2 * MONTH - 12 * DAY;
    const p = (k: number) => ({ periodStart: start + k * MONTH, periodEnd: start + (k + 1) * MONTH });
    const charged = (k: number) => p(k).periodStart + 3600;
    await world.activate(c, start);
    await world.view(c, (v) => v.status === 'active');
    // Stripe's objects arrive first: period 1 past_due then active again, then period 2 active and paid
    await world.send(
      world.subscription('customer.subscription.updated', c, charged(1), { status: 'past_due', ...p(1) }),
      world.subscription('customer.subscription.updated', c, charged(1) + 3 * DAY, { status: 'active', ...p(1) }),
      world.subscription('customer.subscription.updated', c, p(2).periodStart, { status: 'active', ...p(2) }),
      world.invoice('invoice.paid', c, { id: `in_${c}_2`, reason: 'subscription_cycle', ...p(2), amount: 99_900, created: charged(2), paymentIntent: `pi_${c}_2` }),
    );
    // then period 1's failure, and its payment by Stripe's retry
    await world.send(
      world.invoice('invoice.payment_failed', c, { id: `in_${c}_1`, ...p(1), amount: 99_900, created: charged(1), paymentIntent: `pi_${c}_1`, nextPaymentAttempt: charged(1) + 3 * DAY }),
      world.invoice('invoice.paid', c, { id: `in_${c}_1`, reason: 'subscription_cycle', ...p(1), amount: 99_900, created: charged(1) + 3 * DAY, paymentIntent: `pi_${c}_1` }),
    );
    await settle.settled();
    expect(await world.view(c)).toMatchObject({ status: 'active', accessActive: true, providerStatus: 'active', nextPaymentAttempt: null, currentPeriodStart: isoOf(p(2).periodStart) });
    const change = await world.b.api.post(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect(change.status).not.toBe(409);
  }, 60_000);
});
