/**
 * Integration messages: what other parts of Settle and other systems learn from the event log,
 * through the transactional outbox (written in the same transaction as the events) and Kafka.
 * `messagesFor` maps newly decided domain events to messages; the command loop calls it for
 * every append, so API commands, webhooks and sagas all publish the same facts.
 *
 * Envelope (version 1): id, type, version, occurredAt, tenantId, aggregate {type, id},
 * correlationId, causationId, data; each type's schema and topic: messageContracts.ts, which
 * checks every message built here. Topics and compatibility rules: docs/messages.md.
 */
import type { OutboxMessage } from '../domain/ports/eventStore';
import type { Money } from '../domain/shared/money';
import { outboxMessage, type BookingPromoted, type DataOf, type MessageType, type PaymentFact, type PaymentMessageType } from './messageContracts';
import { deterministicUuid } from './ids';

export { TOPICS, type BookingPaid, type BookingPromoted, type CrmRetry, type Envelope, type PaymentFact, type PaymentMessageType } from './messageContracts';

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
  const push = <T extends MessageType>(i: number, type: T, data: DataOf<T>) =>
    out.push(
      outboxMessage(
        type,
        {
          id: deterministicUuid(`message|${eventIds[i]}|${type}`),
          occurredAt: ctx.now.toISOString(),
          tenantId: ctx.tenantId,
          aggregate,
          correlationId: ctx.correlationId,
          causationId: eventIds[i]!,
          data,
        },
        streamId,
      ),
    );
  // a booking has a contact, not a customer id: its email is named for what it is
  const customerId = (): string | null => (aggregate.type === 'subscription' ? aggregate.id : aggregate.type === 'invoice' ? (((state as D | undefined)?.customerId as string | null | undefined) ?? null) : null);
  const contactEmail = (): string | null => (aggregate.type === 'booking' ? (((state as D | undefined)?.request?.contact?.email as string | undefined) ?? null) : null);
  const payment = (i: number, type: PaymentMessageType, d: D, extra: Partial<PaymentFact> = {}) =>
    push(i, type, {
        payable: aggregate,
        customerId: customerId(),
        contactEmail: contactEmail(),
        provider: (d.provider ?? 'stripe') as PaymentFact['provider'],
        providerPaymentId: (d.providerPaymentId as string | undefined) ?? (d.providerInvoiceId as string | undefined) ?? null,
        amount: d.amount as Money,
        applicationFee: (d.applicationFee as Money | undefined) ?? null,
        errorCode: (d.errorCode as string | undefined) ?? null,
        declineCode: (d.declineCode as string | undefined) ?? null,
        // the day of the fact (a webhook parked overnight still lands on the day it happened)
        day: factDay(d) ?? day,
        ...extra,
      });

  const bookingPaid = (i: number, d: D) => {
    const r = (state as D | undefined)?.request as D | undefined;
    if (!r) return;
    push(i, 'booking.paid', {
        bookingId: aggregate.id,
        departureId: r.departureId,
        contact: r.contact,
        guests: r.guests,
        paymentScheduleId: r.paymentScheduleId ?? null,
        amount: d.amount,
        provider: d.provider,
        providerPaymentId: d.providerPaymentId,
      });
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
        push(i, 'booking.promoted-from-waitlist', { bookingId: aggregate.id, departureId: (r?.departureId as string | undefined) ?? null, paid: d.paid === true, contact: (r?.contact as BookingPromoted['contact'] | undefined) ?? null });
        // money held while it waited: now a confirmed, paid booking that goes to the CRM
        if (d.paid === true && s?.payment) bookingPaid(i, s.payment as D);
        break;
      }
      case 'CrmStageRetryRequested':
        if (ctx.batchRetry) break; // the batch message that caused it drives the saga
        push(i, 'booking.crm-retry-requested', { bookingIds: [aggregate.id], attempt: 0 });
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
