/**
 * Named regression (issue #16, late payment after suspension): the final retry of a renewal
 * failed, Settle suspended the subscription, and the customer's payment arrived just after
 * (Stripe could no longer void the invoice: it was paid). The payment was dropped: access stayed
 * off while the customer had paid, or money sat on a canceled subscription unseen. Now, decided
 * from Stripe's subscription object: still alive at Stripe -> access restored, one payment,
 * nothing to do; canceled at Stripe -> still suspended, and the subscription and the payment row
 * say it needs a human (refund or reactivate).
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) behind a recording proxy that answers the
 * void of the paid invoice as Stripe does ("not open"); signed platform webhooks built from
 * Stripe's published example objects.
 */
import { until } from '../driver/service';
import { billingScenario, DAY, MONTH, isoOf, type Obj } from '../driver/subscriptions';

describe('a renewal paid after Settle suspended the subscription (PostgreSQL, stripe-mock)', () => {
  const billing = billingScenario('saas-late-payment');

  const start = Math.floor(Date.now() / 1000 / DAY) * DAY - MONTH - 10 * DAY;
  const p1 = { periodStart: start + MONTH, periodEnd: start + 2 * MONTH };
  const finalFailureAt = p1.periodStart + 7 * DAY;

  /** Active for period 0; the renewal of period 1 fails for good (no next attempt): suspended. */
  async function suspended(c: string): Promise<void> {
    await billing.world.activate(c, start);
    await billing.world.view(c, (v) => v.status === 'active');
    billing.proxy.answerNext((call) => call.method === 'POST' && call.path === `/v1/invoices/in_${c}_1/void`, 400, {
      error: { type: 'invalid_request_error', code: 'invoice_not_open', message: 'This invoice can no longer be voided: it is not open.' },
    });
    await billing.world.send(billing.world.invoice('invoice.payment_failed.next_payment_attempt_null', c, { id: `in_${c}_1`, ...p1, created: finalFailureAt }));
    expect(await billing.world.view(c, (v) => v.status === 'suspended')).toMatchObject({ status: 'suspended', accessActive: false });
    await until(async () => billing.proxy.callsTo('POST', `/v1/invoices/in_${c}_1/void`).length, (n) => n > 0);
    expect(billing.proxy.callsTo('POST', `/v1/invoices/in_${c}_1/void`).map((x) => x.status)).toContain(400);
  }

  const paymentsOf = async (c: string, invoice: string) =>
    ((await billing.world.b.api.get<{ data: Obj[] }>(`/v1/payments?customer_id=${c}&limit=100`)).body.data ?? []).filter((r) => r.payable?.id === invoice && r.status === 'succeeded');

  test('alive at Stripe: access is restored, nothing needs attention, one succeeded payment', async () => {
    const c = 'late-alive';
    await suspended(c);
    await billing.world.send(
      billing.world.subscription('customer.subscription.updated', c, finalFailureAt + 5, { status: 'active', ...p1 }),
      billing.world.invoice('invoice.paid', c, { id: `in_${c}_1`, ...p1, created: finalFailureAt + 10 }),
    );
    await billing.settle.settled();
    expect(await billing.world.view(c, (v) => v.status === 'active')).toMatchObject({ status: 'active', accessActive: true, needsAttention: [], currentPeriodEnd: isoOf(p1.periodEnd) });
    const rows = await until(() => paymentsOf(c, `in_${c}_1`), (r) => r.length > 0);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ amount: { amount: 2000, currency: 'USD' }, needsAttention: null });
  }, 60_000);

  test('canceled at Stripe: still suspended, the subscription and the payment row need a human', async () => {
    const c = 'late-dead';
    await suspended(c);
    await billing.world.send(
      billing.world.subscription('customer.subscription.deleted', c, finalFailureAt + 5, { ...p1 }),
      billing.world.invoice('invoice.paid', c, { id: `in_${c}_1`, ...p1, created: finalFailureAt + 10 }),
    );
    await billing.settle.settled();
    const view = await billing.world.view(c, (v) => Array.isArray(v.needsAttention) && v.needsAttention.length > 0);
    expect(view).toMatchObject({ status: 'suspended', accessActive: false, providerStatus: 'canceled', needsAttention: [{ kind: 'late_payment', providerInvoiceId: `in_${c}_1`, amount: { amount: 2000, currency: 'USD' } }] });
    const rows = await until(() => paymentsOf(c, `in_${c}_1`), (r) => r.length > 0 && r[0]!.needsAttention !== null);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.needsAttention).toMatch(/refund or reactivate/);
  }, 60_000);
});
