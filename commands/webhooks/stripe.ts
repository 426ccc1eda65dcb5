/**
 * Stripe event -> steps, one handler per event family (payment intents, charges, refunds,
 * disputes, checkout sessions, subscriptions, invoices, connected accounts) over the SDK's own
 * types (`Stripe.PaymentIntent`, `Stripe.Invoice`, ...), narrowed by `event.type`. The types Settle
 * handles are the keys of `HANDLERS`; nothing else lists them.
 *
 * Objects Settle creates carry metadata `tenant_id` plus `invoice_id`, `booking_id` or
 * `customer_id`; objects without it (subscription invoices, charges, disputes, refunds) are
 * resolved through what earlier events taught (provider_refs): the subscription, the customer,
 * the payment intent or the charge. An event whose target is not known yet is parked, never
 * dropped.
 *
 * A delivered payload is verified by its signature, not by its shape: every field is still read
 * defensively (an amount that is not an integer becomes NaN, which the domain refuses; a missing
 * list is empty), exactly as Stripe's types would not promise for an older API version.
 */
import type Stripe from 'stripe';
import { fromStripeAmount } from '../../domain/shared/providerUnits';
import type { RefResolver, Step, Translation } from './steps';

/** A Stripe event as delivered (or synthesised by reconciliation); its `data.object` is typed once its type is known to be handled. */
export interface StripeEventEnvelope {
  readonly id: string;
  readonly type: string;
  readonly account?: string | null;
  readonly created: number;
  readonly livemode: boolean;
  readonly data: { readonly object: Readonly<Record<string, unknown>> };
}

// ---------------------------------------------------------------------------------------------
// Shapes of API versions before 2025-03-31.basil that the SDK's current types no longer list.
// Both shapes are read: STRIPE_API_VERSION may be older or newer than the webhook endpoint's.

type Expandable<T> = string | T | null | undefined;
type PreBasilInvoice = Stripe.Invoice & {
  subscription?: Expandable<Stripe.Subscription>;
  subscription_details?: { metadata?: Stripe.Metadata | null } | null;
  charge?: Expandable<Stripe.Charge>;
  payment_intent?: Expandable<Stripe.PaymentIntent>;
};
/** A line as a webhook of any API version may carry it: `period` and `amount` are not promised by the JSON. */
type PreBasilLine = Omit<Stripe.InvoiceLineItem, 'period' | 'amount'> & {
  price?: Expandable<Stripe.Price>;
  plan?: Expandable<Stripe.Plan>;
  period?: Partial<Stripe.InvoiceLineItem.Period> | null;
  amount?: number | null;
};
type PreBasilSubscription = Stripe.Subscription & { current_period_start?: number; current_period_end?: number };
/** The Invoice Payments list's entry as far as it is read (`payment.payment_intent`). */
type InvoicePaymentEntry = { payment?: { payment_intent?: Expandable<Stripe.PaymentIntent> } | null };

// ---------------------------------------------------------------------------------------------
// Reading values

const iso = (sec: unknown): string => new Date(Number(sec) * 1000).toISOString();
/** Stripe amounts are JSON integers of minor units; anything else (a string, a float) is NaN, which the domain refuses. */
const minor = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) ? v : Number.NaN);
const cur = (c: unknown): string => (typeof c === 'string' ? c.toUpperCase() : '');
/**
 * A Stripe amount in the object's currency -> ISO minor units (ISK and MGA count differently at
 * Stripe: domain/shared/providerUnits.ts); NaN when it is not an exact amount, which the domain refuses.
 */
const units = (v: unknown, currency: unknown): number => fromStripeAmount(minor(v), cur(currency));
/** The id of an expandable field: the id itself, or the expanded object's id. */
const idOf = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && 'id' in v && typeof v.id === 'string' ? v.id : null);
/** An expandable field when it was expanded (an object), else null. */
const expanded = <T extends object>(v: Expandable<T> | T): T | null => (v && typeof v === 'object' ? v : null);
const meta = (o: { metadata?: unknown } | null | undefined): Record<string, string | undefined> =>
  o && typeof o.metadata === 'object' && o.metadata ? (o.metadata as Record<string, string | undefined>) : {};
const list = <T>(l: { data?: unknown } | null | undefined): T[] => (Array.isArray(l?.data) ? (l.data as T[]) : []);
const SAFE_ID = /^[A-Za-z0-9_-]{1,100}$/;
const ok = (v: unknown): v is string => typeof v === 'string' && SAFE_ID.test(v);

// ---------------------------------------------------------------------------------------------
// Targets: the aggregate a provider object belongs to

type PaymentTarget = { type: 'invoice'; tenantId: string; invoiceId: string } | { type: 'booking'; tenantId: string; bookingId: string };
type Metadatad = { metadata?: unknown } | null | undefined;

/** The invoice or booking a payment object belongs to. */
async function paymentTarget(refs: RefResolver, objects: Metadatad[], keys: Array<string | null>): Promise<PaymentTarget | null> {
  for (const o of objects) {
    const m = meta(o);
    if (ok(m.tenant_id) && ok(m.invoice_id)) return { type: 'invoice', tenantId: m.tenant_id, invoiceId: m.invoice_id };
    if (ok(m.tenant_id) && ok(m.booking_id)) return { type: 'booking', tenantId: m.tenant_id, bookingId: m.booking_id };
  }
  for (const k of keys) {
    if (!k) continue;
    const r = await refs.lookup('stripe', k);
    if (r?.targetType === 'invoice') return { type: 'invoice', tenantId: r.tenantId, invoiceId: r.targetId };
    if (r?.targetType === 'booking') return { type: 'booking', tenantId: r.tenantId, bookingId: r.targetId };
  }
  return null;
}

/** The customer (subscription stream) a subscription-side object belongs to. */
async function customerTarget(refs: RefResolver, objects: Metadatad[], keys: Array<string | null>): Promise<{ tenantId: string; customerId: string } | null> {
  for (const o of objects) {
    const m = meta(o);
    if (ok(m.tenant_id) && ok(m.customer_id)) return { tenantId: m.tenant_id, customerId: m.customer_id };
  }
  for (const k of keys) {
    if (!k) continue;
    const r = await refs.lookup('stripe', k);
    if (r && (r.targetType === 'customer' || r.targetType === 'subscription')) return { tenantId: r.tenantId, customerId: r.targetId };
  }
  return null;
}

function learnPayment(t: PaymentTarget, refsToLearn: Array<string | null>): Step[] {
  return refsToLearn
    .filter((r): r is string => !!r)
    .map((ref) => ({ kind: 'learn', provider: 'stripe', ref, tenantId: t.tenantId, targetType: t.type, targetId: t.type === 'invoice' ? t.invoiceId : t.bookingId }));
}

// ---------------------------------------------------------------------------------------------
// Step builders shared by the families

interface Attempt {
  attemptId: string;
  providerPaymentId: string;
  providerChargeId: string | null;
  amount: number;
  currency: string;
  outcome: 'succeeded' | 'failed' | 'requires_action' | 'processing';
  errorCode: string | null;
  declineCode: string | null;
  message: string | null;
  occurredAt: string;
  receiptUrl?: string | null;
  card?: { brand?: unknown; last4?: unknown } | null;
  applicationFeeAmount?: number | null;
}

type CardLike = { brand?: unknown; last4?: unknown } | null | undefined;

/** Receipt and card brand/last4 only, from whatever the object carries (never more card data). */
function paymentExtras(o: Stripe.PaymentIntent | Stripe.Charge): { receiptUrl: string | null; card: { brand: unknown; last4: unknown } | null } {
  const pi: Partial<Stripe.PaymentIntent> = o.object === 'charge' ? {} : o;
  const charge: Stripe.Charge | null = expanded(pi.latest_charge) ?? (o.object === 'charge' ? o : null);
  const card: CardLike = charge?.payment_method_details?.card ?? pi.last_payment_error?.payment_method?.card ?? (typeof pi.payment_method === 'object' ? pi.payment_method?.card : null) ?? null;
  return { receiptUrl: typeof charge?.receipt_url === 'string' ? charge.receipt_url : null, card: card ? { brand: card.brand, last4: card.last4 } : null };
}

function attemptSteps(t: PaymentTarget, a: Attempt, role: string): Step[] {
  const money = { amount: a.amount, currency: a.currency };
  if (t.type === 'invoice') {
    return [
      {
        kind: 'invoice',
        role,
        tenantId: t.tenantId,
        invoiceId: t.invoiceId,
        command: {
          type: 'RecordPaymentAttempt',
          data: {
            attemptId: a.attemptId,
            provider: 'stripe',
            providerPaymentId: a.providerPaymentId,
            providerChargeId: a.providerChargeId,
            amount: money,
            outcome: a.outcome,
            errorCode: a.errorCode,
            declineCode: a.declineCode,
            message: a.message,
            occurredAt: a.occurredAt,
            actor: { kind: 'provider', id: role.split('#', 1).join('') },
            receiptUrl: a.receiptUrl ?? null,
            card: a.card ?? null,
            applicationFeeAmount: a.applicationFeeAmount ?? null,
          },
        },
      },
    ];
  }
  const more = {
    ...(a.receiptUrl ? { receiptUrl: a.receiptUrl } : {}),
    ...(a.card && typeof a.card.brand === 'string' && typeof a.card.last4 === 'string' ? { card: { brand: a.card.brand, last4: a.card.last4 } } : {}),
  };
  if (a.outcome === 'succeeded') {
    return [{ kind: 'booking', role, tenantId: t.tenantId, bookingId: t.bookingId, command: { type: 'RecordPaymentCompleted', data: { provider: 'stripe', providerPaymentId: a.providerPaymentId, providerChargeId: a.providerChargeId, amount: money, ...more } } }];
  }
  if (a.outcome === 'failed') {
    return [
      {
        kind: 'booking',
        role,
        tenantId: t.tenantId,
        bookingId: t.bookingId,
        command: { type: 'RecordPaymentFailed', data: { attemptId: a.attemptId, provider: 'stripe', providerPaymentId: a.providerPaymentId, amount: money, errorCode: a.errorCode, declineCode: a.declineCode, message: a.message, ...more } },
      },
    ];
  }
  return []; // a booking has no pending state: the final outcome will follow
}

/** A refund as far as the translation reads it: its currency may be missing on a charge's embedded list. */
type RefundLike = Pick<Stripe.Refund, 'id' | 'amount' | 'reason'> & { currency?: string | null; status?: string | null };

/**
 * A Stripe refund (`re_`) recorded on the invoice it returns money from, under its own id, naming
 * the payment it refunds (an overpayment's refund must not refund the invoice's own payment).
 * Bookings: bookingRefundsStep.
 */
function refundStep(t: Extract<PaymentTarget, { type: 'invoice' }>, r: RefundLike, ctx: Ctx, named: { providerPaymentId: string | null; providerChargeId: string | null }): Step {
  const amount = { amount: units(r.amount, r.currency), currency: cur(r.currency) };
  return {
    kind: 'invoice',
    role: ctx.role(`refund:${r.id}`),
    tenantId: t.tenantId,
    invoiceId: t.invoiceId,
    command: { type: 'RecordRefund', data: { refundId: r.id, providerRefundId: r.id, amount, reason: r.reason ?? null, actor: { kind: 'provider', id: ctx.eventId }, ...named } },
  };
}

/**
 * The refunds of one booking payment (a charge): each refund by its id, plus the charge's
 * cumulative refunded total when the event carries one. The booking applies them to the payment
 * they name and counts each refunded minor unit once, whatever order the reports arrive in.
 */
function bookingRefundsStep(
  t: Extract<PaymentTarget, { type: 'booking' }>,
  ctx: Ctx,
  r: { providerPaymentId: string | null; providerChargeId: string | null; currency: unknown; refunds: RefundLike[]; refundedTotal: unknown; reason: unknown },
): Step {
  return {
    kind: 'booking',
    role: ctx.role('refunds'),
    tenantId: t.tenantId,
    bookingId: t.bookingId,
    command: {
      type: 'RecordProviderRefunds',
      data: {
        provider: 'stripe',
        providerPaymentId: r.providerPaymentId,
        providerChargeId: r.providerChargeId,
        currency: cur(r.currency),
        refunds: r.refunds.filter((x) => typeof x.id === 'string').map((x) => ({ refundId: x.id, amount: units(x.amount, x.currency ?? r.currency) })),
        refundedTotal: r.refundedTotal === undefined || r.refundedTotal === null ? null : units(r.refundedTotal, r.currency),
        reason: typeof r.reason === 'string' ? r.reason : null,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Handlers

interface Ctx {
  readonly refs: RefResolver;
  readonly eventId: string;
  /** The step role `<event id>#<name>`: the processor derives event ids from it. */
  role(name: string): string;
  /** Handled, but its target is not known yet. */
  park(what: string): Translation;
}

type EventOf<T extends Stripe.Event.Type> = Extract<Stripe.Event, { type: T }>;
type Handler<T extends Stripe.Event.Type> = (event: EventOf<T>, ctx: Ctx) => Promise<Translation>;
const steps = (s: readonly Step[]): Translation => ({ outcome: 'steps', steps: s });

type PaymentIntentType =
  | 'payment_intent.succeeded'
  | 'payment_intent.payment_failed'
  | 'payment_intent.requires_action'
  | 'payment_intent.processing'
  | 'payment_intent.canceled'
  | 'payment_intent.amount_capturable_updated';

async function paymentIntent(event: EventOf<PaymentIntentType>, ctx: Ctx): Promise<Translation> {
  const o = event.data.object;
  const charge = idOf(o.latest_charge);
  const t = await paymentTarget(ctx.refs, [o], [o.id, charge]);
  if (!t) return ctx.park('no invoice or booking for this payment intent yet');
  const err = o.last_payment_error ?? null;
  const outcome =
    event.type === 'payment_intent.succeeded'
      ? 'succeeded'
      : event.type === 'payment_intent.payment_failed' || event.type === 'payment_intent.canceled'
        ? 'failed'
        : event.type === 'payment_intent.requires_action'
          ? 'requires_action'
          : 'processing';
  const failed = outcome === 'failed';
  const canceled = event.type === 'payment_intent.canceled';
  return steps([
    ...learnPayment(t, [o.id, charge]),
    ...attemptSteps(
      t,
      {
        // each failure is its own attempt; pending and success are the intent's one attempt
        attemptId: failed ? `${o.id}:${idOf(err?.charge) ?? event.id}` : o.id,
        providerPaymentId: o.id,
        providerChargeId: charge,
        amount: units(outcome === 'succeeded' ? o.amount_received : o.amount, o.currency),
        currency: cur(o.currency),
        outcome,
        errorCode: canceled ? 'canceled' : failed ? (err?.code ?? err?.type ?? 'payment_failed') : null,
        declineCode: failed ? (err?.decline_code ?? null) : null,
        message: canceled ? `canceled: ${o.cancellation_reason ?? 'unknown reason'}` : failed ? (err?.message ?? null) : null,
        occurredAt: iso(event.created),
        ...paymentExtras(o),
        applicationFeeAmount: typeof o.application_fee_amount === 'number' ? units(o.application_fee_amount, o.currency) : null,
      },
      ctx.role('attempt'),
    ),
  ]);
}

async function chargeOutcome(event: EventOf<'charge.succeeded' | 'charge.failed'>, ctx: Ctx): Promise<Translation> {
  const o = event.data.object;
  const pi = idOf(o.payment_intent);
  if (pi && event.type === 'charge.failed') return steps([]); // payment_intent.payment_failed records it
  const t = await paymentTarget(ctx.refs, [o], [o.id, pi]);
  if (!t) return ctx.park('no invoice or booking for this charge yet');
  const succeeded = event.type === 'charge.succeeded';
  return steps([
    ...learnPayment(t, [o.id, pi]),
    ...attemptSteps(
      t,
      {
        attemptId: succeeded ? (pi ?? o.id) : o.id,
        providerPaymentId: pi ?? o.id, // legacy Charges API: the charge is the payment
        providerChargeId: o.id,
        amount: units(succeeded ? o.amount_captured : o.amount, o.currency),
        currency: cur(o.currency),
        outcome: succeeded ? 'succeeded' : 'failed',
        errorCode: succeeded ? null : (o.failure_code ?? 'charge_failed'),
        declineCode: succeeded ? null : (o.outcome?.reason ?? null),
        message: succeeded ? null : (o.failure_message ?? o.outcome?.seller_message ?? null),
        occurredAt: iso(event.created),
        ...paymentExtras(o),
      },
      ctx.role('attempt'),
    ),
  ]);
}

async function chargeRefunded(event: EventOf<'charge.refunded'>, ctx: Ctx): Promise<Translation> {
  const o = event.data.object;
  const pi = idOf(o.payment_intent);
  const t = await paymentTarget(ctx.refs, [o], [o.id, pi]);
  if (!t) return ctx.park('no invoice or booking for this charge yet');
  const refunds = list<RefundLike>(o.refunds)
    .filter((x) => x.status === 'succeeded' || x.status === undefined)
    .map((r) => ({ ...r, currency: r.currency ?? o.currency }));
  if (t.type === 'booking') {
    // one step for the charge it names: its refunds by id and its cumulative amount_refunded
    return steps([bookingRefundsStep(t, ctx, { providerPaymentId: pi, providerChargeId: o.id, currency: o.currency, refunds, refundedTotal: o.amount_refunded, reason: refunds[0]?.reason ?? null })]);
  }
  return steps(refunds.map((r) => refundStep(t, r, ctx, { providerPaymentId: pi, providerChargeId: o.id })));
}

/** Since API 2022-11-15 charge.refunded no longer lists refunds: these refund events do. */
async function refund(event: EventOf<'refund.created' | 'refund.updated' | 'charge.refund.updated'>, ctx: Ctx): Promise<Translation> {
  const o = event.data.object;
  if (o.status !== 'succeeded') return steps([]); // pending: its update follows
  const charge = idOf(o.charge);
  const pi = idOf(o.payment_intent);
  const t = await paymentTarget(ctx.refs, [o], [charge, pi]);
  if (!t) return ctx.park('no invoice or booking for the refunded payment yet');
  if (t.type === 'booking') return steps([bookingRefundsStep(t, ctx, { providerPaymentId: pi, providerChargeId: charge, currency: o.currency, refunds: [o], refundedTotal: null, reason: o.reason ?? null })]);
  return steps([refundStep(t, o, ctx, { providerPaymentId: pi, providerChargeId: charge })]);
}

async function dispute(event: EventOf<'charge.dispute.created' | 'charge.dispute.closed'>, ctx: Ctx): Promise<Translation> {
  const o = event.data.object;
  const t = await paymentTarget(ctx.refs, [o], [idOf(o.charge), idOf(o.payment_intent)]);
  if (!t) return ctx.park('no invoice or booking for the disputed charge yet');
  const opened = event.type === 'charge.dispute.created';
  const amount = { amount: units(o.amount, o.currency), currency: cur(o.currency) };
  const reason = o.reason;
  const outcome = o.status === 'lost' ? 'lost' : 'won';
  if (t.type === 'booking') {
    // recorded on the booking payment the disputed charge belongs to, as invoices record theirs
    const command: Extract<Step, { kind: 'booking' }>['command'] = opened
      ? { type: 'OpenBookingDispute', data: { disputeId: o.id, provider: 'stripe', providerPaymentId: idOf(o.payment_intent), providerChargeId: idOf(o.charge), amount, reason } }
      : { type: 'CloseBookingDispute', data: { disputeId: o.id, outcome } };
    return steps([{ kind: 'booking', role: ctx.role('dispute'), tenantId: t.tenantId, bookingId: t.bookingId, command }]);
  }
  const actor = { kind: 'provider', id: event.id } as const;
  const command: Extract<Step, { kind: 'invoice' }>['command'] = opened
    ? { type: 'OpenDispute', data: { disputeId: o.id, providerDisputeId: o.id, amount, reason, actor } }
    : { type: 'CloseDispute', data: { disputeId: o.id, outcome, actor } };
  return steps([{ kind: 'invoice', role: ctx.role('dispute'), tenantId: t.tenantId, invoiceId: t.invoiceId, command }]);
}

type CheckoutSessionType = 'checkout.session.completed' | 'checkout.session.async_payment_succeeded' | 'checkout.session.async_payment_failed' | 'checkout.session.expired';

async function checkoutSession(event: EventOf<CheckoutSessionType>, ctx: Ctx): Promise<Translation> {
  const o = event.data.object;
  if (o.mode === 'subscription') {
    const c = await customerTarget(ctx.refs, [o], [idOf(o.customer)]);
    if (!c) return ctx.park('no customer for this checkout session');
    const learned: Step[] = [];
    for (const ref of [idOf(o.customer), idOf(o.subscription)]) {
      if (ref) learned.push({ kind: 'learn', provider: 'stripe', ref, tenantId: c.tenantId, targetType: ref.startsWith('sub_') ? 'subscription' : 'customer', targetId: c.customerId });
    }
    return steps(learned); // activation comes with customer.subscription.*
  }
  const pi = idOf(o.payment_intent);
  const t = await paymentTarget(ctx.refs, [o], [pi]);
  if (!t) return ctx.park('no invoice or booking for this checkout session');
  const learned = learnPayment(t, [pi]);
  if (event.type === 'checkout.session.expired') return steps(learned);
  const paid = event.type === 'checkout.session.async_payment_succeeded' || (event.type === 'checkout.session.completed' && o.payment_status === 'paid');
  const failed = event.type === 'checkout.session.async_payment_failed';
  if (!paid && !failed) return steps(learned); // async method: the outcome follows
  return steps([
    ...learned,
    ...attemptSteps(
      t,
      {
        attemptId: failed ? `${pi ?? o.id}:async` : (pi ?? o.id),
        providerPaymentId: pi ?? o.id,
        providerChargeId: null,
        amount: units(o.amount_total, o.currency),
        currency: cur(o.currency),
        outcome: paid ? 'succeeded' : 'failed',
        errorCode: failed ? 'async_payment_failed' : null,
        declineCode: null,
        message: failed ? 'The delayed payment method failed' : null,
        occurredAt: iso(event.created),
      },
      ctx.role('attempt'),
    ),
  ]);
}

type SubscriptionType = 'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted';

/** A price or (pre-Prices API) plan: its billing interval, year or month. */
function intervalOf(price: Stripe.Price | Stripe.Plan): 'year' | 'month' {
  const p = price as { recurring?: { interval?: string } | null; interval?: string };
  return (p.recurring?.interval ?? p.interval) === 'year' ? 'year' : 'month';
}

async function subscription(event: EventOf<SubscriptionType>, ctx: Ctx): Promise<Translation> {
  const o: PreBasilSubscription = event.data.object;
  const c = await customerTarget(ctx.refs, [o], [o.id, idOf(o.customer)]);
  if (!c) return ctx.park('no customer for this subscription yet');
  const out: Step[] = [{ kind: 'learn', provider: 'stripe', ref: o.id, tenantId: c.tenantId, targetType: 'subscription', targetId: c.customerId }];
  const customer = idOf(o.customer);
  if (customer) out.push({ kind: 'learn', provider: 'stripe', ref: customer, tenantId: c.tenantId, targetType: 'customer', targetId: c.customerId });
  const item = list<Partial<Stripe.SubscriptionItem>>(o.items)[0];
  const price: Stripe.Price | Stripe.Plan | undefined = item?.price ?? item?.plan;
  const start = item?.current_period_start ?? o.current_period_start;
  const end = item?.current_period_end ?? o.current_period_end;
  const deleted = event.type === 'customer.subscription.deleted';
  // the whole object, applied by the provider's order (event created, then period): see README "providers"
  const snapshot: Step | null =
    start && end
      ? {
          kind: 'subscription_snapshot',
          role: ctx.role('snapshot'),
          tenantId: c.tenantId,
          customerId: c.customerId,
          snapshot: {
            providerSubscriptionId: o.id,
            providerStatus: deleted ? 'canceled' : o.status,
            priceId: idOf(price),
            interval: price ? intervalOf(price) : null,
            currentPeriodStart: iso(start),
            currentPeriodEnd: iso(end),
            cancelAtPeriodEnd: o.cancel_at_period_end,
            cancelAt: typeof o.cancel_at === 'number' ? iso(o.cancel_at) : null,
            canceledAt: typeof o.canceled_at === 'number' ? iso(o.canceled_at) : null,
            observedAt: iso(event.created),
            eventRank: event.type === 'customer.subscription.created' ? 0 : deleted ? 2 : 1,
          },
          planHints: [meta(price).plan_id, meta(o).plan_id].filter(ok),
        }
      : null;
  if (deleted || o.status === 'canceled' || o.status === 'incomplete_expired') {
    if (snapshot) out.push(snapshot);
    out.push({ kind: 'subscription', role: ctx.role('ended'), tenantId: c.tenantId, customerId: c.customerId, command: { type: 'RecordSubscriptionEnded', data: { providerSubscriptionId: o.id } } });
    return steps(out);
  }
  if (o.status === 'active' || o.status === 'trialing' || o.status === 'past_due') {
    if (!price || !start || !end) return ctx.park('subscription without item, price or period');
    out.push({
      kind: 'subscription',
      role: ctx.role('activate'),
      tenantId: c.tenantId,
      customerId: c.customerId,
      command: {
        type: 'ActivateSubscription',
        data: {
          sessionId: meta(o).checkout_attempt_id ?? o.id,
          providerSubscriptionId: o.id,
          planId: meta(o).plan_id ?? price.id,
          priceId: price.id,
          interval: intervalOf(price),
          currentPeriodStart: iso(start),
          currentPeriodEnd: iso(end),
        },
      },
    });
  }
  if (snapshot) out.push(snapshot);
  return steps(out);
}

function invoiceSubscription(inv: PreBasilInvoice): string | null {
  return idOf(inv.subscription) ?? idOf(inv.parent?.subscription_details?.subscription);
}

/**
 * The prices an invoice's lines bill. Two shapes, both read: `lines.data[].price` (API versions
 * before 2025-03-31.basil) and `lines.data[].pricing.price_details.price` (basil and later).
 */
export function invoiceLinePrices(inv: { lines?: { data?: unknown } | null }): string[] {
  const ids = list<PreBasilLine>(inv.lines)
    .map((l) => idOf(l.pricing?.price_details?.price) ?? idOf(l.price) ?? idOf(l.plan))
    .filter((x): x is string => x !== null);
  return [...new Set(ids)];
}

/** Each price's line period on an invoice (a plan change's invoice: the new price's line is the period Stripe set; credits, negative, are skipped). */
export function invoiceLinePeriods(inv: { lines?: { data?: unknown } | null }): Record<string, { start: string; end: string }> {
  const out: Record<string, { start: string; end: string }> = {};
  for (const l of list<PreBasilLine>(inv.lines)) {
    const price = idOf(l.pricing?.price_details?.price) ?? idOf(l.price) ?? idOf(l.plan);
    if (price && l.period?.start && l.period.end && (l.amount ?? 0) >= 0) out[price] = { start: iso(l.period.start), end: iso(l.period.end) };
  }
  return out;
}

function invoicePaymentIntent(inv: PreBasilInvoice): string | null {
  const p = list<InvoicePaymentEntry>(inv.payments)[0];
  return idOf(p?.payment?.payment_intent) ?? idOf(inv.payment_intent);
}

function providerInvoiceStep(inv: PreBasilInvoice, tenantId: string, customerId: string, role: string): Step {
  return {
    kind: 'invoice',
    role,
    tenantId,
    invoiceId: inv.id,
    command: {
      type: 'RecordProviderInvoice',
      data: {
        invoiceId: inv.id,
        tenantId,
        customerId,
        providerInvoiceId: inv.id,
        total: units(inv.total, inv.currency),
        currency: cur(inv.currency),
        lineItems: list<PreBasilLine>(inv.lines).map((l) => {
          // exact integers only: a line whose amount does not divide by its quantity is kept as one line of its total
          const amount = units(l.amount, inv.currency);
          const quantity = minor(l.quantity ?? 1);
          const divides = quantity > 0 && amount % quantity === 0;
          return {
            description: divides ? (l.description ?? 'Subscription') : `${l.description ?? 'Subscription'} (${quantity} ×)`,
            quantity: divides ? quantity : 1,
            unitAmount: divides ? amount / quantity : amount,
          };
        }),
        hostedInvoiceUrl: inv.hosted_invoice_url ?? null,
        invoicePdf: inv.invoice_pdf ?? null,
        dueDate: inv.due_date ? iso(inv.due_date).slice(0, 10) : null,
        subscriptionId: invoiceSubscription(inv),
        actor: { kind: 'provider', id: role.split('#', 1).join('') },
      },
    },
  };
}

type InvoiceType = 'invoice.finalized' | 'invoice.paid' | 'invoice.payment_succeeded' | 'invoice.payment_failed' | 'invoice.voided' | 'invoice.marked_uncollectible';

async function invoice(event: EventOf<InvoiceType>, ctx: Ctx): Promise<Translation> {
  const o: PreBasilInvoice = event.data.object;
  const sub = invoiceSubscription(o);
  const c = await customerTarget(ctx.refs, [o.parent?.subscription_details, o.subscription_details, o], [sub, idOf(o.customer)]);
  if (!c) return ctx.park('no customer for this invoice yet');
  const out: Step[] = [
    { kind: 'learn', provider: 'stripe', ref: o.id, tenantId: c.tenantId, targetType: 'invoice', targetId: o.id },
    providerInvoiceStep(o, c.tenantId, c.customerId, ctx.role('invoice')),
  ];
  const pi = invoicePaymentIntent(o);
  const planChange = o.billing_reason === 'subscription_update';
  const amount = { amount: units(o.amount_paid, o.currency), currency: cur(o.currency) };
  const actor = { kind: 'provider', id: event.id } as const;
  if (event.type === 'invoice.paid' || event.type === 'invoice.payment_succeeded') {
    if (pi) out.push({ kind: 'learn', provider: 'stripe', ref: pi, tenantId: c.tenantId, targetType: 'invoice', targetId: o.id });
    out.push({
      kind: 'invoice',
      role: ctx.role('payment'),
      tenantId: c.tenantId,
      invoiceId: o.id,
      command: {
        type: 'RecordPaymentAttempt',
        data: { attemptId: pi ?? o.id, provider: 'stripe', providerPaymentId: pi ?? o.id, providerChargeId: idOf(o.charge), amount, outcome: 'succeeded', occurredAt: iso(o.status_transitions.paid_at ?? event.created), actor },
      },
    });
    if (planChange) {
      out.push({ kind: 'plan_change_outcome', role: ctx.role('plan-change'), tenantId: c.tenantId, customerId: c.customerId, providerInvoiceId: o.id, outcome: 'captured', declineCode: null, message: null, linePriceIds: invoiceLinePrices(o), linePeriods: invoiceLinePeriods(o) });
    } else if (sub) {
      const line = list<Partial<Stripe.InvoiceLineItem>>(o.lines)[0];
      const start = line?.period?.start ?? o.period_start;
      const end = line?.period?.end ?? o.period_end;
      out.push({ kind: 'subscription', role: ctx.role('renewal'), tenantId: c.tenantId, customerId: c.customerId, command: { type: 'RecordRenewalPaid', data: { providerInvoiceId: o.id, amount, periodStart: iso(start), periodEnd: iso(end) } } });
    }
  } else if (event.type === 'invoice.payment_failed' || event.type === 'invoice.marked_uncollectible') {
    const uncollectible = event.type === 'invoice.marked_uncollectible';
    const final = uncollectible || !o.next_payment_attempt;
    const due = { amount: units(o.amount_due, o.currency), currency: cur(o.currency) };
    out.push({
      kind: 'invoice',
      role: ctx.role('payment'),
      tenantId: c.tenantId,
      invoiceId: o.id,
      command: {
        type: 'RecordPaymentAttempt',
        data: {
          attemptId: `${o.id}:${event.id}`,
          provider: 'stripe',
          providerPaymentId: pi ?? o.id,
          providerChargeId: idOf(o.charge),
          amount: due,
          outcome: 'failed',
          errorCode: o.last_finalization_error?.code ?? 'invoice_payment_failed',
          declineCode: null,
          message: uncollectible ? 'marked uncollectible after the final retry' : final ? 'final payment attempt failed' : `payment failed; next attempt ${iso(o.next_payment_attempt)}`,
          occurredAt: iso(event.created),
          actor,
        },
      },
    });
    if (planChange) {
      out.push({ kind: 'plan_change_outcome', role: ctx.role('plan-change'), tenantId: c.tenantId, customerId: c.customerId, providerInvoiceId: o.id, outcome: 'declined', declineCode: null, message: 'plan change payment failed', linePriceIds: invoiceLinePrices(o) });
    } else if (sub) {
      out.push({
        kind: 'subscription',
        role: ctx.role('dunning'),
        tenantId: c.tenantId,
        customerId: c.customerId,
        command: {
          type: 'RecordRenewalPaymentFailed',
          data: { providerInvoiceId: o.id, amount: due, nextPaymentAttempt: final ? null : iso(o.next_payment_attempt), errorCode: 'invoice_payment_failed', declineCode: null, message: final ? 'final payment attempt failed' : 'payment failed; the provider will retry' },
        },
      });
    }
  } else if (event.type === 'invoice.voided') {
    out.push({ kind: 'invoice', role: ctx.role('void'), tenantId: c.tenantId, invoiceId: o.id, command: { type: 'VoidInvoice', data: { reason: 'voided at Stripe', actor } } });
  }
  return steps(out);
}

/** Capabilities only: metadata.tenant_id is the account's own claim and links nothing. */
function account(event: EventOf<'account.updated'>): Promise<Translation> {
  const o = event.data.object;
  return Promise.resolve(steps([{ kind: 'connected_account', accountId: o.id, chargesEnabled: o.charges_enabled, payoutsEnabled: o.payouts_enabled, detailsSubmitted: o.details_submitted }]));
}

/** Every Stripe event type Settle acts on, and its handler. */
const HANDLERS = {
  'payment_intent.succeeded': paymentIntent,
  'payment_intent.payment_failed': paymentIntent,
  'payment_intent.requires_action': paymentIntent,
  'payment_intent.processing': paymentIntent,
  'payment_intent.canceled': paymentIntent,
  'payment_intent.amount_capturable_updated': paymentIntent,
  'charge.succeeded': chargeOutcome,
  'charge.failed': chargeOutcome,
  'charge.refunded': chargeRefunded,
  'refund.created': refund,
  'refund.updated': refund,
  'charge.refund.updated': refund,
  'charge.dispute.created': dispute,
  'charge.dispute.closed': dispute,
  'checkout.session.completed': checkoutSession,
  'checkout.session.expired': checkoutSession,
  'checkout.session.async_payment_succeeded': checkoutSession,
  'checkout.session.async_payment_failed': checkoutSession,
  'customer.subscription.created': subscription,
  'customer.subscription.updated': subscription,
  'customer.subscription.deleted': subscription,
  'invoice.finalized': invoice,
  'invoice.paid': invoice,
  'invoice.payment_succeeded': invoice,
  'invoice.payment_failed': invoice,
  'invoice.voided': invoice,
  'invoice.marked_uncollectible': invoice,
  'account.updated': account,
} as const satisfies { [T in Stripe.Event.Type]?: Handler<T> };

export type StripeHandledType = keyof typeof HANDLERS;

/** The Stripe event types Settle acts on (the keys of the handler map); every other type is acknowledged as unhandled. */
export const STRIPE_HANDLED_TYPES: ReadonlySet<string> = new Set(Object.keys(HANDLERS));

export function isHandledStripeType(type: string): type is StripeHandledType {
  return Object.hasOwn(HANDLERS, type);
}

export async function translateStripeEvent(event: StripeEventEnvelope, refs: RefResolver): Promise<Translation> {
  if (!isHandledStripeType(event.type)) return { outcome: 'unhandled' };
  const object = event.data.object;
  const ctx: Ctx = {
    refs,
    eventId: event.id,
    role: (name) => `${event.id}#${name}`,
    park: (what) => ({ outcome: 'park', reason: `${event.type} ${String(object.id)}: ${what}` }),
  };
  // The handler of this type reads the object as its SDK type (defensively: see the top of this file).
  const handler = HANDLERS[event.type] as (e: Stripe.Event, c: Ctx) => Promise<Translation>;
  return handler(event as unknown as Stripe.Event, ctx);
}
