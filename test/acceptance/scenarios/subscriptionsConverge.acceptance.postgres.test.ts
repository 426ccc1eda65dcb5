/**
 * Named regression (issue #16, subscriptions converge): a subscription's state depended on the
 * order Stripe's webhooks arrived in. The last-applied invoice set the period (an old renewal
 * delivered late moved the period back), a stale Subscription object overwrote a newer one (a
 * portal cancellation or a past_due undone by an older `active`), and duplicates were applied
 * twice. Property: for random multi-period lifecycles with provider-side changes (a renewal
 * that went past_due and recovered, then a portal cancellation `cancel_at_period_end`, or a
 * final renewal left past_due), delivered shuffled, partly duplicated and concurrently, each on a
 * fresh customer of one long-lived service, GET /v1/customers/{id}/subscription equals (a) the
 * same lifecycle delivered in order and (b) what Stripe's objects say: the latest Subscription
 * object (by `created`, then period) decides status, period, cancellation and plan; and every
 * collected invoice is one succeeded payment row and counted once in the tenant's finance report
 * (the reference model is test/acceptance/model/subscriptions.ts). Each history has a tenant of
 * its own whose plan costs a random amount in a currency of every exponent (up to Stripe's eight
 * digits).
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) for the plans' prices; signed platform
 * webhooks built from Stripe's published example objects.
 * 50 histories with a fixed seed in `npm test`; RELIABILITY_LONG=1 runs ACCEPTANCE_RUNS (default
 * 500) with a random seed.
 */
import fc from 'fast-check';
import type { StripeEvent } from '../../support/stripeEvents';
import { startSettle, until, type Settle } from '../driver/service';
import { BillingWorld, withPlans, type Obj } from '../driver/subscriptions';
import { newTenant } from '../driver/tenant';
import { CURRENCIES, maxIsoAmount } from '../model/currencies';
import { expectedMoney, expectedView, paymentIntentOf, story, type Lifecycle, type Story } from '../model/subscriptions';

const LONG = process.env.RELIABILITY_LONG === '1';
const RUNS = LONG ? Number(process.env.ACCEPTANCE_RUNS ?? 500) : 50;

interface History extends Lifecycle {
  readonly keys: readonly number[];
  readonly duplicated: readonly boolean[];
  /** what the tenant's monthly plan costs (every currency exponent, up to Stripe's eight digits) */
  readonly price: { amount: number; currency: string };
}

const priceArb = fc.constantFrom(...CURRENCIES).chain((c) =>
  fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: Math.floor(maxIsoAmount(c) / c.isoStep) - 100, max: Math.floor(maxIsoAmount(c) / c.isoStep) })).map((n) => ({ amount: n * c.isoStep, currency: c.code })),
);

const historyArb: fc.Arbitrary<History> = fc.record({
  renewals: fc.integer({ min: 1, max: 3 }),
  recoveredRenewal: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  ending: fc.constantFrom('none' as const, 'portal_cancel' as const, 'past_due' as const),
  keys: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 48, maxLength: 48 }),
  duplicated: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
  price: priceArb,
});

/** Every webhook of the story, in the order Stripe created them. */
function events(world: BillingWorld, customerId: string, s: Story): StripeEvent[] {
  const timed: Array<{ at: number; e: StripeEvent }> = [{ at: s.period(0).start, e: world.checkoutCompleted(customerId, s.period(0).start) }];
  for (const o of s.objects) {
    const p = s.period(o.k);
    timed.push({
      at: o.created,
      e: world.subscription(o.type, customerId, o.created, { status: o.status, periodStart: p.start, periodEnd: p.end, cancelAtPeriodEnd: o.cancelAtPeriodEnd, cancelAt: o.cancelAtPeriodEnd ? p.end : null, canceledAt: o.cancelAtPeriodEnd ? o.created : null }),
    });
  }
  for (const paid of s.paid) {
    const p = s.period(paid.k);
    timed.push({
      at: paid.paidAt,
      e: world.invoice('invoice.paid', customerId, { id: `in_${customerId}_${paid.k}`, reason: paid.k === 0 ? 'subscription_create' : 'subscription_cycle', periodStart: p.start, periodEnd: p.end, created: paid.paidAt, paymentIntent: paymentIntentOf(customerId, paid.k) }),
    });
  }
  return timed.sort((a, b) => a.at - b.at).map((t) => t.e);
}

const comparable = (v: Obj): Obj => ({
  planId: v.planId,
  status: v.status,
  accessActive: v.accessActive,
  currentPeriodStart: v.currentPeriodStart,
  currentPeriodEnd: v.currentPeriodEnd,
  cancelAtPeriodEnd: v.cancelAtPeriodEnd,
  providerStatus: v.providerStatus,
});

/** The deliveries as they arrive: shuffled by the history's keys, some delivered twice. */
function arrival(all: StripeEvent[], l: History): StripeEvent[] {
  const slots: Array<{ e: StripeEvent; key: number }> = [];
  all.forEach((e, i) => {
    slots.push({ e, key: l.keys[i % l.keys.length]! + i * 1e-6 });
    if (l.duplicated[i % l.duplicated.length]) slots.push({ e, key: l.keys[(i * 7 + 3) % l.keys.length]! + i * 1e-6 + 1e-9 });
  });
  return slots.sort((a, b) => a.key - b.key).map((s) => s.e);
}

const amountOf = (v: unknown): number => (typeof v === 'number' ? v : ((v as { amount?: number } | null)?.amount ?? 0));

describe('subscriptions converge whatever the delivery order (PostgreSQL, in-process messaging, stripe-mock)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test(`${RUNS} random delivery orders of multi-period lifecycles with provider-side changes reach the in-order state and Stripe's latest object; every collected invoice is one payment and counted once in finance`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(historyArb, async (h) => {
        run += 1;
        // a tenant per history, its plans in the history's currency (the finance report is per tenant)
        const tenant = await newTenant(settle, `saas-converge-${Date.now().toString(36)}-${run}`);
        const world = new BillingWorld(await withPlans(settle, tenant.id, tenant.api, h.price, h.price.amount));
        const s = story(h);
        const inOrder = `h${run}-inorder`;
        const shuffled = `h${run}-shuffled`;
        await Promise.all([world.send(...events(world, inOrder, s)), world.sendConcurrently(arrival(events(world, shuffled, s), h), 4)]);
        await settle.settled({ timeoutMs: 30_000 });
        const want = expectedView(s, 'monthly');
        // the read model follows the settled service at once; a short wait only absorbs its own lag
        const same = (v: Obj) => JSON.stringify(comparable(v)) === JSON.stringify(want);
        const [a, b] = (await Promise.all([world.view(inOrder, same, 3_000), world.view(shuffled, same, 3_000)])).map(comparable);
        expect({ inOrder: a, shuffled: b }).toEqual({ inOrder: want, shuffled: want });

        // the money: one succeeded row per collected invoice, counted once in finance
        const money = expectedMoney([{ customerId: inOrder, story: s }, { customerId: shuffled, story: s }], h.price);
        const rows = ((await tenant.api.get<Obj>('/v1/payments?limit=100')).body.data as Obj[]).map((r) => ({ providerPaymentId: r.providerPaymentId, status: r.status, amount: amountOf(r.amount), currency: (r.amount as Obj).currency }));
        const byId = (x: { providerPaymentId: string }, y: { providerPaymentId: string }) => (x.providerPaymentId < y.providerPaymentId ? -1 : 1);
        expect(rows.sort(byId)).toEqual([...money.payments].sort(byId));
        const from = new Date((s.period(0).start - 86_400) * 1000).toISOString().slice(0, 10);
        const to = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
        const finance = await until(async () => (await tenant.api.get<Obj>(`/v1/reports/finance?from=${from}&to=${to}`)).body, (r) => (r.totals as Obj[] | undefined)?.[0]?.succeededCount === money.finance.succeededCount, 10_000);
        expect(finance.totals).toEqual([expect.objectContaining(money.finance)]);
      }),
      { seed: LONG ? Date.now() : 20261207, numRuns: RUNS, endOnFailure: true, verbose: 1 },
    );
  }, LONG ? 3_600_000 : 150_000);
});
