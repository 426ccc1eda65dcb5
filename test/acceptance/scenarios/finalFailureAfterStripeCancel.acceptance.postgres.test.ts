/**
 * Named regression (found by the subscription acceptance model, subscriptionsConverge): the
 * account's dunning settings tell Stripe to cancel the subscription after the last retry, so the
 * final `invoice.payment_failed` (no `next_payment_attempt`) and `customer.subscription.deleted`
 * are created together and may arrive in either order. When the deletion came first, Settle
 * recorded an ordinary provider cancellation and refused the final failure: no suspension, the
 * failed payment not flagged, the open invoice never voided, and when the customer then paid it
 * (hosted invoice page) the money was dropped without anyone being told. Now the final failure of
 * a subscription Stripe already canceled suspends it as if it had come first: the failed row
 * needs attention, Settle asks Stripe to void the open invoice, and a later payment of it (the
 * void refused: "only open invoices") needs a human on the subscription and on its row.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) behind a recording proxy that answers the
 * void of the paid invoice as Stripe does; signed platform webhooks built from Stripe's published
 * example objects.
 */
import { until } from '../driver/service';
import { billingScenario, DAY, MONTH, type Obj } from '../driver/subscriptions';

describe("Stripe's deletion delivered before the final failure (PostgreSQL, stripe-mock)", () => {
  const billing = billingScenario('saas-stripe-cancels', { monthly: { amount: 1_250, currency: 'KWD' } });

  test('suspended, the failed row flagged, the invoice voided; paid later: the money needs a human', async () => {
    const c = 'stripe-cancels';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - MONTH - 12 * DAY;
    const p1 = { periodStart: start + MONTH, periodEnd: start + 2 * MONTH };
    const finalAt = p1.periodStart + 3600;
    await billing.world.activate(c, start);
    await billing.world.view(c, (v) => v.status === 'active');
    billing.proxy.answerNext((x) => x.method === 'POST' && x.path === `/v1/invoices/in_${c}_1/void`, 400, {
      error: { type: 'invalid_request_error', code: 'invoice_not_open', message: "You can only pass in open invoices. This invoice isn't open." },
    });
    await billing.world.send(
      billing.world.subscription('customer.subscription.updated', c, p1.periodStart, { status: 'active', ...p1 }),
      billing.world.subscription('customer.subscription.updated', c, finalAt, { status: 'past_due', ...p1 }),
      // Stripe's setting "cancel the subscription": the deletion arrives first
      billing.world.subscription('customer.subscription.deleted', c, finalAt + 1, { ...p1, canceledAt: finalAt + 1 }),
      billing.world.invoice('invoice.payment_failed.next_payment_attempt_null', c, { id: `in_${c}_1`, ...p1, amount: 1_250, created: finalAt, paymentIntent: `pi_${c}_1`, nextPaymentAttempt: null }),
    );
    await billing.settle.settled();
    expect(await billing.world.view(c, (v) => v.status === 'suspended')).toMatchObject({ status: 'suspended', accessActive: false, providerStatus: 'canceled', needsAttention: [] });
    const voids = await until(async () => billing.proxy.callsTo('POST', `/v1/invoices/in_${c}_1/void`), (v) => v.length > 0);
    expect(voids.map((v) => v.status)).toEqual([400]);

    // the customer pays the open invoice on Stripe's hosted page
    await billing.world.send(billing.world.invoice('invoice.paid', c, { id: `in_${c}_1`, reason: 'subscription_cycle', ...p1, amount: 1_250, created: finalAt + 120, paymentIntent: `pi_${c}_1` }));
    await billing.settle.settled();
    expect(await billing.world.view(c, (v) => (v.needsAttention ?? []).length > 0)).toMatchObject({
      status: 'suspended',
      accessActive: false,
      needsAttention: [{ kind: 'late_payment', providerInvoiceId: `in_${c}_1`, amount: { amount: 1_250, currency: 'KWD' } }],
    });
    const rows = ((await billing.world.b.api.get<{ data: Obj[] }>(`/v1/payments?customer_id=${c}&limit=100`)).body.data ?? []).filter((r) => r.providerPaymentId === `pi_${c}_1`);
    expect(rows.map((r) => ({ status: r.status, flagged: r.needsAttention !== null })).sort((a, b) => a.status.localeCompare(b.status))).toEqual([
      { status: 'failed', flagged: true },
      { status: 'succeeded', flagged: true },
    ]);
  }, 60_000);
});
