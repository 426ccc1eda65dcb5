/**
 * The subscription property (issue #14; first a named regression of issue #16, subscriptions
 * converge). Random multi-period lifecycles at Stripe, each played for two customers of a tenant
 * of its own (its plans in a currency of every exponent, up to Stripe's eight digits): one
 * customer gets Stripe's webhooks in order, the other shuffled, partly duplicated and four at a
 * time. The lifecycles (test/acceptance/model/subscriptions.ts, the reference model) mix
 * renewals paid at once, dunning (failed charges with Stripe's retries, then paid, or the final
 * failure after which Stripe cancels, marks unpaid or leaves past_due per the account's settings,
 * Settle suspends, cancels at Stripe and voids the invoice, and the customer may still pay it
 * late), portal cancellations at period end and immediately, past_due set by Stripe, and plan
 * changes through the API (same interval or monthly to yearly; Stripe accepts with a proration
 * invoice paid at once, or refuses). After every phase settles (the documented backlog metrics),
 * each customer's subscription (status, plan, access, period, cancellation, provider status,
 * pending change, needs attention), the tenant's payment rows (failed ones too, flagged or not)
 * and its finance totals must equal the model.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) behind a recording proxy (which answers the
 * plan change and the void of a paid invoice as Stripe does); signed platform webhooks built from
 * Stripe's published example objects.
 * 12 histories in `npm test` (ACCEPTANCE_RUNS overrides): 4 fixed ones (a final failure Stripe
 * cancels, paid late; both portal cancellations; past_due set by Stripe), then random ones of a
 * fixed seed; RELIABILITY_LONG=1 runs ACCEPTANCE_RUNS (default 500) with a random seed. A failure prints the history as lines of
 * Stripe facts and fast-check's "{ seed, path }": ACCEPTANCE_SEED=<seed> ACCEPTANCE_PATH=<path>
 * replays exactly that history.
 */
import fc from 'fast-check';
import type { StripeEvent } from '../../support/stripeEvents';
import { startSettle, until, type Settle } from '../driver/service';
import { stripeMockProxy, type StripeProxy } from '../driver/stripeProxy';
import { BillingWorld, addPlan, withPlans, type Obj } from '../driver/subscriptions';
import { newTenant } from '../driver/tenant';
import { CURRENCIES, currency, maxIsoAmount } from '../model/currencies';
import { canChangePlan, expectedMoney, expectedView, planChangeFacts, story, type Fact, type Lifecycle, type Prices, type Renewal, type Story } from '../model/subscriptions';

const LONG = process.env.RELIABILITY_LONG === '1';
const SEED = process.env.ACCEPTANCE_SEED ? Number(process.env.ACCEPTANCE_SEED) : LONG ? Date.now() : 20261207;
const RUNS = LONG ? Number(process.env.ACCEPTANCE_RUNS ?? 500) : Number(process.env.ACCEPTANCE_RUNS ?? 12);

interface History extends Lifecycle {
  readonly keys: readonly number[];
  readonly duplicated: readonly boolean[];
  /** what the tenant's monthly plan costs (every currency exponent, up to Stripe's eight digits) */
  readonly price: { amount: number; currency: string };
}

const priceArb = fc.constantFrom(...CURRENCIES).chain((c) =>
  fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: Math.floor(maxIsoAmount(c) / c.isoStep) - 100, max: Math.floor(maxIsoAmount(c) / c.isoStep) })).map((n) => ({ amount: n * c.isoStep, currency: c.code })),
);

const ongoing: fc.Arbitrary<Renewal> = fc.oneof(fc.constant({ kind: 'paid' as const }), fc.integer({ min: 2, max: 3 }).map((failures) => ({ kind: 'recovered' as const, failures })));
const final: fc.Arbitrary<Renewal> = fc.record({ kind: fc.constant('final' as const), failures: fc.integer({ min: 1, max: 3 }), setting: fc.constantFrom('cancel' as const, 'unpaid' as const, 'past_due' as const), late: fc.boolean() });

/** Plan changes need an active subscription in the current period, and prices whose yearly plan stays within Stripe's eight digits. */
const withPlanChange = (n: number) =>
  fc.record({
    renewals: fc.array(ongoing, { minLength: n, maxLength: n }),
    ending: fc.constant('none' as const),
    planChange: fc.record({ to: fc.constantFrom('plus' as const, 'yearly' as const), refused: fc.boolean() }),
    price: fc.constantFrom(...CURRENCIES).chain((c) => fc.integer({ min: 1, max: Math.floor(maxIsoAmount(c) / c.isoStep / 10) }).map((k) => ({ amount: k * c.isoStep, currency: c.code }))),
  });

const withoutPlanChange = (n: number) =>
  fc.record({
    renewals: fc.tuple(fc.array(ongoing, { minLength: n - 1, maxLength: n - 1 }), fc.oneof(ongoing, final)).map(([a, last]) => [...a, last]),
    ending: fc.constantFrom('none' as const, 'portal_cancel_at_period_end' as const, 'portal_cancel_now' as const, 'past_due_at_stripe' as const),
    planChange: fc.constant(null),
    price: priceArb,
  });

const historyArb: fc.Arbitrary<History> = fc.integer({ min: 1, max: 3 }).chain((n) =>
  fc.record({
    lifecycle: fc.oneof(withPlanChange(n), withoutPlanChange(n), withoutPlanChange(n)),
    keys: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 48, maxLength: 48 }),
    duplicated: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
  }).map(({ lifecycle, keys, duplicated }) => ({ ...lifecycle, keys, duplicated })),
);

/**
 * Stories `npm test` always plays besides its random ones (fast-check's `examples`), so the short
 * run covers what the seed might miss: Stripe's "cancel" setting, both portal cancellations, past_due
 * set by Stripe (the seed covers the other settings, late payments and the four kinds of plan change).
 */
const keysOf = (n: number) => Array.from({ length: 48 }, (_, i) => (i * 7919 + n * 104_729) % 1_000_003);
const EXAMPLES: History[] = [
  { renewals: [{ kind: 'recovered', failures: 2 }, { kind: 'final', failures: 3, setting: 'cancel', late: true }], ending: 'none', planChange: null, keys: keysOf(1), duplicated: keysOf(2).slice(0, 24).map((k) => k % 3 === 0), price: { amount: 99_999_990, currency: 'BHD' } },
  { renewals: [{ kind: 'paid' }], ending: 'portal_cancel_now', planChange: null, keys: keysOf(3), duplicated: keysOf(4).slice(0, 24).map((k) => k % 2 === 0), price: { amount: 999_999, currency: 'ISK' } },
  { renewals: [{ kind: 'recovered', failures: 3 }, { kind: 'paid' }], ending: 'portal_cancel_at_period_end', planChange: null, keys: keysOf(5), duplicated: keysOf(6).slice(0, 24).map((k) => k % 2 === 1), price: { amount: 1, currency: 'JPY' } },
  { renewals: [{ kind: 'paid' }, { kind: 'paid' }], ending: 'past_due_at_stripe', planChange: null, keys: keysOf(7), duplicated: keysOf(8).slice(0, 24).map((k) => k % 4 === 0), price: { amount: 99_999_999, currency: 'HUF' } },
];

/** The plans' prices: plus twice the monthly, yearly ten times (within Stripe's eight digits). */
function pricesOf(h: History): Prices {
  const c = currency(h.price.currency);
  const max = maxIsoAmount(c);
  const p = h.price.amount;
  return { currency: c.code, step: c.isoStep, amount: { monthly: p, plus: Math.min(2 * p, max), yearly: Math.min(10 * p, max) } };
}

/** The plan change this history can make: only on an active subscription, and only where the proration is a real charge (a zero invoice has no payment). */
function planChangeOf(h: History, prices: Prices): History['planChange'] {
  if (!h.planChange || !canChangePlan(h)) return null;
  if (10 * prices.amount.monthly > maxIsoAmount(currency(prices.currency))) return null;
  if (h.planChange.to === 'plus' && prices.amount.monthly < 100 * prices.step) return { ...h.planChange, to: 'yearly' };
  return h.planChange;
}

/** The deliveries as they arrive: shuffled by the history's keys, some delivered twice. */
function arrival(all: StripeEvent[], h: History): StripeEvent[] {
  const slots: Array<{ e: StripeEvent; key: number }> = [];
  all.forEach((e, i) => {
    slots.push({ e, key: h.keys[i % h.keys.length]! + i * 1e-6 });
    if (h.duplicated[i % h.duplicated.length]) slots.push({ e, key: h.keys[(i * 7 + 3) % h.keys.length]! + i * 1e-6 + 1e-9 });
  });
  return slots.sort((a, b) => a.key - b.key).map((s) => s.e);
}

const amountOf = (v: unknown): number => (typeof v === 'number' ? v : ((v as { amount?: number } | null)?.amount ?? 0));

const comparable = (v: Obj): Obj => ({
  planId: v.planId,
  status: v.status,
  accessActive: v.accessActive,
  currentPeriodStart: v.currentPeriodStart,
  currentPeriodEnd: v.currentPeriodEnd,
  cancelAtPeriodEnd: v.cancelAtPeriodEnd,
  providerStatus: v.providerStatus,
  pendingPlanChange: v.pendingPlanChange ?? null,
  needsAttention: ((v.needsAttention ?? []) as Obj[]).map((n) => (n.kind === 'late_payment' ? { kind: n.kind, providerInvoiceId: n.providerInvoiceId, amount: n.amount } : { kind: n.kind })),
});

/** A readable line per fact, for a failure report. */
const describe_ = (facts: readonly Fact[]) =>
  facts
    .map((f) => {
      const at = new Date(f.at * 1000).toISOString();
      if (f.kind === 'object') return `${at} ${f.type} ${f.status} ${f.planId} ${new Date(f.period.start * 1000).toISOString().slice(0, 10)}${f.cancelAtPeriodEnd ? ' cancel_at_period_end' : ''}${f.phase ? ` [${f.phase}]` : ''}`;
      if (f.kind === 'invoice_paid') return `${at} invoice.paid ${f.id} ${f.reason} ${f.amount}${f.phase ? ` [${f.phase}]` : ''}`;
      if (f.kind === 'invoice_failed') return `${at} invoice.payment_failed ${f.id} next ${f.nextAttempt === null ? 'null' : new Date(f.nextAttempt * 1000).toISOString()}`;
      return `${at} checkout.session.completed`;
    })
    .join('\n    ');

describe('subscriptions converge whatever the delivery order (PostgreSQL, in-process messaging, stripe-mock)', () => {
  let settle: Settle;
  let proxy: StripeProxy;
  beforeAll(async () => {
    proxy = stripeMockProxy();
    await proxy.start();
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process', env: { STRIPE_API_BASE: proxy.url } });
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await proxy?.stop();
  });

  test(`${RUNS} random lifecycles (renewals, dunning with retries and the final failure per the subscription's settings, late payment, plan changes accepted and refused, portal cancellations, past_due at Stripe), delivered shuffled, duplicated and concurrently, equal the model: subscription, payments, finance, needs attention`, async () => {
    let run = 0;
    const covered = new Map<string, number>();
    const count = (what: string) => covered.set(what, (covered.get(what) ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(historyArb, async (h) => {
        run += 1;
        // a tenant per history, its plans in the history's currency (the finance report is per tenant)
        const tenant = await newTenant(settle, `saas-converge-${Date.now().toString(36)}-${run}`);
        const prices = pricesOf(h);
        const billing = await withPlans(settle, tenant.id, tenant.api, h.price, prices.amount.yearly);
        await addPlan(billing, 'plus', 'month', prices.amount.plus);
        const world = new BillingWorld(billing);
        const planChange = planChangeOf(h, prices);
        for (const r of h.renewals) count(r.kind === 'final' ? `final failure (${r.setting}${r.late ? ', paid late' : ''})` : r.kind);
        if (h.renewals.at(-1)?.kind !== 'final') count(`ending ${h.ending}`);
        if (planChange) count(`plan change to ${planChange.to}${planChange.refused ? ' refused' : ''}`);
        const customers = [`h${run}-inorder`, `h${run}-shuffled`].map((c) => ({ c, s: story(c, h, prices), facts: [] as Fact[] }));
        const report = () => `history ${JSON.stringify({ ...h, keys: undefined, duplicated: undefined, planChange })}\n    ${describe_(customers[0]!.facts)}`;
        const deliver = async (phase: NonNullable<Fact['phase']>, pick: (s: Story) => Fact[]) => {
          await Promise.all(
            customers.map(async (x, i) => {
              const facts = pick(x.s).filter((f) => (f.phase ?? 'history') === phase);
              x.facts.push(...facts);
              const events = [...facts].sort((a, b) => a.at - b.at).map((f) => world.factEvent(x.c, f));
              if (i === 0) await world.send(...events);
              else await world.sendConcurrently(arrival(events, h), 4);
            }),
          );
          await settle.settled({ timeoutMs: 30_000 });
        };

        // Settle's void of the open invoice is refused when the customer pays it late (Stripe: only open invoices can be voided)
        for (const x of customers) {
          const late = h.renewals.at(-1);
          if (x.s.suspendedBy && late?.kind === 'final' && late.late) {
            proxy.answerNext((call) => call.method === 'POST' && call.path === `/v1/invoices/${x.s.suspendedBy}/void`, 400, {
              error: { type: 'invalid_request_error', code: 'invoice_not_open', message: 'You can only pass in open invoices. This invoice isn\'t open.' },
            });
          }
        }
        await deliver('history', (s) => s.facts);

        // after the final failure Settle cancels the subscription at Stripe and voids the invoice; Stripe's answers follow
        const last = h.renewals.at(-1);
        if (customers[0]!.s.suspendedBy && last?.kind === 'final') {
          // (when Stripe's settings canceled it already, Settle need not ask)
          const mustCancel = last.setting !== 'cancel';
          for (const x of customers) {
            const calls = await until(
              async () => [proxy.callsTo('DELETE', `/v1/subscriptions/sub_${x.c}`).length, proxy.callsTo('POST', `/v1/invoices/${x.s.suspendedBy}/void`).length],
              ([d, v]) => (d! > 0 || !mustCancel) && v! > 0,
              10_000,
            );
            expect({ customer: x.c, cancelled: calls[0]! > 0 || !mustCancel, voided: calls[1]! > 0 }).toEqual({ customer: x.c, cancelled: true, voided: true });
          }
          await deliver('after_settle_cancel', (s) => s.facts);
          await deliver('late_payment', (s) => s.facts);
        }

        // the tenant changes the plan through the API; Stripe accepts (proration invoice paid at once) or refuses
        if (planChange) {
          for (const x of customers) {
            const changeAt = Math.floor(Date.now() / 1000);
            const path = `/v1/subscriptions/sub_${x.c}`;
            const update = (call: { method: string; path: string }) => call.method === 'POST' && call.path === path;
            let accepted: ReturnType<typeof planChangeFacts> | null = null;
            if (planChange.refused) {
              proxy.answerNext(update, 400, { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'items[0][price]', message: `No such price: '${billing.price[planChange.to]}'` } });
            } else {
              accepted = planChangeFacts(x.s, planChange.to, changeAt, prices);
              proxy.answerNext(update, 200, world.acceptedChange(x.c, accepted.object, accepted.invoice));
            }
            await world.view(x.c, (v) => v.status === 'active', 5_000);
            const r = await tenant.api.post<Obj>(`/v1/customers/${x.c}/subscription/plan-change`, { planId: planChange.to });
            if (r.status >= 400 && !(planChange.refused && r.status === 422)) console.error(`${x.c}: plan change answered ${r.status} ${JSON.stringify(r.body)}; the subscription: ${JSON.stringify(await world.view(x.c))}\n  ${report()}`);
            if (planChange.refused) expect({ status: r.status, type: r.body.type }).toEqual({ status: 422, type: expect.stringContaining('provider-rejected') });
            else expect({ status: r.status, outcome: r.body.outcome }).toEqual({ status: expect.any(Number), outcome: 'captured' });
            if (accepted) x.s.facts.push({ ...accepted.invoice, phase: 'after_change' }, { ...accepted.object, phase: 'after_change' });
          }
          await deliver('after_change', (s) => s.facts);
        }

        for (const x of customers) {
          const want = expectedView(x.facts, prices);
          const same = (v: Obj) => JSON.stringify(comparable(v)) === JSON.stringify(want);
          const got = comparable(await world.view(x.c, same, 3_000));
          if (JSON.stringify(got) !== JSON.stringify(want)) console.error(`${x.c} differs\n  ${report()}`);
          expect({ customer: x.c, view: got }).toEqual({ customer: x.c, view: want });
        }

        // the money: one row per collected invoice and per failed charge, counted once in finance
        const money = expectedMoney(customers.map((x) => x.facts), prices.currency);
        const rows = ((await tenant.api.get<Obj>('/v1/payments?limit=100')).body.data as Obj[]).map((r) => ({
          providerPaymentId: r.providerPaymentId,
          status: r.status,
          amount: amountOf(r.amount),
          currency: (r.amount as Obj).currency,
          needsAttention: r.needsAttention !== null && r.needsAttention !== undefined,
        }));
        const key = (x: Obj) => JSON.stringify([x.providerPaymentId, x.status, x.amount, x.needsAttention]);
        const byKey = (x: Obj, y: Obj) => (key(x) < key(y) ? -1 : 1);
        if (JSON.stringify(rows.sort(byKey)) !== JSON.stringify([...money.payments].sort(byKey))) console.error(`payments differ\n  ${report()}`);
        expect(rows.sort(byKey)).toEqual([...money.payments].sort(byKey));
        const from = new Date((customers[0]!.s.period(0).start - 86_400) * 1000).toISOString().slice(0, 10);
        const to = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
        const finance = await until(async () => (await tenant.api.get<Obj>(`/v1/reports/finance?from=${from}&to=${to}`)).body, (r) => (r.totals as Obj[] | undefined)?.[0]?.succeededCount === money.finance.succeededCount, 10_000);
        expect(finance.totals).toEqual([expect.objectContaining(money.finance)]);
      }),
      // replay a failure exactly: ACCEPTANCE_SEED and ACCEPTANCE_PATH from its "{ seed, path }" line
      { seed: SEED, ...(process.env.ACCEPTANCE_PATH ? { path: process.env.ACCEPTANCE_PATH } : { examples: EXAMPLES.map((e) => [e] as [History]) }), numRuns: RUNS, endOnFailure: true, verbose: fc.VerbosityLevel.Verbose },
    );
    console.log(`subscriptionsConverge (seed ${SEED}, ${run} histories) covered: ${[...covered].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }, LONG ? 3_600_000 : 240_000);
});
