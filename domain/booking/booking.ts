/**
 * Booking: one stream per booking. A booking is a staged pipeline, not one action:
 * requested -> paid -> contact booking created in the CRM -> payment associated in the CRM,
 * with every stage attempt, failure and manual retry recorded, and a human told when a stage
 * fails for good. Money facts are recorded exactly once; anything that does not add up becomes
 * an event that needs attention, never a confirmed payment.
 */
import { DomainRefusal, assertNever, type Command, type Decider } from '../shared/decider';
import { isCurrency, isMinorUnits, type Money } from '../shared/money';
import type { Placement } from './departure';

export const CRM_STAGES = ['create_contact_booking', 'associate_payment'] as const;
export type CrmStage = (typeof CRM_STAGES)[number];

export interface Contact {
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
  readonly phone: string;
}

export interface Guest {
  readonly firstName: string;
  readonly lastName: string;
  readonly email?: string;
}

export type Provider = 'stripe' | 'paypal';

export interface PaymentError {
  readonly errorCode: string | null;
  readonly declineCode: string | null;
  readonly message: string | null;
}

/** What the provider shows about a payment besides its outcome: receipt and card brand/last4 only. */
export interface PaymentExtras {
  readonly receiptUrl?: string;
  readonly card?: { readonly brand: string; readonly last4: string };
}

function extras(d: PaymentExtras): PaymentExtras {
  return {
    ...(typeof d.receiptUrl === 'string' && /^https:\/\//.test(d.receiptUrl) ? { receiptUrl: d.receiptUrl } : {}),
    ...(d.card && /^\d{4}$/.test(d.card.last4) && /^[a-z_ ]{2,30}$/i.test(d.card.brand) ? { card: { brand: d.card.brand.toLowerCase(), last4: d.card.last4 } } : {}),
  };
}

export type BookingCommand =
  | Command<
      'RequestBooking',
      {
        bookingId: string;
        tenantId: string;
        departure: { departureId: string; externalId: string; paymentScheduleId: string | null };
        placement: Placement;
        contact: Contact;
        guests: Guest[];
        price: Money;
        paymentScheduleId: string | null;
      }
    >
  | Command<'RecordPaymentCompleted', { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money } & PaymentExtras>
  | Command<'RecordPaymentFailed', { attemptId: string; provider: Provider; providerPaymentId: string; amount: Money } & PaymentError & PaymentExtras>
  | Command<'RecordCrmBookingCreated', { crmBookingId: string; crmIds: Record<string, string> }>
  | Command<'RecordCrmPaymentAssociated', { crmPaymentId: string | null }>
  | Command<'StartCrmStageAttempt', { stage: CrmStage; attempt: number; maxAttempts: number; messageId: string }>
  | Command<'RecordCrmStageAttemptFailed', { stage: CrmStage; attempt: number; error: string }>
  | Command<'RecordCrmStageFailed', { stage: CrmStage; attempts: number; lastError: string }>
  | Command<'RetryCrmStage', { requestedBy: string }>
  | Command<'CancelBooking', { reason: string }>
  | Command<'RefundBooking', { refundId: string; amount: Money; reason: string | null }>;

export type BookingEvent =
  | { type: 'BookingRequested'; data: BookingRequestedData }
  | { type: 'BookingWaitlisted'; data: BookingRequestedData }
  | { type: 'BookingInquiryReceived'; data: BookingRequestedData }
  | { type: 'BookingPaymentCompleted'; data: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; at: string } & PaymentExtras }
  | {
      type: 'BookingPaymentMismatch';
      data: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; expected: Money; reason: 'amount_or_currency' | 'already_paid' | 'booking_cancelled' | 'not_bookable'; at: string };
    }
  | { type: 'BookingPaymentFailed'; data: { attemptId: string; provider: Provider; providerPaymentId: string; amount: Money; at: string } & PaymentError & PaymentExtras }
  | { type: 'CrmBookingCreated'; data: { crmBookingId: string; crmIds: Record<string, string>; at: string } }
  | { type: 'CrmPaymentAssociated'; data: { crmBookingId: string; crmPaymentId: string | null; at: string } }
  | { type: 'CrmStageAttemptStarted'; data: { stage: CrmStage; round: number; attempt: number; messageId: string; at: string } }
  | { type: 'CrmStageAttemptFailed'; data: { stage: CrmStage; attempt: number; error: string; at: string } }
  | { type: 'CrmStageFailed'; data: { stage: CrmStage; attempts: number; lastError: string; at: string } }
  | { type: 'CrmStageRetryRequested'; data: { stage: CrmStage; requestedBy: string; at: string } }
  | { type: 'BookingCancelled'; data: { reason: string; at: string } }
  | { type: 'BookingRefunded'; data: { refundId: string; amount: Money; reason: string | null; full: boolean; at: string } };

export interface BookingRequestedData {
  readonly bookingId: string;
  readonly tenantId: string;
  readonly departureId: string;
  readonly departureExternalId: string;
  readonly contact: Contact;
  /** The first guest is the client. */
  readonly guests: ReadonlyArray<Guest & { isClient: boolean }>;
  readonly price: Money;
  /** The booking's own schedule, or the departure's when the request had none. */
  readonly paymentScheduleId: string | null;
  readonly at: string;
}

export type BookingStatus = 'none' | 'requested' | 'waitlisted' | 'inquiry' | 'paid' | 'cancelled' | 'refunded';

export interface StageState {
  /** Attempts of the current round: started ones (recorded before the CRM is called) and failed ones. */
  readonly attempts: number;
  readonly lastError: string | null;
  readonly failed: boolean;
  /** Operator retries so far: round 0 is the first run, each CrmStageRetryRequested starts the next. */
  readonly round: number;
  /** The last attempt of this round whose failure is recorded (0: none). */
  readonly lastFailedAttempt: number;
  /** Message that started the current attempt (a redelivery of it after a crash resumes that attempt). */
  readonly startedBy: string | null;
}

/** True when the current attempt of the stage was started and has no recorded outcome yet. */
export function attemptInFlight(st: StageState): boolean {
  return st.attempts > (st.lastFailedAttempt ?? st.attempts) && !st.failed;
}

export interface BookingState {
  readonly status: BookingStatus;
  readonly request: BookingRequestedData | null;
  readonly payment: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money } | null;
  readonly failedAttempts: readonly string[];
  /** Provider payment ids already recorded (completed or mismatched): exactly-once. */
  readonly seenPayments: readonly string[];
  readonly refunded: number;
  readonly refundIds: readonly string[];
  readonly crmBookingId: string | null;
  readonly crmPaymentAssociated: boolean;
  readonly stages: Readonly<Record<CrmStage, StageState>>;
  readonly needsAttention: readonly string[];
}

const freshStage: StageState = { attempts: 0, lastError: null, failed: false, round: 0, lastFailedAttempt: 0, startedBy: null };

export const initialBookingState: BookingState = {
  status: 'none',
  request: null,
  payment: null,
  failedAttempts: [],
  seenPayments: [],
  refunded: 0,
  refundIds: [],
  crmBookingId: null,
  crmPaymentAssociated: false,
  stages: { create_contact_booking: freshStage, associate_payment: freshStage },
  needsAttention: [],
};

function checkMoney(m: Money, field: string): void {
  if (!isMinorUnits(m.amount)) throw new DomainRefusal('invalid_money', `${field}.amount must be a non-negative integer of minor units`, 'invalid', { field });
  if (!isCurrency(m.currency)) throw new DomainRefusal('invalid_currency', `${field}.currency is not an ISO 4217 currency`, 'invalid', { field });
}

function mustExist(s: BookingState): asserts s is BookingState & { request: BookingRequestedData } {
  if (s.status === 'none' || !s.request) throw new DomainRefusal('booking_not_found', 'no such booking');
}

/** The stage the pipeline is at (or failed at), given what has happened. */
export function currentCrmStage(s: BookingState): CrmStage | null {
  if (s.status !== 'paid' && s.status !== 'refunded') return null;
  if (!s.crmBookingId) return 'create_contact_booking';
  if (!s.crmPaymentAssociated) return 'associate_payment';
  return null;
}

function request(c: Extract<BookingCommand, { type: 'RequestBooking' }>, s: BookingState): BookingEvent[] {
  if (s.status !== 'none') throw new DomainRefusal('booking_exists', `booking ${c.data.bookingId} already exists`);
  const d = c.data;
  if (d.guests.length === 0) throw new DomainRefusal('no_guests', 'a booking needs at least one guest (the first is the client)', 'invalid', { field: 'guests' });
  checkMoney(d.price, 'price');
  if (d.price.amount === 0 && d.placement === 'confirmed') throw new DomainRefusal('invalid_money', 'a bookable request needs a price above zero', 'invalid', { field: 'price.amount' });
  const data: BookingRequestedData = {
    bookingId: d.bookingId,
    tenantId: d.tenantId,
    departureId: d.departure.departureId,
    departureExternalId: d.departure.externalId,
    contact: d.contact,
    guests: d.guests.map((g, i) => ({ ...g, isClient: i === 0 })),
    price: d.price,
    paymentScheduleId: d.paymentScheduleId ?? d.departure.paymentScheduleId,
    at: c.metadata.now.toISOString(),
  };
  switch (d.placement) {
    case 'inquiry':
      return [{ type: 'BookingInquiryReceived', data }];
    case 'waitlisted':
      return [{ type: 'BookingWaitlisted', data }];
    case 'confirmed':
      return [{ type: 'BookingRequested', data }];
    default:
      return assertNever(d.placement, 'placement');
  }
}

function paymentCompleted(c: Extract<BookingCommand, { type: 'RecordPaymentCompleted' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  const d = c.data;
  checkMoney(d.amount, 'amount');
  if (s.seenPayments.includes(d.providerPaymentId)) return []; // the same payment again: recorded once
  const at = c.metadata.now.toISOString();
  const mismatch = (reason: Extract<BookingEvent, { type: 'BookingPaymentMismatch' }>['data']['reason']): BookingEvent[] => [
    { type: 'BookingPaymentMismatch', data: { provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId, amount: d.amount, expected: s.request.price, reason, at } },
  ];
  if (s.status === 'paid' || s.status === 'refunded') return mismatch('already_paid');
  if (s.status === 'cancelled') return mismatch('booking_cancelled');
  if (s.status === 'inquiry') return mismatch('not_bookable');
  if (d.amount.amount !== s.request.price.amount || d.amount.currency !== s.request.price.currency) return mismatch('amount_or_currency');
  return [{ type: 'BookingPaymentCompleted', data: { provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId, amount: d.amount, ...extras(d), at } }];
}

function paymentFailed(c: Extract<BookingCommand, { type: 'RecordPaymentFailed' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  checkMoney(c.data.amount, 'amount');
  if (s.failedAttempts.includes(c.data.attemptId)) return [];
  const { receiptUrl: _r, card: _c, ...failed } = c.data;
  return [{ type: 'BookingPaymentFailed', data: { ...failed, ...extras(c.data), at: c.metadata.now.toISOString() } }];
}

function crmCreated(c: Extract<BookingCommand, { type: 'RecordCrmBookingCreated' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  if (s.crmBookingId === c.data.crmBookingId) return [];
  if (s.crmBookingId) throw new DomainRefusal('crm_booking_exists', `the CRM booking ${s.crmBookingId} already exists for this booking`);
  if (s.status !== 'paid' && s.status !== 'refunded') throw new DomainRefusal('booking_not_paid', 'the CRM booking is created only after payment');
  return [{ type: 'CrmBookingCreated', data: { crmBookingId: c.data.crmBookingId, crmIds: c.data.crmIds, at: c.metadata.now.toISOString() } }];
}

function crmAssociated(c: Extract<BookingCommand, { type: 'RecordCrmPaymentAssociated' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  if (!s.crmBookingId) throw new DomainRefusal('crm_booking_missing', 'the payment cannot be associated before the CRM booking exists');
  if (s.crmPaymentAssociated) return [];
  return [{ type: 'CrmPaymentAssociated', data: { crmBookingId: s.crmBookingId, crmPaymentId: c.data.crmPaymentId, at: c.metadata.now.toISOString() } }];
}

function stageIsCurrent(s: BookingState, stage: CrmStage): void {
  const current = currentCrmStage(s);
  if (current !== stage) throw new DomainRefusal('crm_stage_not_current', `the CRM pipeline is not at stage ${stage} (it is at ${current ?? 'no stage'})`);
}

/**
 * An attempt is recorded before the CRM is called, so `attempts` counts every call made; the
 * attempt budget of a round is enforced here.
 */
function startAttempt(c: Extract<BookingCommand, { type: 'StartCrmStageAttempt' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  const st = s.stages[c.data.stage];
  if (!Number.isSafeInteger(c.data.attempt) || c.data.attempt < 1) throw new DomainRefusal('invalid_attempt', 'attempt numbers start at 1', 'invalid');
  if (c.data.attempt <= st.attempts) return []; // already started (by this or another delivery)
  stageIsCurrent(s, c.data.stage);
  if (st.failed) throw new DomainRefusal('crm_stage_failed', `stage ${c.data.stage} failed; an operator retry reopens it`);
  if (c.data.attempt !== st.attempts + 1) throw new DomainRefusal('invalid_attempt', `the next attempt of ${c.data.stage} is ${st.attempts + 1}`, 'invalid');
  if (c.data.attempt > c.data.maxAttempts) throw new DomainRefusal('crm_attempts_exhausted', `stage ${c.data.stage} has used its ${c.data.maxAttempts} attempts in this round`);
  return [{ type: 'CrmStageAttemptStarted', data: { stage: c.data.stage, round: st.round, attempt: c.data.attempt, messageId: c.data.messageId, at: c.metadata.now.toISOString() } }];
}

function stageAttemptFailed(c: Extract<BookingCommand, { type: 'RecordCrmStageAttemptFailed' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  if (!Number.isSafeInteger(c.data.attempt) || c.data.attempt < 1) throw new DomainRefusal('invalid_attempt', 'attempt numbers start at 1', 'invalid');
  if (c.data.attempt <= s.stages[c.data.stage].lastFailedAttempt) return []; // this failure is already recorded
  stageIsCurrent(s, c.data.stage);
  return [{ type: 'CrmStageAttemptFailed', data: { ...c.data, at: c.metadata.now.toISOString() } }];
}

function stageFailed(c: Extract<BookingCommand, { type: 'RecordCrmStageFailed' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  if (s.stages[c.data.stage].failed) return [];
  stageIsCurrent(s, c.data.stage);
  return [{ type: 'CrmStageFailed', data: { ...c.data, at: c.metadata.now.toISOString() } }];
}

function retryStage(c: Extract<BookingCommand, { type: 'RetryCrmStage' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  const failed = CRM_STAGES.find((st) => s.stages[st].failed);
  if (!failed) throw new DomainRefusal('nothing_to_retry', 'no CRM stage of this booking has failed');
  return [{ type: 'CrmStageRetryRequested', data: { stage: failed, requestedBy: c.data.requestedBy, at: c.metadata.now.toISOString() } }];
}

function cancel(c: Extract<BookingCommand, { type: 'CancelBooking' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  if (s.status === 'cancelled') return [];
  if (s.status === 'paid' || s.status === 'refunded') throw new DomainRefusal('booking_paid', 'a paid booking cannot be cancelled; refund it instead');
  return [{ type: 'BookingCancelled', data: { reason: c.data.reason, at: c.metadata.now.toISOString() } }];
}

function refund(c: Extract<BookingCommand, { type: 'RefundBooking' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  checkMoney(c.data.amount, 'amount');
  if (s.refundIds.includes(c.data.refundId)) return [];
  if (!s.payment || (s.status !== 'paid' && s.status !== 'refunded')) throw new DomainRefusal('booking_not_paid', 'only a paid booking can be refunded');
  if (c.data.amount.currency !== s.payment.amount.currency) throw new DomainRefusal('currency_mismatch', `refunds are in ${s.payment.amount.currency}`, 'invalid', { field: 'amount.currency' });
  if (c.data.amount.amount <= 0) throw new DomainRefusal('invalid_money', 'a refund must be above zero', 'invalid', { field: 'amount.amount' });
  const left = s.payment.amount.amount - s.refunded;
  if (c.data.amount.amount > left) throw new DomainRefusal('refund_exceeds_paid', `at most ${left} minor units can still be refunded`, 'invalid', { refundable: left });
  return [
    { type: 'BookingRefunded', data: { refundId: c.data.refundId, amount: c.data.amount, reason: c.data.reason, full: c.data.amount.amount === left, at: c.metadata.now.toISOString() } },
  ];
}

function withoutAttention(s: BookingState, key: string): readonly string[] {
  return s.needsAttention.filter((k) => k !== key);
}

export const bookingDecider: Decider<BookingCommand, BookingEvent, BookingState> = {
  initialState: initialBookingState,
  decide(command, state) {
    switch (command.type) {
      case 'RequestBooking':
        return request(command, state);
      case 'RecordPaymentCompleted':
        return paymentCompleted(command, state);
      case 'RecordPaymentFailed':
        return paymentFailed(command, state);
      case 'RecordCrmBookingCreated':
        return crmCreated(command, state);
      case 'RecordCrmPaymentAssociated':
        return crmAssociated(command, state);
      case 'StartCrmStageAttempt':
        return startAttempt(command, state);
      case 'RecordCrmStageAttemptFailed':
        return stageAttemptFailed(command, state);
      case 'RecordCrmStageFailed':
        return stageFailed(command, state);
      case 'RetryCrmStage':
        return retryStage(command, state);
      case 'CancelBooking':
        return cancel(command, state);
      case 'RefundBooking':
        return refund(command, state);
      default:
        return assertNever(command, 'booking command');
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case 'BookingRequested':
        return { ...s, status: 'requested', request: e.data };
      case 'BookingWaitlisted':
        return { ...s, status: 'waitlisted', request: e.data };
      case 'BookingInquiryReceived':
        return { ...s, status: 'inquiry', request: e.data };
      case 'BookingPaymentCompleted':
        return {
          ...s,
          status: 'paid',
          payment: { provider: e.data.provider, providerPaymentId: e.data.providerPaymentId, providerChargeId: e.data.providerChargeId, amount: e.data.amount },
          seenPayments: [...s.seenPayments, e.data.providerPaymentId],
        };
      case 'BookingPaymentMismatch':
        return { ...s, seenPayments: [...s.seenPayments, e.data.providerPaymentId], needsAttention: [...s.needsAttention, `payment:${e.data.providerPaymentId}`] };
      case 'BookingPaymentFailed':
        return { ...s, failedAttempts: [...s.failedAttempts, e.data.attemptId] };
      case 'CrmBookingCreated':
        return {
          ...s,
          crmBookingId: e.data.crmBookingId,
          stages: { ...s.stages, create_contact_booking: { ...s.stages.create_contact_booking, failed: false } },
          needsAttention: withoutAttention(s, 'crm:create_contact_booking'),
        };
      case 'CrmPaymentAssociated':
        return {
          ...s,
          crmPaymentAssociated: true,
          stages: { ...s.stages, associate_payment: { ...s.stages.associate_payment, failed: false } },
          needsAttention: withoutAttention(s, 'crm:associate_payment'),
        };
      case 'CrmStageAttemptStarted':
        return { ...s, stages: { ...s.stages, [e.data.stage]: { ...s.stages[e.data.stage], attempts: e.data.attempt, startedBy: e.data.messageId } } };
      case 'CrmStageAttemptFailed': {
        const st = s.stages[e.data.stage];
        return {
          ...s,
          stages: { ...s.stages, [e.data.stage]: { ...st, attempts: Math.max(st.attempts, e.data.attempt), lastFailedAttempt: e.data.attempt, lastError: e.data.error, startedBy: null } },
        };
      }
      case 'CrmStageFailed':
        return {
          ...s,
          stages: { ...s.stages, [e.data.stage]: { ...s.stages[e.data.stage], failed: true, lastError: e.data.lastError } },
          needsAttention: [...withoutAttention(s, `crm:${e.data.stage}`), `crm:${e.data.stage}`],
        };
      case 'CrmStageRetryRequested':
        // a manual retry starts the stage's attempt budget again, as the next round
        return {
          ...s,
          stages: {
            ...s.stages,
            [e.data.stage]: { attempts: 0, lastError: s.stages[e.data.stage].lastError, failed: false, round: (s.stages[e.data.stage].round ?? 0) + 1, lastFailedAttempt: 0, startedBy: null },
          },
          needsAttention: withoutAttention(s, `crm:${e.data.stage}`),
        };
      case 'BookingCancelled':
        return { ...s, status: 'cancelled' };
      case 'BookingRefunded':
        return { ...s, status: e.data.full ? 'refunded' : s.status, refunded: s.refunded + e.data.amount.amount, refundIds: [...s.refundIds, e.data.refundId] };
      default:
        return assertNever(e, 'booking event');
    }
  },
};
