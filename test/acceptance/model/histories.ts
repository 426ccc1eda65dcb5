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
import { CURRENCIES, PAYPAL_CURRENCIES, maxIsoAmount, paypalIsoStep, type CurrencyRule } from './currencies';
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
