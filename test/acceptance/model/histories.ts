/**
 * Random realistic histories of invoice money (fast-check): several tenants (one id at the
 * 100-character maximum the API accepts), invoices in currencies of every exponent (JPY 0, ISK
 * with Stripe's x100 quirk, EUR/USD/HUF 2, KWD/BHD 3 with Stripe's last-digit-zero rule) with
 * totals from 1 up to Stripe's eight-digit limit, failed and succeeded payments (double payments
 * included, some through the legacy Charges API), invoices voided by the tenant before they are paid, partial and full refunds (several per charge), disputes won, lost or still open;
 * invoices payable by PayPal only (in the currencies PayPal takes, whole units where PayPal has no
 * decimals), paid through payment sessions whose captures complete or are declined, then
 * refunded at PayPal in parts or in full;
 * then delivery faults: every event possibly duplicated, the whole delivery shuffled, sent
 * several at a time.
 */
import fc from 'fast-check';
import { CURRENCIES, PAYPAL_CURRENCIES, currency, maxIsoAmount, paypalIsoStep, type CurrencyRule } from './currencies';
import { PipelineModel, depositOf, type BookingRequestFact, type BookingStep, type CrmPlan, type DepartureFact } from './bookings';
import type { ChargeFact, DisputeFact, InvoiceFact, MoneyFact, PayPalCaptureFact, PayPalRefundFact, RefundFact } from './invoices';

export interface TenantPlan {
  readonly id: string;
}

export interface History {
  readonly tenants: readonly TenantPlan[];
  readonly facts: readonly MoneyFact[];
  /** A sort key per delivery slot (shuffles the deliveries), and which ones are sent twice. */
  readonly shuffle: readonly number[];
  readonly duplicate: readonly boolean[];
  /** How many deliveries are in flight at once. */
  readonly concurrency: number;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const idChars = fc.constantFrom(...(ALNUM + '_-').split(''));
/** An API id (1-100 of [A-Za-z0-9_-]), often at the limit. */
export const apiId = (prefix: string) =>
  fc.oneof(
    fc.constant(100),
    fc.integer({ min: prefix.length + 1, max: 100 }),
  ).chain((len) => fc.array(idChars, { minLength: len - prefix.length, maxLength: len - prefix.length }).map((cs) => prefix + cs.join('')));

const amountIn = (c: CurrencyRule, step = c.isoStep) => {
  const max = maxIsoAmount(c);
  const steps = Math.floor(max / step);
  return fc.oneof({ arbitrary: fc.integer({ min: 1, max: Math.min(steps, 100_000) }), weight: 3 }, { arbitrary: fc.integer({ min: Math.max(1, steps - 1000), max: steps }), weight: 1 }).map((n) => n * step);
};

interface ChargePlan {
  outcome: 'succeeded' | 'failed';
  declineCode: string;
  /** failed attempts: a fraction of the total (wrong amounts are fine for a decline) */
  failedAmountPermille: number;
  refunds: number[]; // permille splits of the charge
  dispute: 'none' | 'open' | 'won' | 'lost';
  /** paid with the legacy Charges API (no PaymentIntent) */
  legacy: boolean;
}

const chargePlan: fc.Arbitrary<ChargePlan> = fc.record({
  outcome: fc.constantFrom<'succeeded' | 'failed'>('succeeded', 'failed'),
  declineCode: fc.constantFrom('insufficient_funds', 'expired_card', 'generic_decline', 'do_not_honor', 'stolen_card'),
  failedAmountPermille: fc.integer({ min: 1, max: 1000 }),
  refunds: fc.oneof({ arbitrary: fc.constant([] as number[]), weight: 2 }, { arbitrary: fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 3 }), weight: 2 }),
  dispute: fc.constantFrom<'none' | 'open' | 'won' | 'lost'>('none', 'none', 'open', 'won', 'lost'),
  legacy: fc.constantFrom(false, false, false, true),
});

const stripeInvoicePlan = fc.record({
  payable: fc.constantFrom<'invoice' | 'booking'>('invoice', 'booking'),
  /** an operator action: the tenant voids the invoice before any payment arrives (invoices only) */
  voided: fc.constantFrom(false, false, false, true),
  paypal: fc.constant(false),
  currency: fc.constantFrom(...CURRENCIES),
  charges: fc.array(chargePlan, { minLength: 0, maxLength: 3 }),
}).chain((p) => amountIn(p.currency).map((total) => ({ ...p, total })));

/**
 * An invoice only PayPal may pay: payment sessions one after another until a capture completes
 * (a declined capture leaves the invoice open; once paid, Settle opens no more sessions), with
 * the charge plan's outcome and refunds (no disputes: a PayPal dispute is not in the model yet).
 */
const paypalInvoicePlan = fc.record({
  payable: fc.constant<'invoice' | 'booking'>('invoice'),
  paypal: fc.constant(true),
  currency: fc.constantFrom(...PAYPAL_CURRENCIES),
  charges: fc.array(chargePlan, { minLength: 0, maxLength: 3 }),
}).chain((p) => amountIn(p.currency, paypalIsoStep(p.currency)).map((total) => ({ ...p, total })));

const invoicePlan = fc.oneof({ arbitrary: stripeInvoicePlan, weight: 3 }, { arbitrary: paypalInvoicePlan, weight: 1 });

/**
 * A whole history. `uniq` makes provider ids unique across the histories one service sees
 * (Stripe ids are globally unique).
 */
export function historyArb(uniq: () => string): fc.Arbitrary<History> {
  return fc
    .record({
      tenants: fc.uniqueArray(apiId('T'), { minLength: 1, maxLength: 3, selector: (s) => s.toLowerCase() }),
      invoices: fc.array(fc.tuple(fc.nat(), invoicePlan, apiId('C')), { minLength: 1, maxLength: 4 }),
      concurrency: fc.integer({ min: 1, max: 8 }),
      seedKeys: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }),
      dupes: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
    })
    .map((r) => {
      const tag = uniq();
      // ids stay at their length (the 100-character ones too) but are unique per history
      const tenants = r.tenants.map((id) => (id.length + tag.length <= 100 ? id + tag : id.slice(0, 100 - tag.length) + tag));
      const facts: MoneyFact[] = [];
      let clock = Math.floor(Date.now() / 1000) - 3600;
      let n = 0;
      r.invoices.forEach(([t, plan, customerId], i) => {
        const tenant = tenants[t % tenants.length]!;
        const voided = !plan.paypal && plan.voided && plan.payable === 'invoice';
        const inv: InvoiceFact = { kind: 'invoice', payable: plan.payable, key: `${plan.payable === 'booking' ? 'b' : plan.paypal ? 'p' : 'i'}${i}`, tenant, customerId, currency: plan.currency.code, total: plan.total, ...(plan.paypal ? { method: 'paypal' as const } : {}), ...(voided ? { voided: true } : {}) };
        facts.push(inv);
        if (plan.paypal) {
          const step = paypalIsoStep(plan.currency);
          for (const cp of plan.charges) {
            n += 1;
            clock += 7;
            const order = `pp_${tag}${n}`;
            const completed = cp.outcome === 'succeeded';
            facts.push({ kind: 'paypalCapture', invoiceKey: inv.key, order, amount: plan.total, currency: inv.currency, created: clock, outcome: completed ? 'completed' : 'denied' } satisfies PayPalCaptureFact);
            if (!completed) continue;
            // refunds: cumulative never above the capture (PayPal: 422 REFUND_AMOUNT_EXCEEDED)
            let left = plan.total;
            let k = 0;
            for (const permille of cp.refunds) {
              const amount = Math.min(left, Math.max(step, Math.floor((plan.total * permille) / 1000 / step) * step));
              if (amount <= 0) break;
              left -= amount;
              clock += 3;
              facts.push({ kind: 'paypalRefund', order, refund: `${order}_r${k++}`, amount, created: clock } satisfies PayPalRefundFact);
            }
            break; // paid: the invoice takes no further session
          }
          return;
        }
        let paid = false;
        for (const cp of plan.charges) {
          n += 1;
          clock += 7;
          const ids = { pi: `pi_${tag}${n}`, ch: `ch_${tag}${n}`, ...(cp.legacy ? { legacy: true } : {}) };
          if (cp.outcome === 'failed') {
            const step = plan.currency.isoStep;
            const amount = Math.max(step, Math.floor((plan.total * cp.failedAmountPermille) / 1000 / step) * step);
            facts.push({ kind: 'charge', invoiceKey: inv.key, ...ids, amount, currency: inv.currency, created: clock, outcome: 'failed', errorCode: 'card_declined', declineCode: cp.declineCode } satisfies ChargeFact);
            continue;
          }
          const charge: ChargeFact = { kind: 'charge', invoiceKey: inv.key, ...ids, amount: plan.total, currency: inv.currency, created: clock, outcome: 'succeeded' };
          facts.push(charge);
          const isPaying = !paid;
          paid = true;
          // refunds: cumulative never above the charge (Stripe refuses more)
          let left = charge.amount;
          let k = 0;
          for (const permille of cp.refunds) {
            const step = plan.currency.isoStep;
            const amount = Math.min(left, Math.max(step, Math.floor((charge.amount * permille) / 1000 / step) * step));
            if (amount <= 0) break;
            left -= amount;
            clock += 3;
            facts.push({ kind: 'refund', ch: charge.ch, re: `re_${tag}${n}_${k++}`, amount, created: clock } satisfies RefundFact);
          }
          // a dispute only on the paying charge and only when nothing was refunded (Stripe: a
          // disputed charge cannot be refunded; a refunded one is rarely disputed)
          if (isPaying && !voided && cp.dispute !== 'none' && k === 0) {
            clock += 5;
            facts.push({ kind: 'dispute', ch: charge.ch, dp: `dp_${tag}${n}`, amount: charge.amount, created: clock, outcome: cp.dispute, closed: cp.dispute === 'open' ? null : clock + 2 } satisfies DisputeFact);
            clock += 2;
          }
        }
      });
      return { tenants: tenants.map((id) => ({ id })), facts, shuffle: r.seedKeys, duplicate: r.dupes, concurrency: r.concurrency };
    });
}

/**
 * Random booking pipelines (model/bookings.ts): one tenant (id up to the API's 100 characters),
 * departures of 0-4 seats (some asking for inquiries first), bookings of 1-3 guests in every
 * currency exponent (deposits of a percent with the balance due at once or in 30 days, where the
 * currency has no Stripe step), each with its CRM behaviour (takes it, fails a few times, slow,
 * loses an answer, down or rejecting for whole rounds), and steps in a random order: requests,
 * payments (the price, the deposit, the balance, a wrong amount, declined), refunds and disputes
 * at Stripe, cancellations, capacity raises, inquiries switched off, operator CRM retries (single
 * and bulk) while the CRM is up or still down.
 */
export interface BookingHistory {
  readonly tenant: string;
  readonly departures: readonly DepartureFact[];
  readonly steps: readonly BookingStep[];
  /** CRM latency for the whole history (below the CRM timeout: "slow") */
  readonly crmLatencyMs: number;
  /** delivery faults per webhook step: send each event twice, shuffled, concurrently */
  readonly duplicate: readonly boolean[];
  readonly shuffle: readonly number[];
}

/** `CRM_MAX_ATTEMPTS` of the booking property's service. */
export const BOOKING_CRM_MAX_ATTEMPTS = 3;

const crmPlan: fc.Arbitrary<CrmPlan> = fc.oneof(
  { arbitrary: fc.constant<CrmPlan>({ kind: 'ok' }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('flaky' as const), failures: fc.integer({ min: 1, max: BOOKING_CRM_MAX_ATTEMPTS - 1 }), failure: fc.constantFrom<number | 'hang'>(503, 500, 429, 'hang') }), weight: 1 },
  { arbitrary: fc.constant<CrmPlan>({ kind: 'lostCreate' }), weight: 1 },
  { arbitrary: fc.constant<CrmPlan>({ kind: 'lostAssociate' }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('down' as const), rounds: fc.integer({ min: 1, max: 2 }), failure: fc.constantFrom<number | 'hang'>(503, 502, 429) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('reject' as const), rounds: fc.integer({ min: 1, max: 2 }), failure: fc.constantFrom(400, 422) }), weight: 1 },
);

type AbstractStep =
  | { op: 'pay'; b: number; part: 'full' | 'deposit' | 'balance' | 'wrong' | 'failed' }
  | { op: 'refund'; b: number; full: boolean; permille: number }
  | { op: 'dispute'; b: number; outcome: 'open' | 'won' | 'lost' }
  | { op: 'cancel'; b: number }
  | { op: 'raise'; d: number; by: number }
  | { op: 'inquiriesOff'; d: number }
  | { op: 'crmRetry'; b: number }
  | { op: 'bulkCrmRetry' };

const abstractStep: fc.Arbitrary<AbstractStep> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('pay' as const), b: fc.nat(), part: fc.constantFrom<'full' | 'deposit' | 'balance' | 'wrong' | 'failed'>('full', 'full', 'deposit', 'balance', 'wrong', 'failed') }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant('refund' as const), b: fc.nat(), full: fc.boolean(), permille: fc.integer({ min: 1, max: 999 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('dispute' as const), b: fc.nat(), outcome: fc.constantFrom<'open' | 'won' | 'lost'>('open', 'won', 'lost') }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('cancel' as const), b: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('raise' as const), d: fc.nat(), by: fc.integer({ min: 1, max: 3 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('inquiriesOff' as const), d: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('crmRetry' as const), b: fc.nat() }), weight: 1 },
  { arbitrary: fc.constant<AbstractStep>({ op: 'bulkCrmRetry' }), weight: 1 },
);

const bookingPlan = fc
  .record({
    d: fc.nat(),
    guests: fc.integer({ min: 1, max: 3 }),
    currency: fc.constantFrom(...CURRENCIES),
    schedule: fc.option(fc.record({ percent: fc.integer({ min: 1, max: 99 }), dueDays: fc.constantFrom(0, 30) }), { freq: 3 }),
    crm: crmPlan,
    /** where among the steps it is requested (a fraction: most bookings early, some later) */
    at: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 0, max: 100 }), weight: 3 }),
  })
  .chain((p) => amountIn(p.currency).map((price) => ({ ...p, price: p.schedule && p.currency.isoStep === 1 ? Math.max(100, price) : price, schedule: p.currency.isoStep === 1 ? p.schedule : null })));

export function bookingHistoryArb(uniq: () => string): fc.Arbitrary<BookingHistory> {
  return fc
    .record({
      tenant: apiId('T'),
      departures: fc.array(fc.record({ capacity: fc.integer({ min: 0, max: 4 }), inquireToBook: fc.constantFrom(false, false, false, true) }), { minLength: 1, maxLength: 2 }),
      bookings: fc.array(bookingPlan, { minLength: 1, maxLength: 5 }),
      steps: fc.array(abstractStep, { minLength: 3, maxLength: 14 }),
      crmLatencyMs: fc.constantFrom(0, 0, 150),
      duplicate: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
      shuffle: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 16, maxLength: 16 }),
    })
    .map((r) => {
      const tag = uniq();
      const tenant = r.tenant.length + tag.length <= 100 ? r.tenant + tag : r.tenant.slice(0, 100 - tag.length) + tag;
      const departures: DepartureFact[] = r.departures.map((d, i) => ({ key: `d${i}`, ...d }));
      const facts: BookingRequestFact[] = r.bookings.map((b, i) => ({
        key: `b${i}`,
        departure: departures[b.d % departures.length]!.key,
        guests: b.guests,
        currency: b.currency.code,
        price: b.price,
        schedule: b.schedule,
        // a CRM failing for whole rounds on a booking paid in two parts is left to a later model
        crm: b.schedule && (b.crm.kind === 'down' || b.crm.kind === 'reject') ? { kind: 'ok' } : b.crm,
      }));
      // requests are placed among the steps; a step naming a booking not requested yet is dropped
      const placed: Array<{ at: number; step: AbstractStep | { op: 'request'; b: number } }> = r.steps.map((s, i) => ({ at: i, step: s }));
      r.bookings.forEach((b, i) => placed.push({ at: (b.at / 100) * r.steps.length * 0.7 - 0.5 + i * 1e-3, step: { op: 'request', b: i } }));
      placed.sort((a, b) => a.at - b.at);
      // concrete steps: walk them through the model to aim refunds and disputes at real payments
      const model = new PipelineModel(departures, BOOKING_CRM_MAX_ATTEMPTS);
      const steps: BookingStep[] = [];
      const requested = new Set<number>();
      let n = 0;
      const push = (s: BookingStep) => {
        steps.push(s);
        model.apply(s);
      };
      for (const { step } of placed) {
        if (step.op === 'request') {
          requested.add(step.b);
          push({ kind: 'request', booking: facts[step.b]! });
          continue;
        }
        if (step.op === 'bulkCrmRetry') {
          push({ kind: 'bulkCrmRetry' });
          continue;
        }
        if (step.op === 'raise' || step.op === 'inquiriesOff') {
          const d = departures[step.d % departures.length]!.key;
          push(step.op === 'raise' ? { kind: 'raiseCapacity', departure: d, by: step.by } : { kind: 'inquiriesOff', departure: d });
          continue;
        }
        const bi = [...requested][step.b % Math.max(1, requested.size)];
        if (bi === undefined) continue;
        const f = facts[bi]!;
        const step1 = currency(f.currency).isoStep;
        if (step.op === 'cancel') push({ kind: 'cancel', booking: f.key });
        else if (step.op === 'crmRetry') push({ kind: 'crmRetry', booking: f.key });
        else if (step.op === 'pay') {
          n += 1;
          const deposit = f.schedule ? depositOf(f.price, f.schedule.percent) : null;
          const wrong = () => {
            const half = Math.floor(f.price / 2 / step1) * step1;
            if (half > 0 && half !== deposit && half !== f.price - (deposit ?? 0)) return half;
            return f.price + step1 <= maxIsoAmount(currency(f.currency)) ? f.price + step1 : f.price - step1;
          };
          const amount = step.part === 'deposit' && deposit !== null ? deposit : step.part === 'balance' && deposit !== null ? f.price - deposit : step.part === 'wrong' ? wrong() : f.price;
          if (amount <= 0) continue;
          push({ kind: 'pay', booking: f.key, pi: `pi_${tag}b${n}`, ch: `ch_${tag}b${n}`, amount, succeeded: step.part !== 'failed' });
        } else {
          // the latest succeeded payment of the booking that can still take it (Stripe: no refund
          // of a disputed charge, no refund beyond the charge, one dispute per charge)
          const pays = model.booking(f.key)!.payments.filter((p) => p.succeeded && p.dispute === null && p.refunded < p.amount);
          const p = step.op === 'dispute' ? pays.filter((x) => x.refunded === 0).pop() : pays.pop();
          if (!p) continue;
          n += 1;
          if (step.op === 'dispute') push({ kind: 'dispute', booking: f.key, pi: p.pi, ch: p.ch, dp: `dp_${tag}b${n}`, amount: p.amount, outcome: step.outcome });
          else {
            const left = p.amount - p.refunded;
            const amount = step.full ? left : Math.min(left, Math.max(step1, Math.floor((left * step.permille) / 1000 / step1) * step1));
            push({ kind: 'refund', booking: f.key, pi: p.pi, ch: p.ch, re: `re_${tag}b${n}`, amount });
          }
        }
      }
      return { tenant, departures, steps, crmLatencyMs: r.crmLatencyMs, duplicate: r.duplicate, shuffle: r.shuffle };
    });
}
