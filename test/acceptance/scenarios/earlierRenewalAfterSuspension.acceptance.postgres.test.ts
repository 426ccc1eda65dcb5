/**
 * Named regression (found by the subscription acceptance model, subscriptionsConverge): Stripe
 * collected a renewal (period 1), the next renewal (period 2) failed for good and Settle
 * suspended the subscription; the `invoice.paid` of period 1 arrived only after that (Stripe does
 * not deliver events in order). Settle took it for money paid after the suspension: the
 * subscription and the payment row said "refund or reactivate" for a period the customer had
 * been served and had paid in time. Now an earlier period's invoice recorded after a suspension
 * is that period paid: nothing needs a human, access stays off; the invoice whose final failure
 * suspended the subscription, paid late, still needs one.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) behind a recording proxy; signed platform
 * webhooks built from Stripe's published example objects.
 */
import { until } from '../driver/service';
import { billingScenario, DAY, MONTH, type Obj } from '../driver/subscriptions';

describe('a renewal invoice delivered after the suspension of a later period (PostgreSQL, stripe-mock)', () => {
  const billing = billingScenario('saas-earlier-renewal');

  test('period 1 paid in time but delivered after period 2 suspended it: no late payment, nothing needs attention', async () => {
    const c = 'earlier-renewal';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 2 * MONTH - 12 * DAY;
    const p = (k: number) => ({ periodStart: start + k * MONTH, periodEnd: start + (k + 1) * MONTH });
    await billing.world.activate(c, start);
    await billing.world.view(c, (v) => v.status === 'active');
    // period 2: opened, charged and failed twice; the last failure has no retry left
    const failedAt = p(2).periodStart + 3600;
    await billing.world.send(
      billing.world.subscription('customer.subscription.updated', c, p(2).periodStart, { status: 'active', ...p(2) }),
      billing.world.invoice('invoice.payment_failed', c, { id: `in_${c}_2`, ...p(2), created: failedAt, paymentIntent: `pi_${c}_2`, nextPaymentAttempt: failedAt + 3 * DAY }),
      billing.world.subscription('customer.subscription.updated', c, failedAt, { status: 'past_due', ...p(2) }),
      billing.world.invoice('invoice.payment_failed.next_payment_attempt_null', c, { id: `in_${c}_2`, ...p(2), created: failedAt + 3 * DAY, paymentIntent: `pi_${c}_2`, nextPaymentAttempt: null }),
    );
    expect(await billing.world.view(c, (v) => v.status === 'suspended')).toMatchObject({ status: 'suspended', accessActive: false });
    // Settle cancels at Stripe; Stripe's deletion follows
    await until(async () => billing.proxy.callsTo('DELETE', `/v1/subscriptions/sub_${c}`).length, (n) => n > 0);
    await billing.world.send(billing.world.subscription('customer.subscription.deleted', c, failedAt + 3 * DAY + 60, { ...p(2), canceledAt: failedAt + 3 * DAY + 60 }));
    // period 1's invoice, paid a month earlier, arrives now
    await billing.world.send(billing.world.invoice('invoice.paid', c, { id: `in_${c}_1`, reason: 'subscription_cycle', ...p(1), created: p(1).periodStart + 3600, paymentIntent: `pi_${c}_1` }));
    await billing.settle.settled();

    expect(await billing.world.view(c)).toMatchObject({ status: 'suspended', accessActive: false, providerStatus: 'canceled', needsAttention: [] });
    const rows = ((await billing.world.b.api.get<{ data: Obj[] }>(`/v1/payments?customer_id=${c}&limit=100`)).body.data ?? []).map((r) => ({ id: r.providerPaymentId, status: r.status, flagged: r.needsAttention !== null }));
    expect(rows.filter((r) => r.id === `pi_${c}_1`)).toEqual([{ id: `pi_${c}_1`, status: 'succeeded', flagged: false }]);
    // the final failure is what needs a human, once
    expect(rows.filter((r) => r.flagged)).toEqual([{ id: `pi_${c}_2`, status: 'failed', flagged: true }]);
  }, 60_000);
});
