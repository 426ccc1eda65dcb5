/**
 * Stripe event -> steps. Objects Settle creates carry metadata `tenant_id` plus `invoice_id`,
 * `booking_id` or `customer_id`; objects without it (subscription invoices, charges, disputes,
 * refunds) are resolved through what earlier events taught (provider_refs): the subscription,
 * the customer, the payment intent or the charge. An event whose target is not known yet is
 * parked, never dropped.
 */
import { fromStripeAmount } from '../../domain/shared/providerUnits';
import type { RefResolver, Step, Translation } from './steps';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

export interface StripeEventEnvelope {
  readonly id: string;
  readonly type: string;
  readonly account?: string | null;
  readonly created: number;
  readonly livemode: boolean;
  readonly data: { readonly object: Obj };
}

export const STRIPE_HANDLED_TYPES = new Set([
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.requires_action',
  'payment_intent.processing',
  'payment_intent.canceled',
  'payment_intent.amount_capturable_updated',
  'charge.succeeded',
  'charge.failed',
  'charge.refunded',
  'refund.created',
  'refund.updated',
  'charge.refund.updated',
  'charge.dispute.created',
  'charge.dispute.closed',
  'checkout.session.completed',
  'checkout.session.expired',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.finalized',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'invoice.voided',
  'invoice.marked_uncollectible',
  'account.updated',
]);

const iso = (sec: unknown): string => new Date(Number(sec) * 1000).toISOString();
/** Stripe amounts are JSON integers of minor units; anything else (a string, a float) is NaN, which the domain refuses. */
const minor = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) ? v : Number.NaN);
const cur = (c: unknown): string => String(c ?? '').toUpperCase();
/**
 * A Stripe amount in the object's currency -> ISO minor units (ISK and MGA count differently at
 * Stripe: domain/shared/providerUnits.ts); NaN when it is not an exact amount, which the domain refuses.
 */
const units = (v: unknown, currency: unknown): number => fromStripeAmount(minor(v), cur(currency));
const idOf = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as Obj).id === 'string' ? (v as Obj).id : null);
const meta = (o: Obj | null | undefined): Record<string, string> => (o && typeof o.metadata === 'object' && o.metadata ? o.metadata : {});
const SAFE_ID = /^[A-Za-z0-9_-]{1,100}$/;
const ok = (v: unknown): v is string => typeof v === 'string' && SAFE_ID.test(v);

type PaymentTarget = { type: 'invoice'; tenantId: string; invoiceId: string } | { type: 'booking'; tenantId: string; bookingId: string };

/** The invoice or booking a payment object belongs to. */
async function paymentTarget(refs: RefResolver, objects: Array<Obj | null | undefined>, keys: Array<string | null>): Promise<PaymentTarget | null> {
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
async function customerTarget(refs: RefResolver, objects: Array<Obj | null | undefined>, keys: Array<string | null>): Promise<{ tenantId: string; customerId: string } | null> {
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

/** Receipt and card brand/last4 only, from whatever the object carries (never more card data). */
function paymentExtras(o: Obj): { receiptUrl: string | null; card: { brand: unknown; last4: unknown } | null } {
  const charge = typeof o.latest_charge === 'object' && o.latest_charge ? o.latest_charge : o.object === 'charge' ? o : null;
  const card = charge?.payment_method_details?.card ?? o.last_payment_error?.payment_method?.card ?? (typeof o.payment_method === 'object' ? o.payment_method?.card : null) ?? null;
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
            actor: { kind: 'provider', id: role.split('#')[0]! },
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

/**
 * A Stripe refund (`re_`) recorded on the invoice it returns money from, under its own id, naming
 * the payment it refunds (an overpayment's refund must not refund the invoice's own payment).
 * Bookings: bookingRefundsStep.
 */
function refundStep(t: Extract<PaymentTarget, { type: 'invoice' }>, r: Obj, role: (name: string) => string, eventId: string, named: { providerPaymentId: string | null; providerChargeId: string | null }): Step {
  const amount = { amount: units(r.amount, r.currency), currency: cur(r.currency) };
  return {
    kind: 'invoice',
    role: role(`refund:${r.id}`),
    tenantId: t.tenantId,
    invoiceId: t.invoiceId,
    command: { type: 'RecordRefund', data: { refundId: r.id, providerRefundId: r.id, amount, reason: r.reason ?? null, actor: { kind: 'provider', id: eventId }, ...named } },
  };
}

/**
 * The refunds of one booking payment (a charge): each refund by its id, plus the charge's
 * cumulative refunded total when the event carries one. The booking applies them to the payment
 * they name and counts each refunded minor unit once, whatever order the reports arrive in.
 */
function bookingRefundsStep(
  t: Extract<PaymentTarget, { type: 'booking' }>,
  role: (name: string) => string,
  r: { providerPaymentId: string | null; providerChargeId: string | null; currency: unknown; refunds: Obj[]; refundedTotal: unknown; reason: unknown },
): Step {
  return {
    kind: 'booking',
    role: role('refunds'),
    tenantId: t.tenantId,
    bookingId: t.bookingId,
    command: {
      type: 'RecordProviderRefunds',
      data: {
        provider: 'stripe',
        providerPaymentId: r.providerPaymentId,
        providerChargeId: r.providerChargeId,
        currency: cur(r.currency),
        refunds: r.refunds.filter((x) => typeof x.id === 'string').map((x) => ({ refundId: x.id as string, amount: units(x.amount, x.currency ?? r.currency) })),
        refundedTotal: r.refundedTotal === undefined || r.refundedTotal === null ? null : units(r.refundedTotal, r.currency),
        reason: typeof r.reason === 'string' ? r.reason : null,
      },
    },
  };
}

function providerInvoiceStep(inv: Obj, tenantId: string, customerId: string, role: string): Step {
  const lines: Obj[] = Array.isArray(inv.lines?.data) ? inv.lines.data : [];
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
        total: units(inv.total ?? inv.amount_due ?? 0, inv.currency),
        currency: cur(inv.currency),
        lineItems: lines.map((l) => {
          // exact integers only: a line whose amount does not divide by its quantity is kept as one line of its total
          const amount = units(l.amount ?? 0, inv.currency);
          const quantity = minor(l.quantity ?? 1);
          const divides = quantity > 0 && amount % quantity === 0;
          return {
            description: divides ? String(l.description ?? 'Subscription') : `${String(l.description ?? 'Subscription')} (${quantity} ×)`,
            quantity: divides ? quantity : 1,
            unitAmount: divides ? amount / quantity : amount,
          };
        }),
        hostedInvoiceUrl: inv.hosted_invoice_url ?? null,
        invoicePdf: inv.invoice_pdf ?? null,
        dueDate: inv.due_date ? iso(inv.due_date).slice(0, 10) : null,
        subscriptionId: idOf(inv.subscription) ?? idOf(inv.parent?.subscription_details?.subscription),
        actor: { kind: 'provider', id: role.split('#')[0]! },
      },
    },
  } as Step;
}

function invoiceSubscription(inv: Obj): string | null {
  return idOf(inv.subscription) ?? idOf(inv.parent?.subscription_details?.subscription);
}

/**
 * The prices an invoice's lines bill. Two shapes, both read: `lines.data[].price` (API versions
 * before 2025-03-31.basil) and `lines.data[].pricing.price_details.price` (basil and later).
 */
export function invoiceLinePrices(inv: Obj): string[] {
  const lines: Obj[] = Array.isArray(inv.lines?.data) ? inv.lines.data : [];
  const ids = lines.map((l) => idOf(l.pricing?.price_details?.price) ?? idOf(l.price) ?? idOf(l.plan)).filter((x): x is string => x !== null);
  return [...new Set(ids)];
}

function invoicePaymentIntent(inv: Obj): string | null {
  const p = Array.isArray(inv.payments?.data) ? inv.payments.data[0] : null;
  return idOf(p?.payment?.payment_intent) ?? idOf(inv.payment_intent);
}

export async function translateStripeEvent(event: StripeEventEnvelope, refs: RefResolver): Promise<Translation> {
  if (!STRIPE_HANDLED_TYPES.has(event.type)) return { outcome: 'unhandled' };
  const o = event.data.object;
  const role = (name: string) => `${event.id}#${name}`;
  const steps: Step[] = [];
  const park = (what: string): Translation => ({ outcome: 'park', reason: `${event.type} ${o.id}: ${what}` });

  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed':
    case 'payment_intent.requires_action':
    case 'payment_intent.processing':
    case 'payment_intent.canceled':
    case 'payment_intent.amount_capturable_updated': {
      const charge = idOf(o.latest_charge);
      const t = await paymentTarget(refs, [o], [o.id, charge]);
      if (!t) return park('no invoice or booking for this payment intent yet');
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
      steps.push(...learnPayment(t, [o.id, charge]));
      steps.push(
        ...attemptSteps(
          t,
          {
            // each failure is its own attempt; pending and success are the intent's one attempt
            attemptId: failed ? `${o.id}:${idOf(err?.charge) ?? event.id}` : o.id,
            providerPaymentId: o.id,
            providerChargeId: charge,
            amount: units(outcome === 'succeeded' ? (o.amount_received ?? o.amount) : o.amount, o.currency),
            currency: cur(o.currency),
            outcome,
            errorCode: event.type === 'payment_intent.canceled' ? 'canceled' : failed ? (err?.code ?? err?.type ?? 'payment_failed') : null,
            declineCode: failed ? (err?.decline_code ?? null) : null,
            message: event.type === 'payment_intent.canceled' ? `canceled: ${o.cancellation_reason ?? 'unknown reason'}` : failed ? (err?.message ?? null) : null,
            occurredAt: iso(event.created),
            ...paymentExtras(o),
            applicationFeeAmount: typeof o.application_fee_amount === 'number' ? units(o.application_fee_amount, o.currency) : null,
          },
          role('attempt'),
        ),
      );
      return { outcome: 'steps', steps };
    }

    case 'charge.succeeded':
    case 'charge.failed': {
      const pi = idOf(o.payment_intent);
      if (pi && event.type === 'charge.failed') return { outcome: 'steps', steps: [] }; // payment_intent.payment_failed records it
      const t = await paymentTarget(refs, [o], [o.id, pi]);
      if (!t) return park('no invoice or booking for this charge yet');
      steps.push(...learnPayment(t, [o.id, pi]));
      const succeeded = event.type === 'charge.succeeded';
      steps.push(
        ...attemptSteps(
          t,
          {
            attemptId: succeeded ? (pi ?? o.id) : o.id,
            providerPaymentId: pi ?? o.id, // legacy Charges API: the charge is the payment
            providerChargeId: o.id,
            amount: units(succeeded ? (o.amount_captured ?? o.amount) : o.amount, o.currency),
            currency: cur(o.currency),
            outcome: succeeded ? 'succeeded' : 'failed',
            errorCode: succeeded ? null : (o.failure_code ?? 'charge_failed'),
            declineCode: succeeded ? null : (o.outcome?.reason ?? null),
            message: succeeded ? null : (o.failure_message ?? o.outcome?.seller_message ?? null),
            occurredAt: iso(event.created),
            ...paymentExtras(o),
          },
          role('attempt'),
        ),
      );
      return { outcome: 'steps', steps };
    }

    case 'charge.refunded': {
      const pi = idOf(o.payment_intent);
      const t = await paymentTarget(refs, [o], [o.id, pi]);
      if (!t) return park('no invoice or booking for this charge yet');
      const refunds: Obj[] = (Array.isArray(o.refunds?.data) ? o.refunds.data : []).filter((x: Obj) => x.status === 'succeeded' || x.status === undefined);
      if (t.type === 'booking') {
        // one step for the charge it names: its refunds by id and its cumulative amount_refunded
        steps.push(bookingRefundsStep(t, role, { providerPaymentId: pi, providerChargeId: o.id, currency: o.currency, refunds: refunds.map((r) => ({ ...r, currency: r.currency ?? o.currency })), refundedTotal: o.amount_refunded, reason: refunds[0]?.reason ?? null }));
        return { outcome: 'steps', steps };
      }
      for (const r of refunds) steps.push(refundStep(t, { ...r, currency: r.currency ?? o.currency }, role, event.id, { providerPaymentId: pi, providerChargeId: o.id }));
      return { outcome: 'steps', steps };
    }

    case 'refund.created':
    case 'refund.updated':
    case 'charge.refund.updated': {
      // Since API 2022-11-15 charge.refunded no longer lists refunds: these refund events do.
      if (o.status !== 'succeeded') return { outcome: 'steps', steps: [] }; // pending: its update follows
      const charge = idOf(o.charge);
      const pi = idOf(o.payment_intent);
      const t = await paymentTarget(refs, [o], [charge, pi]);
      if (!t) return park('no invoice or booking for the refunded payment yet');
      if (t.type === 'booking') steps.push(bookingRefundsStep(t, role, { providerPaymentId: pi, providerChargeId: charge, currency: o.currency, refunds: [o], refundedTotal: null, reason: o.reason ?? null }));
      else steps.push(refundStep(t, o, role, event.id, { providerPaymentId: pi, providerChargeId: charge }));
      return { outcome: 'steps', steps };
    }

    case 'charge.dispute.created':
    case 'charge.dispute.closed': {
      const t = await paymentTarget(refs, [o], [idOf(o.charge), idOf(o.payment_intent)]);
      if (!t) return park('no invoice or booking for the disputed charge yet');
      if (t.type === 'booking') {
        // recorded on the booking payment the disputed charge belongs to, as invoices record theirs
        const command =
          event.type === 'charge.dispute.created'
            ? ({
                type: 'OpenBookingDispute',
                data: { disputeId: o.id, provider: 'stripe', providerPaymentId: idOf(o.payment_intent), providerChargeId: idOf(o.charge), amount: { amount: units(o.amount, o.currency), currency: cur(o.currency) }, reason: String(o.reason ?? 'general') },
              } as const)
            : ({ type: 'CloseBookingDispute', data: { disputeId: o.id, outcome: o.status === 'lost' ? 'lost' : 'won' } } as const);
        steps.push({ kind: 'booking', role: role('dispute'), tenantId: t.tenantId, bookingId: t.bookingId, command } as Step);
        return { outcome: 'steps', steps };
      }
      const command =
        event.type === 'charge.dispute.created'
          ? ({ type: 'OpenDispute', data: { disputeId: o.id, providerDisputeId: o.id, amount: { amount: units(o.amount, o.currency), currency: cur(o.currency) }, reason: String(o.reason ?? 'general'), actor: { kind: 'provider', id: event.id } } } as const)
          : ({ type: 'CloseDispute', data: { disputeId: o.id, outcome: o.status === 'lost' ? 'lost' : 'won', actor: { kind: 'provider', id: event.id } } } as const);
      steps.push({ kind: 'invoice', role: role('dispute'), tenantId: t.tenantId, invoiceId: t.invoiceId, command } as Step);
      return { outcome: 'steps', steps };
    }

    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
    case 'checkout.session.async_payment_failed':
    case 'checkout.session.expired': {
      if (o.mode === 'subscription') {
        const c = await customerTarget(refs, [o], [idOf(o.customer)]);
        if (!c) return park('no customer for this checkout session');
        for (const ref of [idOf(o.customer), idOf(o.subscription)]) {
          if (ref) steps.push({ kind: 'learn', provider: 'stripe', ref, tenantId: c.tenantId, targetType: ref.startsWith('sub_') ? 'subscription' : 'customer', targetId: c.customerId });
        }
        return { outcome: 'steps', steps }; // activation comes with customer.subscription.*
      }
      const pi = idOf(o.payment_intent);
      const t = await paymentTarget(refs, [o], [pi]);
      if (!t) return park('no invoice or booking for this checkout session');
      steps.push(...learnPayment(t, [pi]));
      if (event.type === 'checkout.session.expired') return { outcome: 'steps', steps };
      const paid = event.type === 'checkout.session.async_payment_succeeded' || (event.type === 'checkout.session.completed' && o.payment_status === 'paid');
      const failed = event.type === 'checkout.session.async_payment_failed';
      if (!paid && !failed) return { outcome: 'steps', steps }; // async method: the outcome follows
      steps.push(
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
          role('attempt'),
        ),
      );
      return { outcome: 'steps', steps };
    }

    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const c = await customerTarget(refs, [o], [o.id, idOf(o.customer)]);
      if (!c) return park('no customer for this subscription yet');
      steps.push({ kind: 'learn', provider: 'stripe', ref: o.id, tenantId: c.tenantId, targetType: 'subscription', targetId: c.customerId });
      const customer = idOf(o.customer);
      if (customer) steps.push({ kind: 'learn', provider: 'stripe', ref: customer, tenantId: c.tenantId, targetType: 'customer', targetId: c.customerId });
      const item: Obj | undefined = o.items?.data?.[0];
      const price = item?.price ?? item?.plan;
      const start = item?.current_period_start ?? o.current_period_start;
      const end = item?.current_period_end ?? o.current_period_end;
      // the whole object, applied by the provider's order (event created, then period): see README "providers"
      const snapshot: Step | null =
        start && end
          ? {
              kind: 'subscription_snapshot',
              role: role('snapshot'),
              tenantId: c.tenantId,
              customerId: c.customerId,
              snapshot: {
                providerSubscriptionId: o.id,
                providerStatus: event.type === 'customer.subscription.deleted' ? 'canceled' : String(o.status ?? 'unknown'),
                priceId: idOf(price),
                interval: price ? ((price.recurring?.interval ?? price.interval) === 'year' ? 'year' : 'month') : null,
                currentPeriodStart: iso(start),
                currentPeriodEnd: iso(end),
                cancelAtPeriodEnd: o.cancel_at_period_end === true,
                cancelAt: typeof o.cancel_at === 'number' ? iso(o.cancel_at) : null,
                canceledAt: typeof o.canceled_at === 'number' ? iso(o.canceled_at) : null,
                observedAt: iso(event.created),
                eventRank: event.type === 'customer.subscription.created' ? 0 : event.type === 'customer.subscription.deleted' ? 2 : 1,
              },
              planHints: [meta(price).plan_id, meta(o).plan_id].filter(ok),
            }
          : null;
      if (event.type === 'customer.subscription.deleted' || o.status === 'canceled' || o.status === 'incomplete_expired') {
        if (snapshot) steps.push(snapshot);
        steps.push({ kind: 'subscription', role: role('ended'), tenantId: c.tenantId, customerId: c.customerId, command: { type: 'RecordSubscriptionEnded', data: { providerSubscriptionId: o.id } } });
        return { outcome: 'steps', steps };
      }
      if (['active', 'trialing', 'past_due'].includes(o.status)) {
        if (!price || !start || !end) return park('subscription without item, price or period');
        steps.push({
          kind: 'subscription',
          role: role('activate'),
          tenantId: c.tenantId,
          customerId: c.customerId,
          command: {
            type: 'ActivateSubscription',
            data: {
              sessionId: meta(o).checkout_attempt_id ?? o.id,
              providerSubscriptionId: o.id,
              planId: meta(o).plan_id ?? price.id,
              priceId: price.id,
              interval: (price.recurring?.interval ?? price.interval) === 'year' ? 'year' : 'month',
              currentPeriodStart: iso(start),
              currentPeriodEnd: iso(end),
            },
          },
        });
      }
      if (snapshot) steps.push(snapshot);
      return { outcome: 'steps', steps };
    }

    case 'invoice.finalized':
    case 'invoice.paid':
    case 'invoice.payment_succeeded':
    case 'invoice.payment_failed':
    case 'invoice.voided':
    case 'invoice.marked_uncollectible': {
      const sub = invoiceSubscription(o);
      const c = await customerTarget(refs, [o.parent?.subscription_details, o.subscription_details, o], [sub, idOf(o.customer)]);
      if (!c) return park('no customer for this invoice yet');
      steps.push({ kind: 'learn', provider: 'stripe', ref: o.id, tenantId: c.tenantId, targetType: 'invoice', targetId: o.id });
      steps.push(providerInvoiceStep(o, c.tenantId, c.customerId, role('invoice')));
      const pi = invoicePaymentIntent(o);
      const planChange = o.billing_reason === 'subscription_update';
      const amount = { amount: units(o.amount_paid ?? o.amount_due ?? 0, o.currency), currency: cur(o.currency) };
      if (event.type === 'invoice.paid' || event.type === 'invoice.payment_succeeded') {
        if (pi) steps.push({ kind: 'learn', provider: 'stripe', ref: pi, tenantId: c.tenantId, targetType: 'invoice', targetId: o.id });
        steps.push({
          kind: 'invoice',
          role: role('payment'),
          tenantId: c.tenantId,
          invoiceId: o.id,
          command: {
            type: 'RecordPaymentAttempt',
            data: { attemptId: pi ?? o.id, provider: 'stripe', providerPaymentId: pi ?? o.id, providerChargeId: idOf(o.charge), amount, outcome: 'succeeded', occurredAt: iso(o.status_transitions?.paid_at ?? event.created), actor: { kind: 'provider', id: event.id } },
          },
        });
        if (planChange) {
          steps.push({ kind: 'plan_change_outcome', role: role('plan-change'), tenantId: c.tenantId, customerId: c.customerId, providerInvoiceId: o.id, outcome: 'captured', declineCode: null, message: null, linePriceIds: invoiceLinePrices(o) });
        } else if (sub) {
          const line: Obj | undefined = o.lines?.data?.[0];
          const start = line?.period?.start ?? o.period_start;
          const end = line?.period?.end ?? o.period_end;
          steps.push({ kind: 'subscription', role: role('renewal'), tenantId: c.tenantId, customerId: c.customerId, command: { type: 'RecordRenewalPaid', data: { providerInvoiceId: o.id, amount, periodStart: iso(start), periodEnd: iso(end) } } });
        }
      } else if (event.type === 'invoice.payment_failed' || event.type === 'invoice.marked_uncollectible') {
        const final = event.type === 'invoice.marked_uncollectible' || !o.next_payment_attempt;
        const due = { amount: units(o.amount_due ?? o.total ?? 0, o.currency), currency: cur(o.currency) };
        steps.push({
          kind: 'invoice',
          role: role('payment'),
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
              message: event.type === 'invoice.marked_uncollectible' ? 'marked uncollectible after the final retry' : final ? 'final payment attempt failed' : `payment failed; next attempt ${iso(o.next_payment_attempt)}`,
              occurredAt: iso(event.created),
              actor: { kind: 'provider', id: event.id },
            },
          },
        });
        if (planChange) {
          steps.push({ kind: 'plan_change_outcome', role: role('plan-change'), tenantId: c.tenantId, customerId: c.customerId, providerInvoiceId: o.id, outcome: 'declined', declineCode: null, message: 'plan change payment failed', linePriceIds: invoiceLinePrices(o) });
        } else if (sub) {
          steps.push({
            kind: 'subscription',
            role: role('dunning'),
            tenantId: c.tenantId,
            customerId: c.customerId,
            command: {
              type: 'RecordRenewalPaymentFailed',
              data: { providerInvoiceId: o.id, amount: due, nextPaymentAttempt: final ? null : iso(o.next_payment_attempt), errorCode: 'invoice_payment_failed', declineCode: null, message: final ? 'final payment attempt failed' : 'payment failed; the provider will retry' },
            },
          });
        }
      } else if (event.type === 'invoice.voided') {
        steps.push({ kind: 'invoice', role: role('void'), tenantId: c.tenantId, invoiceId: o.id, command: { type: 'VoidInvoice', data: { reason: 'voided at Stripe', actor: { kind: 'provider', id: event.id } } } });
      }
      return { outcome: 'steps', steps };
    }

    case 'account.updated': {
      // capabilities only: metadata.tenant_id is the account's own claim and links nothing
      steps.push({ kind: 'connected_account', accountId: o.id, chargesEnabled: !!o.charges_enabled, payoutsEnabled: !!o.payouts_enabled, detailsSubmitted: !!o.details_submitted });
      return { outcome: 'steps', steps };
    }
    default:
      return { outcome: 'unhandled' };
  }
}
