/**
 * Integration messages: what other parts of Settle and other systems learn from the event log,
 * through the transactional outbox (written in the same transaction as the events) and Kafka.
 * `messagesFor` maps newly decided domain events to messages, through one exhaustive map per
 * aggregate (every event type has an entry); the command loop calls it for every append, so API
 * commands, webhooks and sagas all publish the same facts.
 *
 * Envelope (version 1): id, type, version, occurredAt, tenantId, aggregate {type, id},
 * correlationId, causationId, data; each type's schema and topic: messageContracts.ts, which
 * checks every message built here. Topics and compatibility rules: docs/messages.md.
 */
import type { BookingEvent, BookingState } from '../domain/booking/booking';
import type { InvoiceEvent, InvoiceState } from '../domain/invoice/invoice';
import type { OutboxMessage } from '../domain/ports/eventStore';
import type { Money } from '../domain/shared/money';
import type { SubscriptionEvent, SubscriptionState } from '../domain/subscription/subscription';
import { outboxMessage, type DataOf, type MessageType, type PaymentFact, type PaymentMessageType } from './messageContracts';
import { deterministicUuid } from '../domain/shared/ids';

export { type BookingPaid, type BookingPromoted, type CrmRetry, type Envelope, type PaymentFact, type PaymentMessageType } from './messageContracts';

export interface EnvelopeContext {
  readonly tenantId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly now: Date;
  readonly batchRetry?: boolean;
}

type Decided = { readonly type: string; readonly data: unknown };

type AggregateType = 'booking' | 'invoice' | 'subscription';
type Aggregate = { readonly type: AggregateType; readonly id: string };

/** The day of the fact a payment message reports, from whichever time field its event carries. */
function factDay(d: object): string | null {
  const fields = d as Readonly<Record<string, unknown>>;
  for (const k of ['occurredAt', 'paidAt', 'failedAt', 'refundedAt', 'openedAt', 'closedAt', 'suspendedAt', 'at']) {
    const v = fields[k];
    if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) return v.slice(0, 10);
  }
  return null;
}

function aggregateOf(streamId: string): Aggregate | null {
  const m = /^(booking|invoice|subscription)-[^.]+\.(.+)$/.exec(streamId);
  const [, type, id] = m ?? [];
  return type !== undefined && id !== undefined ? { type: type as AggregateType, id } : null;
}

/** What a payment message is built from: an event's data, completed where the event names no provider or payment. */
interface FactSource {
  readonly provider?: PaymentFact['provider'];
  readonly providerPaymentId?: string | null;
  readonly amount: Money;
  readonly applicationFee?: Money;
  readonly errorCode?: string | null;
  readonly declineCode?: string | null;
}

/** What an event's entry can publish, for the event at one index of the batch. */
interface Emitter<S> {
  /** The aggregate's state after the whole batch. */
  readonly state: S;
  readonly aggregate: Aggregate;
  readonly ctx: EnvelopeContext;
  push<T extends MessageType>(type: T, data: DataOf<T>): void;
  payment(type: PaymentMessageType, d: FactSource & object, extra?: Partial<PaymentFact>): void;
}

/**
 * One entry per event type of an aggregate: the messages it publishes, or `null` for an event
 * that tells the outside nothing. Typed from the aggregate's event union, so a new event type
 * without an entry does not compile: every fact is placed on purpose, published or not.
 */
type MessageMap<E extends Decided, S> = { readonly [T in E['type']]: ((data: Extract<E, { type: T }>['data'], emit: Emitter<S>) => void) | null };

function bookingPaid(emit: Emitter<BookingState>, paid: { provider: PaymentFact['provider']; providerPaymentId: string; amount: Money }): void {
  const r = emit.state.request;
  if (!r) return;
  emit.push('booking.paid', {
    bookingId: emit.aggregate.id,
    departureId: r.departureId,
    contact: r.contact,
    guests: [...r.guests],
    paymentScheduleId: r.paymentScheduleId,
    amount: paid.amount,
    provider: paid.provider,
    providerPaymentId: paid.providerPaymentId,
  });
}

/** The booking payment a refund or dispute names (older refunds name none: the kept one). */
function bookingPaymentOf(s: BookingState, named: string | undefined): BookingState['payment'] {
  const id = named ?? s.payment?.providerPaymentId;
  return s.payments.find((p) => p.providerPaymentId === id) ?? s.payment;
}

const bookingMessages: MessageMap<BookingEvent, BookingState> = {
  BookingRequested: null,
  BookingWaitlisted: null,
  BookingInquiryReceived: null,
  BookingPaymentCompleted: (d, emit) => {
    bookingPaid(emit, d);
    emit.payment('payment.succeeded', d);
  },
  // money received that the booking did not take is still money received: finance counts it
  BookingPaymentMismatch: (d, emit) => {
    emit.payment('payment.succeeded', d);
  },
  BookingPaymentHeld: (d, emit) => {
    emit.payment('payment.succeeded', d);
  },
  BookingPaymentFailed: (d, emit) => {
    emit.payment('payment.failed', d);
  },
  CrmBookingCreated: null,
  CrmPaymentAssociated: null,
  CrmStageAttemptStarted: null,
  CrmStageAttemptFailed: null,
  CrmStageFailed: null,
  CrmStageRetryRequested: (_d, emit) => {
    if (emit.ctx.batchRetry) return; // the batch message that caused it drives the saga
    emit.push('booking.crm-retry-requested', { bookingIds: [emit.aggregate.id], attempt: 0 });
  },
  BookingPromotedFromWaitlist: (d, emit) => {
    const r = emit.state.request;
    // the hook for telling the customer (and anyone else) that the booking got its seat
    emit.push('booking.promoted-from-waitlist', { bookingId: emit.aggregate.id, departureId: r?.departureId ?? null, paid: d.paid, contact: r?.contact ?? null });
    // money held while it waited: now a confirmed, paid booking that goes to the CRM
    if (d.paid && emit.state.payment) bookingPaid(emit, emit.state.payment);
  },
  BookingCancelled: null,
  BookingRefunded: (d, emit) => {
    if (d.amount.amount === 0) return; // a refund the provider had already reported in a charge's total
    const p = bookingPaymentOf(emit.state, d.providerPaymentId);
    emit.payment('payment.refunded', { ...d, provider: d.provider ?? p?.provider ?? 'stripe', providerPaymentId: p?.providerPaymentId ?? null });
  },
  BookingDisputeOpened: (d, emit) => {
    emit.payment('dispute.opened', d);
  },
  BookingDisputeWon: (d, emit) => {
    emit.payment('dispute.closed', d, { errorCode: 'won' });
  },
  BookingDisputeLost: (d, emit) => {
    emit.payment('dispute.closed', d, { errorCode: 'lost' });
  },
};

const invoiceMessages: MessageMap<InvoiceEvent, InvoiceState> = {
  InvoiceIssued: null,
  ProviderInvoiceRecorded: null,
  ProviderInvoiceLinksUpdated: null,
  PaymentAttemptFailed: (d, emit) => {
    emit.payment('payment.failed', d);
  },
  PaymentAttemptPending: null,
  PaymentSucceeded: (d, emit) => {
    emit.payment('payment.succeeded', d);
  },
  InvoicePaid: null,
  // money received that the invoice did not need is still money received: finance counts it (and
  // its refund, when it is given back); one provider payment is one payment.succeeded
  PaymentAmountMismatch: (d, emit) => {
    emit.payment('payment.succeeded', d);
  },
  OverpaymentRecorded: (d, emit) => {
    emit.payment('payment.succeeded', d);
  },
  InvoiceVoided: null,
  RefundRecorded: (d, emit) => {
    const named = emit.state.payment; // the invoice's own payment (an overpayment's refund is OverpaymentRefunded)
    emit.payment('payment.refunded', { ...d, provider: named?.provider ?? 'stripe', providerPaymentId: named?.providerPaymentId ?? null });
  },
  InvoiceRefunded: null,
  OverpaymentRefunded: (d, emit) => {
    emit.payment('payment.refunded', d);
  },
  DisputeOpened: (d, emit) => {
    emit.payment('dispute.opened', { ...d, provider: emit.state.payment?.provider ?? 'stripe' });
  },
  DisputeWon: (d, emit) => {
    emit.payment('dispute.closed', { ...d, provider: emit.state.payment?.provider ?? 'stripe' }, { errorCode: 'won' });
  },
  DisputeLost: (d, emit) => {
    emit.payment('dispute.closed', { ...d, provider: emit.state.payment?.provider ?? 'stripe' }, { errorCode: 'lost' });
  },
};

/**
 * SubscriptionRenewed / SubscriptionPastDue / SubscriptionSuspended: the renewal's money is the
 * invoice's payment (PaymentSucceeded / PaymentAttemptFailed on the invoice stream, from the same
 * provider event). Counting the subscription fact too counted one payment twice.
 */
const subscriptionMessages: MessageMap<SubscriptionEvent, SubscriptionState> = {
  ProviderSubscriptionObserved: null,
  PlanChangeRefused: null,
  CheckoutSessionExpired: null,
  SubscriptionReinstated: null,
  LatePaymentNeedsAttention: null,
  CheckoutRequested: null,
  CheckoutSessionCreated: null,
  CheckoutRequestFailed: null,
  SubscriptionActivated: null,
  SubscriptionRenewed: null,
  PlanChangeRequested: null,
  PlanChanged: null,
  PlanChangeDeclined: null,
  SubscriptionPastDue: null,
  PaymentWarningNoticeRequested: null,
  SubscriptionSuspended: null,
  ProviderSubscriptionCancellationRequested: null,
  OpenInvoiceVoidRequested: null,
  SuspensionNoticeRequested: null,
  SubscriptionCancellationScheduled: null,
  SubscriptionCancelled: null,
};

/**
 * The messages a batch of newly decided events produces. Message ids are derived from the event
 * ids, so a replayed append (deduplicated by the store) can never enqueue a second copy. The stream
 * id names the aggregate, and with it the event union and state the batch was decided with.
 */
export function messagesFor(streamId: string, eventIds: readonly string[], events: readonly Decided[], ctx: EnvelopeContext, state: unknown): OutboxMessage[] {
  const aggregate = aggregateOf(streamId);
  if (!aggregate) return [];
  switch (aggregate.type) {
    case 'booking':
      // a booking has a contact, not a customer id: its email is named for what it is
      return publish(bookingMessages, streamId, aggregate, eventIds, events, ctx, state as BookingState, { customerId: null, contactEmail: (state as BookingState).request?.contact.email ?? null });
    case 'invoice':
      return publish(invoiceMessages, streamId, aggregate, eventIds, events, ctx, state as InvoiceState, { customerId: (state as InvoiceState).customerId, contactEmail: null });
    case 'subscription':
      return publish(subscriptionMessages, streamId, aggregate, eventIds, events, ctx, state as SubscriptionState, { customerId: aggregate.id, contactEmail: null });
  }
}

function publish<E extends Decided, S>(
  map: MessageMap<E, S>,
  streamId: string,
  aggregate: Aggregate,
  eventIds: readonly string[],
  events: readonly Decided[],
  ctx: EnvelopeContext,
  state: S,
  payer: Pick<PaymentFact, 'customerId' | 'contactEmail'>,
): OutboxMessage[] {
  const out: OutboxMessage[] = [];
  const day = ctx.now.toISOString().slice(0, 10);
  events.forEach((e, i) => {
    const eventId = eventIds[i];
    if (eventId === undefined) throw new Error(`messagesFor: no event id for event ${i} (${e.type}) of ${streamId}`);
    const push = <T extends MessageType>(type: T, data: DataOf<T>): void => {
      out.push(
        outboxMessage(
          type,
          { id: deterministicUuid(`message|${eventId}|${type}`), occurredAt: ctx.now.toISOString(), tenantId: ctx.tenantId, aggregate, correlationId: ctx.correlationId, causationId: eventId, data },
          streamId,
        ),
      );
    };
    const emit: Emitter<S> = {
      state,
      aggregate,
      ctx,
      push,
      payment: (type, d, extra = {}) => {
        push(type, {
          payable: aggregate,
          ...payer,
          provider: d.provider ?? 'stripe',
          providerPaymentId: d.providerPaymentId ?? null,
          amount: d.amount,
          applicationFee: d.applicationFee ?? null,
          errorCode: d.errorCode ?? null,
          declineCode: d.declineCode ?? null,
          // the day of the fact (a webhook parked overnight still lands on the day it happened)
          day: factDay(d) ?? day,
          ...extra,
        });
      },
    };
    // the map's entry for this type takes this type's data: the key and the data come from one event
    const entry = (map as Readonly<Record<string, ((data: unknown, emit: Emitter<S>) => void) | null | undefined>>)[e.type];
    entry?.(e.data, emit);
  });
  return out;
}
