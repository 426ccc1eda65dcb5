/**
 * Integration messages: what other parts of Settle and other systems learn from the event log,
 * through the transactional outbox (written in the same transaction as the events) and Kafka.
 * `messagesFor` maps newly decided domain events to messages; the command loop calls it for
 * every append, so API commands, webhooks and sagas all publish the same facts.
 *
 * Envelope (version 1): id, type, version, occurredAt, tenantId, aggregate {type, id},
 * correlationId, causationId, data. Topics and compatibility rules: docs/messages.md.
 */
import type { OutboxMessage } from '../domain/ports/eventStore';
import type { Money } from '../domain/shared/money';
import { deterministicUuid } from './ids';

export const TOPICS = {
  /** Booking facts the CRM sync saga acts on. Key: booking stream id. */
  bookings: 'settle.bookings.v1',
  /** Payment facts for finance reporting. Key: payable stream id. */
  payments: 'settle.payments.v1',
  /** Delayed retries of the CRM sync saga (scheduled through the outbox). Key: booking stream id. */
  crmSyncRetry: 'settle.crm-sync.retry.v1',
} as const;

export interface Envelope<T = unknown> {
  readonly id: string;
  readonly type: string;
  readonly version: 1;
  readonly occurredAt: string;
  readonly tenantId: string;
  readonly aggregate: { readonly type: 'booking' | 'invoice' | 'subscription'; readonly id: string };
  readonly correlationId: string;
  readonly causationId: string;
  readonly data: T;
}

/**
 * THE envelope builder: one integration message for the outbox, its envelope (version 1) and its
 * headers. Every producer (messagesFor, the CRM saga's scheduled retries, the bulk CRM retry)
 * goes through it, so the envelope and headers cannot drift between producers.
 */
export function integrationMessage<T>(m: {
  readonly id: string;
  readonly topic: string;
  /** Partition key (see docs/messages.md). */
  readonly key: string;
  readonly type: string;
  readonly occurredAt: Date;
  readonly tenantId: string;
  readonly aggregate: Envelope['aggregate'];
  readonly correlationId: string;
  readonly causationId: string;
  readonly data: T;
  /** Publish no earlier than this (delayed retries). */
  readonly availableAt?: Date;
}): OutboxMessage & { readonly value: Envelope<T> } {
  const value: Envelope<T> = {
    id: m.id,
    type: m.type,
    version: 1,
    occurredAt: m.occurredAt.toISOString(),
    tenantId: m.tenantId,
    aggregate: m.aggregate,
    correlationId: m.correlationId,
    causationId: m.causationId,
    data: m.data,
  };
  return {
    id: m.id,
    topic: m.topic,
    key: m.key,
    value,
    headers: { 'message-type': m.type, 'message-version': '1' },
    ...(m.availableAt ? { availableAt: m.availableAt.toISOString() } : {}),
  };
}

/** booking.paid: everything the CRM's contact booking needs. */
export interface BookingPaid {
  readonly bookingId: string;
  readonly departureId: string;
  readonly contact: { firstName: string; lastName: string; email: string; phone: string };
  readonly guests: ReadonlyArray<{ firstName: string; lastName: string; email?: string; isClient: boolean }>;
  /** Null when the booking had none: the saga then uses the departure's own schedule. */
  readonly paymentScheduleId: string | null;
  readonly amount: Money;
  readonly provider: string;
  readonly providerPaymentId: string;
}

/** booking.promoted-from-waitlist: a waitlisted booking got a seat (notify the customer). */
export interface BookingPromoted {
  readonly bookingId: string;
  readonly departureId: string | null;
  /** It was paid while it waited: it now goes through the CRM pipeline as a confirmed booking. */
  readonly paid: boolean;
  readonly contact: { firstName: string; lastName: string; email: string; phone: string } | null;
}

/** booking.crm-retry-requested / crm-sync.retry: resume the pipeline of one or many bookings. */
export interface CrmRetry {
  readonly bookingIds: readonly string[];
  /** The stage attempt number this retry is for (scheduled retries); 0 for operator retries. */
  readonly attempt: number;
  /** Scheduled retries: the round (operator retries so far) the attempt belongs to; absent means 0. */
  readonly round?: number;
}

/** payment.* and dispute.*: what finance counts. Amounts are integer minor units. */
export interface PaymentFact {
  readonly payable: { readonly type: 'booking' | 'invoice' | 'subscription'; readonly id: string };
  readonly customerId: string | null;
  readonly provider: string;
  readonly providerPaymentId: string | null;
  readonly amount: Money;
  /** Platform fee on Connect payments, when known. */
  readonly applicationFee: Money | null;
  readonly errorCode: string | null;
  readonly declineCode: string | null;
  /** The day (UTC, YYYY-MM-DD) the fact belongs to in the ledger. */
  readonly day: string;
}

export type PaymentMessageType = 'payment.succeeded' | 'payment.failed' | 'payment.refunded' | 'dispute.opened' | 'dispute.closed';

export interface EnvelopeContext {
  readonly tenantId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly now: Date;
  readonly batchRetry?: boolean;
}

type Decided = { readonly type: string; readonly data: unknown };
type D = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function factDay(d: D): string | null {
  for (const k of ['occurredAt', 'paidAt', 'failedAt', 'refundedAt', 'openedAt', 'closedAt', 'suspendedAt', 'at']) {
    const v = d[k];
    if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) return v.slice(0, 10);
  }
  return null;
}

function aggregateOf(streamId: string): { type: 'booking' | 'invoice' | 'subscription'; id: string } | null {
  const m = /^(booking|invoice|subscription)-[^.]+\.(.+)$/.exec(streamId);
  return m ? { type: m[1] as 'booking' | 'invoice' | 'subscription', id: m[2]! } : null;
}

/**
 * The messages a batch of newly decided events produces. Message ids are derived from the event
 * ids, so a replayed append (deduplicated by the store) can never enqueue a second copy.
 */
export function messagesFor(streamId: string, eventIds: readonly string[], events: readonly Decided[], ctx: EnvelopeContext, state?: unknown): OutboxMessage[] {
  const aggregate = aggregateOf(streamId);
  if (!aggregate) return [];
  const out: OutboxMessage[] = [];
  const day = ctx.now.toISOString().slice(0, 10);
  const envelope = <T>(i: number, type: string, data: T) => ({
    id: deterministicUuid(`message|${eventIds[i]}|${type}`),
    type,
    occurredAt: ctx.now,
    tenantId: ctx.tenantId,
    aggregate,
    correlationId: ctx.correlationId,
    causationId: eventIds[i]!,
    data,
  });
  const push = <T>(topic: string, e: ReturnType<typeof envelope<T>>) => out.push(integrationMessage({ ...e, topic, key: streamId }));
  const customerOf = (): string | null => {
    if (aggregate.type === 'subscription') return aggregate.id;
    const s = state as D | undefined;
    return (s?.customerId as string | undefined) ?? (s?.request?.contact?.email as string | undefined) ?? null;
  };
  const payment = (i: number, type: PaymentMessageType, d: D, extra: Partial<PaymentFact> = {}) =>
    push(
      TOPICS.payments,
      envelope<PaymentFact>(i, type, {
        payable: aggregate,
        customerId: customerOf(),
        provider: String(d.provider ?? 'stripe'),
        providerPaymentId: (d.providerPaymentId as string | undefined) ?? (d.providerInvoiceId as string | undefined) ?? null,
        amount: d.amount as Money,
        applicationFee: (d.applicationFee as Money | undefined) ?? null,
        errorCode: (d.errorCode as string | undefined) ?? null,
        declineCode: (d.declineCode as string | undefined) ?? null,
        // the day of the fact (a webhook parked overnight still lands on the day it happened)
        day: factDay(d) ?? day,
        ...extra,
      }),
    );

  const bookingPaid = (i: number, d: D) => {
    const r = (state as D | undefined)?.request as D | undefined;
    if (!r) return;
    push(
      TOPICS.bookings,
      envelope<BookingPaid>(i, 'booking.paid', {
        bookingId: aggregate.id,
        departureId: r.departureExternalId,
        contact: r.contact,
        guests: r.guests,
        paymentScheduleId: r.paymentScheduleId ?? null,
        amount: d.amount,
        provider: d.provider,
        providerPaymentId: d.providerPaymentId,
      }),
    );
  };
  /** The provider of the booking payment a refund or dispute names (older refunds name none: the kept one). */
  const bookingPaymentOf = (d: D): D | undefined => {
    const s = state as D | undefined;
    const id = (d.providerPaymentId as string | undefined) ?? (s?.payment?.providerPaymentId as string | undefined);
    return ((s?.payments as D[] | undefined) ?? []).find((p) => p.providerPaymentId === id) ?? s?.payment;
  };

  events.forEach((e, i) => {
    const d = e.data as D;
    switch (e.type) {
      case 'BookingPaymentCompleted':
        bookingPaid(i, d);
        payment(i, 'payment.succeeded', d);
        break;
      case 'BookingPromotedFromWaitlist': {
        const s = state as D | undefined;
        const r = s?.request as D | undefined;
        // the hook for telling the customer (and anyone else) that the booking got its seat
        push(TOPICS.bookings, envelope<BookingPromoted>(i, 'booking.promoted-from-waitlist', { bookingId: aggregate.id, departureId: (r?.departureExternalId as string | undefined) ?? null, paid: d.paid === true, contact: (r?.contact as BookingPromoted['contact'] | undefined) ?? null }));
        // money held while it waited: now a confirmed, paid booking that goes to the CRM
        if (d.paid === true && s?.payment) bookingPaid(i, s.payment as D);
        break;
      }
      case 'CrmStageRetryRequested':
        if (ctx.batchRetry) break; // the batch message that caused it drives the saga
        push(TOPICS.bookings, envelope<CrmRetry>(i, 'booking.crm-retry-requested', { bookingIds: [aggregate.id], attempt: 0 }));
        break;
      case 'PaymentSucceeded':
      // money received that the payable did not need is still money received: finance counts it
      // (and its refund, when it is given back); one provider payment is one payment.succeeded
      case 'PaymentAmountMismatch':
      case 'OverpaymentRecorded':
      case 'BookingPaymentMismatch':
      case 'BookingPaymentHeld':
        payment(i, 'payment.succeeded', d);
        break;
      case 'OverpaymentRefunded':
        payment(i, 'payment.refunded', d);
        break;
      case 'PaymentAttemptFailed':
      case 'BookingPaymentFailed':
        payment(i, 'payment.failed', d);
        break;
      // SubscriptionRenewed / SubscriptionPastDue / SubscriptionSuspended: the renewal's money is
      // the invoice's payment (PaymentSucceeded / PaymentAttemptFailed on the invoice stream, from
      // the same provider event). Counting the subscription fact too counted one payment twice.
      case 'RefundRecorded': {
        const s = state as D | undefined;
        const named = s?.payment as D | undefined; // the invoice's own payment (an overpayment's refund is OverpaymentRefunded)
        payment(i, 'payment.refunded', { ...d, provider: named?.provider ?? 'stripe', providerPaymentId: named?.providerPaymentId ?? null });
        break;
      }
      case 'BookingRefunded': {
        if ((d.amount as Money).amount === 0) break; // a refund the provider had already reported in a charge's total
        const p = bookingPaymentOf(d);
        payment(i, 'payment.refunded', { ...d, provider: d.provider ?? p?.provider ?? 'stripe', providerPaymentId: p?.providerPaymentId ?? null });
        break;
      }
      case 'DisputeOpened':
        payment(i, 'dispute.opened', { ...d, provider: (state as D | undefined)?.payment?.provider ?? 'stripe' });
        break;
      case 'DisputeWon':
      case 'DisputeLost':
        payment(i, 'dispute.closed', { ...d, provider: (state as D | undefined)?.payment?.provider ?? 'stripe' }, { errorCode: e.type === 'DisputeLost' ? 'lost' : 'won' });
        break;
      case 'BookingDisputeOpened':
        payment(i, 'dispute.opened', d);
        break;
      case 'BookingDisputeWon':
      case 'BookingDisputeLost':
        payment(i, 'dispute.closed', d, { errorCode: e.type === 'BookingDisputeLost' ? 'lost' : 'won' });
        break;
      default:
        break;
    }
  });
  return out;
}
