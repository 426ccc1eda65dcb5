/**
 * The reference model of invoice money: from what Stripe really did (provider facts) it says
 * what a user of Settle must see. Written from the providers' rules and Settle's public API
 * documentation (README, /openapi.json), without looking at or reusing the product's domain
 * code. Small on purpose: read it top to bottom.
 *
 * Stripe's rules the model relies on (Stripe API reference and docs):
 * - One PaymentIntent (`pi_`) produces a Charge (`ch_`); a succeeded charge moved `amount` from
 *   the payer, whatever the invoice it was meant for already had ("Payment Intents", "Charges").
 * - A charge made with the legacy Charges API (`POST /v1/charges`) has no PaymentIntent
 *   (`payment_intent: null`); Stripe sends only `charge.succeeded` / `charge.failed` for it, and its
 *   refunds and disputes name the charge alone ("Charges": "payment_intent ... nullable").
 *   Settle documents such a charge as the payment itself: its payment row is the `ch_` id.
 * - PayPal: Settle opens an order per payment session (`POST /v1/invoices/{id}/payment-sessions`
 *   {method: 'paypal'}) and captures it when PayPal reports the approval; the order is the
 *   payment (its payment row is the order id, `provider: 'paypal'`), its capture the charge; a
 *   declined capture is a failed attempt and the invoice stays open for another session.
 * - Refunds (`re_`) belong to one charge. `charge.refunded` carries the charge with its
 *   CUMULATIVE `amount_refunded` and the list of its refunds so far; events of one charge may
 *   arrive in any order, so the latest state is the largest cumulative total ("Refunds",
 *   "Event ordering": Stripe does not guarantee delivery order).
 * - A dispute (`dp_`) belongs to one charge; the disputed amount is withdrawn when it opens and
 *   given back if the dispute is `won`; `lost` keeps it withdrawn ("Disputes": statuses
 *   needs_response/under_review -> won | lost).
 * - A charge with an open dispute cannot be refunded ("Refunds": "You can't refund a disputed
 *   charge"), so histories never refund after a dispute opened.
 *
 * PayPal's rules the model relies on (PayPal REST API reference: Orders v2, Payments v2, Webhooks):
 * - A payer approves an Orders v2 order; the merchant then captures it (`POST
 *   /v2/checkout/orders/{id}/capture`). A capture is COMPLETED (money moved: the order's whole
 *   amount) or DECLINED (201 with the order COMPLETED and the capture DECLINED, "Orders v2":
 *   processor_response), and PayPal sends `PAYMENT.CAPTURE.COMPLETED` / `PAYMENT.CAPTURE.DENIED`.
 * - Refunds belong to one capture (`POST /v2/payments/captures/{id}/refund`), several partial ones
 *   allowed; their sum never exceeds the capture (422 REFUND_AMOUNT_EXCEEDED), each one sends
 *   `PAYMENT.CAPTURE.REFUNDED` ("Payments v2", "Webhook event names"). A declined capture cannot
 *   be refunded (REFUND_NOT_ALLOWED).
 * - PayPal does not guarantee webhook order and retries deliveries ("Webhooks": retries up to 25
 *   times over 3 days), so events come late, twice, and out of order.
 * - Currencies and decimals: see model/currencies.ts (no ISK/KWD/BHD; HUF and JPY whole units).
 *
 * Settle's documented rules (README; ARCHITECTURE.md "Money rules"; /openapi.json descriptions):
 * - An invoice is paid by the first succeeded payment of exactly its total and currency; any
 *   further succeeded payment for it is an overpayment that needs a human until it is refunded in
 *   full. "First" is by `created` here; Settle decides by arrival, so the histories deliver a
 *   second payment's events after the first's (driver/run.ts `deliveries`), as happens when a
 *   customer pays twice.
 * - An invoice the tenant voids (`POST /v1/invoices/{id}/void`) before any payment arrived is
 *   `void` for good: nothing pays it, so every succeeded payment that still arrives is an
 *   overpayment (needs a human until refunded in full); the provider's money is counted in
 *   finance as always.
 * - Refunds and disputes of the paying charge change the invoice: amountRefunded, amountDisputed
 *   (open disputes), collected = paid - refunded - lost; status `refunded` when refunded in full.
 *   A booking shows the same as status `requested` / `paid` / `refunded` and `refunded.amount`.
 * - Every attempt, failed ones too, is one row of `GET /v1/payments`, with its own refunded amount
 *   and status (`failed`, `succeeded`, `refunded` when refunded in full, `disputed` while a dispute
 *   is open or after it was lost).
 * - The finance report counts what the provider moved: every succeeded charge (gross), every
 *   refund, open disputes (`disputed`) and lost ones (`disputeLosses`); net = gross - refunds -
 *   disputeLosses - fees (no application fee in these histories).
 */

/**
 * Something a tenant bills through Settle: an invoice (`POST /v1/invoices`, paid on the tenant's
 * connected account) or a trip booking (`POST /v1/bookings`, paid on the platform account). Both
 * follow the same money rules; the booking's own view differs (below).
 */
export interface InvoiceFact {
  readonly kind: 'invoice';
  readonly payable: 'invoice' | 'booking';
  readonly key: string;
  readonly tenant: string;
  readonly customerId: string;
  readonly currency: string;
  /** ISO minor units. */
  readonly total: number;
  /** Voided by the tenant through the API right after it was issued, before any payment arrived. */
  readonly voided?: boolean;
  /** Payable by PayPal only (`allowedPaymentMethods: ['paypal']`); otherwise by Stripe. */
  readonly method?: 'paypal';
}

export interface ChargeFact {
  readonly kind: 'charge';
  readonly invoiceKey: string;
  readonly pi: string;
  readonly ch: string;
  /** ISO minor units. */
  readonly amount: number;
  readonly currency: string;
  /** Unix seconds, Stripe's `created`. */
  readonly created: number;
  readonly outcome: 'succeeded' | 'failed';
  /** Made with the legacy Charges API: no PaymentIntent, the charge is the payment. */
  readonly legacy?: boolean;
  readonly errorCode?: string;
  readonly declineCode?: string;
}

export interface RefundFact {
  readonly kind: 'refund';
  readonly ch: string;
  readonly re: string;
  readonly amount: number;
  readonly created: number;
}

export interface DisputeFact {
  readonly kind: 'dispute';
  readonly ch: string;
  readonly dp: string;
  readonly amount: number;
  readonly created: number;
  /** Where the dispute ended up (`open` = still under review when the history ends). */
  readonly outcome: 'open' | 'won' | 'lost';
  readonly closed: number | null;
}

/**
 * A PayPal order the payer approved and Settle captured. `order` is the history's name for it:
 * PayPal chooses the real order id (driver/paypalWorld.ts maps one to the other).
 */
export interface PayPalCaptureFact {
  readonly kind: 'paypalCapture';
  readonly invoiceKey: string;
  readonly order: string;
  /** ISO minor units: the order is always for the invoice's total. */
  readonly amount: number;
  readonly currency: string;
  readonly created: number;
  readonly outcome: 'completed' | 'denied';
}

/** A refund of a completed PayPal capture, made by the merchant at PayPal. */
export interface PayPalRefundFact {
  readonly kind: 'paypalRefund';
  readonly order: string;
  readonly refund: string;
  readonly amount: number;
  readonly created: number;
}

export type MoneyFact = InvoiceFact | ChargeFact | RefundFact | DisputeFact | PayPalCaptureFact | PayPalRefundFact;

export interface ExpectedInvoice {
  readonly payable: 'invoice' | 'booking';
  readonly tenant: string;
  readonly key: string;
  readonly currency: string;
  readonly total: number;
  readonly status: 'open' | 'paid' | 'refunded' | 'void';
  readonly amountPaid: number;
  readonly amountRefunded: number;
  readonly amountDisputed: number;
  readonly collected: number;
  readonly overpayments: number;
  readonly needsAttention: boolean;
}

export interface ExpectedPayment {
  readonly tenant: string;
  readonly invoiceKey: string;
  readonly provider: 'stripe' | 'paypal';
  /** For PayPal the history's order name (the driver knows PayPal's id). */
  readonly providerPaymentId: string;
  readonly status: 'failed' | 'succeeded' | 'refunded' | 'disputed';
  readonly amount: number;
  readonly currency: string;
  readonly refunded: number;
  readonly needsAttention: boolean;
}

export interface FinanceTotals {
  grossCollected: number;
  refunds: number;
  disputed: number;
  disputeLosses: number;
  net: number;
  succeededCount: number;
  failedCount: number;
}

export interface Expected {
  readonly invoices: ExpectedInvoice[];
  readonly payments: ExpectedPayment[];
  /** tenant -> currency -> totals (only currencies with at least one attempt). */
  readonly finance: Map<string, Map<string, FinanceTotals>>;
}

/** The id a payment row carries: the PaymentIntent, or the charge of a legacy Charges API payment. */
export const paymentIdOf = (c: ChargeFact): string => (c.legacy ? c.ch : c.pi);

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * One payment attempt at either provider, as the rules above treat it: `refundKey` names what its
 * refunds and disputes belong to (the Stripe charge, the PayPal order).
 */
interface Attempt {
  readonly provider: 'stripe' | 'paypal';
  readonly invoiceKey: string;
  readonly paymentId: string;
  readonly refundKey: string;
  readonly amount: number;
  readonly currency: string;
  readonly created: number;
  readonly succeeded: boolean;
}

export function expected(facts: readonly MoneyFact[]): Expected {
  const invoices = facts.filter((f): f is InvoiceFact => f.kind === 'invoice');
  const attempts: Attempt[] = facts.flatMap((f): Attempt[] => {
    if (f.kind === 'charge') return [{ provider: 'stripe', invoiceKey: f.invoiceKey, paymentId: paymentIdOf(f), refundKey: f.ch, amount: f.amount, currency: f.currency, created: f.created, succeeded: f.outcome === 'succeeded' }];
    if (f.kind === 'paypalCapture') return [{ provider: 'paypal', invoiceKey: f.invoiceKey, paymentId: f.order, refundKey: f.order, amount: f.amount, currency: f.currency, created: f.created, succeeded: f.outcome === 'completed' }];
    return [];
  });
  // PayPal refunds are per capture and cumulative like Stripe's: the capture's refunded amount is their sum
  const refundsOf = (key: string) => sum(facts.flatMap((f) => (f.kind === 'refund' && f.ch === key) || (f.kind === 'paypalRefund' && f.order === key) ? [f.amount] : []));
  const disputeOf = (ch: string) => facts.find((f): f is DisputeFact => f.kind === 'dispute' && f.ch === ch) ?? null;

  const outInvoices: ExpectedInvoice[] = [];
  const payments: ExpectedPayment[] = [];
  const finance = new Map<string, Map<string, FinanceTotals>>();
  const totalsFor = (tenant: string, cur: string): FinanceTotals => {
    const byCur = finance.get(tenant) ?? new Map<string, FinanceTotals>();
    finance.set(tenant, byCur);
    const t = byCur.get(cur) ?? { grossCollected: 0, refunds: 0, disputed: 0, disputeLosses: 0, net: 0, succeededCount: 0, failedCount: 0 };
    byCur.set(cur, t);
    return t;
  };

  for (const inv of invoices) {
    const mine = attempts.filter((c) => c.invoiceKey === inv.key).sort((a, b) => a.created - b.created || (a.refundKey < b.refundKey ? -1 : 1));
    const succeeded = mine.filter((c) => c.succeeded);
    const paying = inv.voided ? null : (succeeded.find((c) => c.amount === inv.total && c.currency === inv.currency) ?? null);
    const overpaid = succeeded.filter((c) => c !== paying);

    const refunded = paying ? refundsOf(paying.refundKey) : 0;
    const dispute = paying ? disputeOf(paying.refundKey) : null;
    const open = dispute?.outcome === 'open' ? dispute.amount : 0;
    const lost = dispute?.outcome === 'lost' ? dispute.amount : 0;
    const overpaymentOpen = overpaid.some((c) => refundsOf(c.refundKey) < c.amount);
    outInvoices.push({
      payable: inv.payable,
      tenant: inv.tenant,
      key: inv.key,
      currency: inv.currency,
      total: inv.total,
      status: inv.voided ? 'void' : !paying ? 'open' : refunded >= inv.total ? 'refunded' : 'paid',
      amountPaid: paying ? inv.total : 0,
      amountRefunded: refunded,
      amountDisputed: open,
      collected: paying ? inv.total - refunded - lost : 0,
      overpayments: overpaid.length,
      // a booking also needs a human while a dispute of its payment is open or after it was lost
      // (ARCHITECTURE.md, Money rules: "Booking disputes")
      needsAttention: overpaymentOpen || (inv.payable === 'booking' && dispute !== null && dispute.outcome !== 'won'),
    });

    for (const c of mine) {
      const t = totalsFor(inv.tenant, c.currency);
      if (!c.succeeded) {
        t.failedCount += 1;
        payments.push({ tenant: inv.tenant, invoiceKey: inv.key, provider: c.provider, providerPaymentId: c.paymentId, status: 'failed', amount: c.amount, currency: c.currency, refunded: 0, needsAttention: false });
        continue;
      }
      const r = refundsOf(c.refundKey);
      const d = disputeOf(c.refundKey);
      t.succeededCount += 1;
      t.grossCollected += c.amount;
      t.refunds += r;
      if (d?.outcome === 'open') t.disputed += d.amount;
      if (d?.outcome === 'lost') t.disputeLosses += d.amount;
      const status = d && d.outcome !== 'won' ? 'disputed' : r >= c.amount ? 'refunded' : 'succeeded';
      payments.push({ tenant: inv.tenant, invoiceKey: inv.key, provider: c.provider, providerPaymentId: c.paymentId, status, amount: c.amount, currency: c.currency, refunded: r, needsAttention: c !== paying && r < c.amount });
    }
  }
  for (const byCur of finance.values()) for (const t of byCur.values()) t.net = t.grossCollected - t.refunds - t.disputeLosses;
  return { invoices: outInvoices, payments, finance };
}
