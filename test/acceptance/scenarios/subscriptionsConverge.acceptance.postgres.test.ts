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
 * object (by `created`, then period) decides status, period, cancellation and plan.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) for the plans' prices; signed platform
 * webhooks built from Stripe's published example objects.
 * 50 histories with a fixed seed in `npm test`; RELIABILITY_LONG=1 runs ACCEPTANCE_RUNS (default
 * 500) with a random seed.
 */
import fc from 'fast-check';
import type { StripeEvent } from '../../support/stripeEvents';
import { startSettle, type Settle } from '../driver/service';
import { BillingWorld, DAY, MONTH, isoOf, withPlans, type Obj } from '../driver/subscriptions';
import { newTenant } from '../driver/tenant';

const LONG = process.env.RELIABILITY_LONG === '1';
const RUNS = LONG ? Number(process.env.ACCEPTANCE_RUNS ?? 500) : 50;

interface Lifecycle {
  readonly renewals: number;
  /** A renewal (1..renewals) whose first charge failed: past_due, then paid, then active again. */
  readonly recoveredRenewal: number | null;
  /** How it ends at Stripe: nothing more, a cancellation in the customer portal, or the last renewal left past_due (unpaid invoice). */
  readonly ending: 'none' | 'portal_cancel' | 'past_due';
  readonly keys: readonly number[];
  readonly duplicated: readonly boolean[];
}

const lifecycleArb: fc.Arbitrary<Lifecycle> = fc.record({
  renewals: fc.integer({ min: 1, max: 3 }),
  recoveredRenewal: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  ending: fc.constantFrom('none' as const, 'portal_cancel' as const, 'past_due' as const),
  keys: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 48, maxLength: 48 }),
  duplicated: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
});

/** A Subscription object Stripe holds at `created` (what the events carry). */
interface SubObject {
  readonly created: number;
  readonly type: 'customer.subscription.created' | 'customer.subscription.updated';
  readonly status: 'active' | 'past_due';
  readonly k: number;
  readonly cancelAtPeriodEnd: boolean;
}

interface Story {
  readonly objects: SubObject[];
  readonly paidPeriods: number[];
  readonly period: (k: number) => { start: number; end: number };
}

/** What Stripe did, as objects and paid invoices; the timeline ends in the present (the last period contains now). */
function story(l: Lifecycle): Story {
  const today = Math.floor(Date.now() / 1000 / DAY) * DAY;
  const t0 = today - l.renewals * MONTH - 5 * DAY;
  const period = (k: number) => ({ start: t0 + k * MONTH, end: t0 + (k + 1) * MONTH });
  const objects: SubObject[] = [{ created: t0 + 1, type: 'customer.subscription.created', status: 'active', k: 0, cancelAtPeriodEnd: false }];
  const paidPeriods = [0];
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
    paidPeriods.push(k);
  }
  if (l.ending === 'portal_cancel') objects.push({ created: period(l.renewals).start + 2 * DAY, type: 'customer.subscription.updated', status: 'active', k: l.renewals, cancelAtPeriodEnd: true });
  return { objects, paidPeriods, period };
}

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
  for (const k of s.paidPeriods) {
    const p = s.period(k);
    const created = k === 0 ? p.start + 2 : p.start + 3600;
    timed.push({ at: created, e: world.invoice('invoice.paid', customerId, { id: `in_${customerId}_${k}`, reason: k === 0 ? 'subscription_create' : 'subscription_cycle', periodStart: p.start, periodEnd: p.end, created }) });
  }
  return timed.sort((a, b) => a.at - b.at).map((t) => t.e);
}

/** The independent expectation: the latest Subscription object (created, then period) decides. */
function expectedView(s: Story): Obj {
  const latest = [...s.objects].sort((a, b) => a.created - b.created || a.k - b.k).at(-1)!;
  const p = s.period(latest.k);
  return {
    planId: 'monthly',
    status: latest.status === 'past_due' ? 'past_due' : latest.cancelAtPeriodEnd ? 'cancellation_scheduled' : 'active',
    accessActive: true,
    currentPeriodStart: isoOf(p.start),
    currentPeriodEnd: isoOf(p.end),
    cancelAtPeriodEnd: latest.cancelAtPeriodEnd,
    providerStatus: latest.status,
  };
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
function arrival(all: StripeEvent[], l: Lifecycle): StripeEvent[] {
  const slots: Array<{ e: StripeEvent; key: number }> = [];
  all.forEach((e, i) => {
    slots.push({ e, key: l.keys[i % l.keys.length]! + i * 1e-6 });
    if (l.duplicated[i % l.duplicated.length]) slots.push({ e, key: l.keys[(i * 7 + 3) % l.keys.length]! + i * 1e-6 + 1e-9 });
  });
  return slots.sort((a, b) => a.key - b.key).map((s) => s.e);
}

describe('subscriptions converge whatever the delivery order (PostgreSQL, in-process messaging, stripe-mock)', () => {
  let settle: Settle;
  let world: BillingWorld;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
    const tenant = await newTenant(settle, `saas-converge`);
    world = new BillingWorld(await withPlans(settle, tenant.id, tenant.api));
  }, 90_000);
  afterAll(async () => settle?.stop());

  test(`${RUNS} random delivery orders of multi-period lifecycles with provider-side changes reach the in-order state and Stripe's latest object`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(lifecycleArb, async (l) => {
        run += 1;
        const s = story(l);
        const inOrder = `h${run}-inorder`;
        const shuffled = `h${run}-shuffled`;
        await Promise.all([world.send(...events(world, inOrder, s)), world.sendConcurrently(arrival(events(world, shuffled, s), l), 4)]);
        await settle.settled({ timeoutMs: 30_000 });
        const want = expectedView(s);
        // the read model follows the settled service at once; a short wait only absorbs its own lag
        const same = (v: Obj) => JSON.stringify(comparable(v)) === JSON.stringify(want);
        const [a, b] = (await Promise.all([world.view(inOrder, same, 3_000), world.view(shuffled, same, 3_000)])).map(comparable);
        expect({ inOrder: a, shuffled: b }).toEqual({ inOrder: want, shuffled: want });
      }),
      { seed: LONG ? Date.now() : 20261207, numRuns: RUNS, endOnFailure: true, verbose: 1 },
    );
  }, LONG ? 3_600_000 : 150_000);
});
