/**
 * Named regression (issue #16, changes made at Stripe): Settle only knew what it had asked for
 * itself. A cancellation the customer made in Stripe's customer portal (`cancel_at_period_end`),
 * a subscription Stripe moved to past_due (then unpaid), and a price changed in the dashboard to
 * another plan's price were never reflected: GET /v1/customers/{id}/subscription kept showing the
 * old plan and an active subscription. Now each is followed, an older object delivered late
 * changes nothing, a price no plan knows is shown and flagged, and deletion ends access.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with Kafka
 * (KAFKA_BROKERS), stripe-mock (STRIPE_API_BASE) for the plans' prices; signed platform webhooks
 * built from Stripe's published example objects.
 */
import { billingScenario, DAY, MONTH, isoOf, type SubShape } from '../driver/subscriptions';

describe('changes made at Stripe are followed (PostgreSQL, Kafka, stripe-mock)', () => {
  const billing = billingScenario('saas-stripe-changes', { messaging: 'kafka', proxied: false });

  test('portal cancellation, past_due, unpaid, a dashboard price change to the yearly plan; a stale object is ignored; an unknown price is flagged; deletion ends it', async () => {
    const c = 'portal-customer';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 5 * DAY;
    const end = start + MONTH;
    const sub = (status: string, created: number, more: Partial<SubShape> = {}) =>
      billing.world.subscription('customer.subscription.updated', c, created, { status, periodStart: start, periodEnd: end, ...more });
    await billing.world.activate(c, start);
    expect(await billing.world.view(c, (v) => v.status === 'active')).toMatchObject({ status: 'active', planId: 'monthly', accessActive: true, currentPeriodEnd: isoOf(end) });

    // the customer cancels in Stripe's portal: at the period's end
    await billing.world.send(sub('active', start + 100, { cancelAtPeriodEnd: true, cancelAt: end, canceledAt: start + 100 }));
    expect(await billing.world.view(c, (v) => v.status === 'cancellation_scheduled')).toMatchObject({ status: 'cancellation_scheduled', cancelAtPeriodEnd: true, cancelAt: isoOf(end), accessActive: true });

    // Stripe moves it to past_due (the portal cancellation was withdrawn meanwhile), then unpaid
    await billing.world.send(sub('past_due', start + 200));
    expect(await billing.world.view(c, (v) => v.status === 'past_due')).toMatchObject({ status: 'past_due', providerStatus: 'past_due', cancelAtPeriodEnd: false, cancelAt: null, accessActive: true });
    await billing.world.send(sub('unpaid', start + 250));
    expect(await billing.world.view(c, (v) => v.providerStatus === 'unpaid')).toMatchObject({ status: 'past_due', accessActive: false });

    // the dashboard moves the customer to the yearly plan's price (paid: active again)
    await billing.world.send(sub('active', start + 300, { planId: 'yearly' }));
    expect(await billing.world.view(c, (v) => v.planId === 'yearly')).toMatchObject({ status: 'active', accessActive: true, planId: 'yearly', priceId: billing.world.b.price.yearly, interval: 'year', needsAttention: [] });

    // an older object delivered late changes nothing
    await billing.world.send(sub('past_due', start + 150, { planId: 'monthly' }));
    await billing.settle.settled();
    expect(await billing.world.view(c)).toMatchObject({ planId: 'yearly', status: 'active', accessActive: true });

    // a price no plan of Settle knows (made in the dashboard): shown and flagged
    await billing.world.send(sub('active', start + 400, { priceId: 'price_dashboard_only' }));
    expect(await billing.world.view(c, (v) => v.priceId === 'price_dashboard_only')).toMatchObject({ priceId: 'price_dashboard_only', needsAttention: [{ kind: 'unknown_price', priceId: 'price_dashboard_only' }] });

    // back on a known plan: the flag clears; then deleted at Stripe: access ends
    await billing.world.send(sub('active', start + 500, { planId: 'monthly' }));
    expect(await billing.world.view(c, (v) => v.planId === 'monthly' && v.priceId === billing.world.b.price.monthly)).toMatchObject({ planId: 'monthly', needsAttention: [] });
    await billing.world.send(billing.world.subscription('customer.subscription.deleted', c, start + 600, { periodStart: start, periodEnd: end }));
    expect(await billing.world.view(c, (v) => v.status === 'cancelled')).toMatchObject({ status: 'cancelled', accessActive: false, providerStatus: 'canceled' });
    await billing.settle.settled();
  }, 90_000);
});
