/**
 * The Stripe webhook mapping (pure translation of provider objects into commands) for amounts:
 * what Stripe sends in its own minor units is recorded in ISO minor units, for every amount field.
 */
import { stripeEvent } from '../../test/support/stripeEvents';
import type { RefResolver, Step } from './steps';
import { invoiceLinePeriods, invoiceLinePrices, translateStripeEvent } from './stripe';

const noRefs: RefResolver = { lookup: async () => null };
const meta = { tenant_id: 'acme', invoice_id: 'inv_1' };

async function stepsOf(file: string, mutate: Parameters<typeof stripeEvent>[1]): Promise<Step[]> {
  const t = await translateStripeEvent(stripeEvent(file, mutate) as never, noRefs);
  if (t.outcome !== 'steps') throw new Error(`expected steps, got ${t.outcome}`);
  // commands only (a payment also teaches the reference resolver its ids: 'learn' steps)
  return t.steps.filter((s) => 'command' in s);
}
const amountOf = (s: Step | undefined) => (s as unknown as { command: { data: { amount: { amount: number; currency: string } } } }).command.data.amount;

describe('Stripe amounts are recorded in ISO minor units', () => {
  test('a payment in ISK (Stripe: hundredths of a króna) is recorded in whole krónur, with its application fee', async () => {
    const [step] = await stepsOf('payment_intent.succeeded', (o) => Object.assign(o, { metadata: meta, currency: 'isk', amount: 1_250_000, amount_received: 1_250_000, application_fee_amount: 25_000 }));
    expect(amountOf(step)).toEqual({ amount: 12_500, currency: 'ISK' });
    expect((step as unknown as { command: { data: { applicationFeeAmount: number } } }).command.data.applicationFeeAmount).toBe(250);
  });

  test('a payment in MGA (Stripe: whole ariary) is recorded in hundredths', async () => {
    const [step] = await stepsOf('payment_intent.succeeded', (o) => Object.assign(o, { metadata: meta, currency: 'mga', amount: 40_000, amount_received: 40_000 }));
    expect(amountOf(step)).toEqual({ amount: 4_000_000, currency: 'MGA' });
  });

  test('an ISK amount that is not whole krónur is not an amount (the domain refuses it; nothing is rounded)', async () => {
    const [step] = await stepsOf('payment_intent.succeeded', (o) => Object.assign(o, { metadata: meta, currency: 'isk', amount: 1_250_050, amount_received: 1_250_050 }));
    expect(amountOf(step).amount).toBeNaN();
  });

  test('refunds and disputes convert too; EUR passes through unchanged', async () => {
    const refunds = await stepsOf('charge.refunded', (o) => {
      Object.assign(o, { metadata: meta, currency: 'isk', amount: 500_000, amount_captured: 500_000, amount_refunded: 100_000 });
      o.refunds = { object: 'list', data: [{ id: 're_1', object: 'refund', amount: 100_000, currency: 'isk', status: 'succeeded', reason: null }] };
    });
    const refund = refunds.find((s) => (s as unknown as { command: { type: string } }).command.type === 'RecordRefund');
    expect(amountOf(refund)).toEqual({ amount: 1_000, currency: 'ISK' });
    const [dispute] = await stepsOf('charge.dispute.created', (o) => Object.assign(o, { metadata: meta, currency: 'eur', amount: 3_500 }));
    expect(amountOf(dispute)).toEqual({ amount: 3_500, currency: 'EUR' });
  });
});

describe('both Stripe API shapes of subscription invoices are read (STRIPE_API_VERSION may be older or newer than the webhook endpoint)', () => {
  const refs: RefResolver = { lookup: async (_p, ref) => (ref === 'sub_1' ? { tenantId: 'acme', targetType: 'subscription', targetId: 'cust-1' } : null) };
  const translate = async (mutate: Parameters<typeof stripeEvent>[1]) => {
    const t = await translateStripeEvent(stripeEvent('invoice.paid', mutate) as never, refs);
    if (t.outcome !== 'steps') throw new Error(`expected steps, got ${t.outcome}`);
    return t.steps;
  };

  test('basil and later: parent.subscription_details.subscription and lines[].pricing.price_details.price', async () => {
    const steps = await translate((o) => {
      Object.assign(o, { billing_reason: 'subscription_update', subscription: undefined });
      o.parent = { type: 'subscription_details', subscription_details: { subscription: 'sub_1', metadata: {} } };
      o.lines.data = [{ ...o.lines.data[0], price: undefined, pricing: { type: 'price_details', price_details: { price: 'price_new', product: 'prod_1' } } }];
    });
    expect(steps.find((s) => s.kind === 'plan_change_outcome')).toMatchObject({ tenantId: 'acme', customerId: 'cust-1', outcome: 'captured', linePriceIds: ['price_new'] });
  });

  test('before basil: invoice.subscription and lines[].price (an object or an id)', async () => {
    const steps = await translate((o) => {
      Object.assign(o, { billing_reason: 'subscription_update', subscription: 'sub_1', parent: null });
      o.lines.data = [
        { ...o.lines.data[0], pricing: undefined, price: { id: 'price_old', object: 'price' } },
        { ...o.lines.data[0], pricing: undefined, price: 'price_new' },
      ];
    });
    expect(steps.find((s) => s.kind === 'plan_change_outcome')).toMatchObject({ tenantId: 'acme', customerId: 'cust-1', linePriceIds: ['price_old', 'price_new'] });
    expect(invoiceLinePrices({ lines: { data: [{ plan: { id: 'price_legacy_plan' } }] } })).toEqual(['price_legacy_plan']);
  });

  test("a plan change's invoice gives the new price's line period (the period Stripe restarted), skipping the old price's credit", () => {
    const lines = {
      data: [
        { amount: -1450, period: { start: 1_796_083_200, end: 1_797_379_200 }, pricing: { price_details: { price: 'price_month' } } },
        { amount: 29000, period: { start: 1_796_083_200, end: 1_827_619_200 }, pricing: { price_details: { price: 'price_year' } } },
      ],
    };
    expect(invoiceLinePeriods({ lines })).toEqual({ price_year: { start: '2026-12-01T00:00:00.000Z', end: '2027-12-01T00:00:00.000Z' } });
  });

  test('customer.subscription.updated becomes a provider object step: status, price, plan hints, cancellation, event time', async () => {
    const e = stripeEvent('customer.subscription.updated', (o, ev) => {
      ev.created = 1785859200;
      Object.assign(o, { id: 'sub_1', metadata: { tenant_id: 'acme', customer_id: 'cust-1', plan_id: 'basic' }, status: 'past_due' });
      o.items.data[0].price = { ...o.items.data[0].price, id: 'price_pro', metadata: { plan_id: 'pro' } };
    });
    const t = await translateStripeEvent(e as never, refs);
    if (t.outcome !== 'steps') throw new Error(t.outcome);
    expect(t.steps.find((s) => s.kind === 'subscription_snapshot')).toMatchObject({
      customerId: 'cust-1',
      planHints: ['pro', 'basic'],
      snapshot: { providerSubscriptionId: 'sub_1', providerStatus: 'past_due', priceId: 'price_pro', cancelAtPeriodEnd: true, cancelAt: '2026-09-01T16:00:00.000Z', observedAt: '2026-08-04T16:00:00.000Z', eventRank: 1 },
    });
  });
});
