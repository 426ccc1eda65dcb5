/**
 * Booking: one stream per booking. A booking is a staged pipeline, not one action:
 * requested -> paid -> contact booking created in the CRM -> payment associated in the CRM,
 * with every stage attempt, failure and manual retry recorded, and a human told when a stage
 * fails for good. Money facts are recorded exactly once; anything that does not add up becomes
 * an event that needs attention, never a confirmed payment.
 */
import { DomainRefusal, assertNever, type Command, type Decider } from '../shared/decider';
import { isCurrency, isMinorUnits, percentOf, type Money } from '../shared/money';
import { checkSchedule, type PaymentSchedule, type Placement } from './departure';

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
        departure: { departureId: string; externalId: string; paymentScheduleId: string | null; schedule?: PaymentSchedule | null };
        placement: Placement;
        contact: Contact;
        guests: Guest[];
        price: Money;
        paymentScheduleId: string | null;
        /** Overrides the departure's deposit / balance schedule. */
        schedule?: PaymentSchedule | null;
      }
    >
  | Command<'RecordPaymentCompleted', { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money } & PaymentExtras>
  | Command<'RecordPaymentFailed', { attemptId: string; provider: Provider; providerPaymentId: string; amount: Money } & PaymentError & PaymentExtras>
  | Command<'RecordCrmBookingCreated', { crmBookingId: string; crmIds: Record<string, string> }>
  | Command<'RecordCrmPaymentAssociated', { crmPaymentId: string | null; providerPaymentId?: string }>
  | Command<'StartCrmStageAttempt', { stage: CrmStage; attempt: number; maxAttempts: number; messageId: string }>
  | Command<'RecordCrmStageAttemptFailed', { stage: CrmStage; attempt: number; error: string }>
  | Command<'RecordCrmStageFailed', { stage: CrmStage; attempts: number; lastError: string }>
  | Command<'RetryCrmStage', { requestedBy: string }>
  | Command<'CancelBooking', { reason: string }>
  | Command<'RefundBooking', { refundId: string; amount: Money; reason: string | null }>
  /**
   * Refunds the provider reports for ONE payment (a Stripe charge / payment intent): refunds known
   * by id and, from `charge.refunded`, the charge's cumulative `amount_refunded`. Applied to the
   * payment they name, never to whichever payment the booking kept.
   */
  | Command<
      'RecordProviderRefunds',
      { provider: Provider; providerPaymentId: string | null; providerChargeId: string | null; currency: string; refunds: Array<{ refundId: string; amount: number }>; refundedTotal: number | null; reason: string | null }
    >
  | Command<'OpenBookingDispute', { disputeId: string; provider: Provider; providerPaymentId: string | null; providerChargeId: string | null; amount: Money; reason: string }>
  | Command<'CloseBookingDispute', { disputeId: string; outcome: 'won' | 'lost' }>
  /** The departure gave this waitlisted booking a seat (oldest waitlisted first). */
  | Command<'PromoteFromWaitlist', { seats: number }>;

export type BookingEvent =
  | { type: 'BookingRequested'; data: BookingRequestedData }
  | { type: 'BookingWaitlisted'; data: BookingRequestedData }
  | { type: 'BookingInquiryReceived'; data: BookingRequestedData }
  | {
      type: 'BookingPaymentCompleted';
      /** `part`: on a booking with a schedule, the deposit, the balance, or the full price at once (absent: no schedule). */
      data: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; part?: PaymentPart; at: string } & PaymentExtras;
    }
  | {
      type: 'BookingPaymentMismatch';
      data: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; expected: Money; reason: 'amount_or_currency' | 'already_paid' | 'booking_cancelled' | 'not_bookable'; at: string };
    }
  | { type: 'BookingPaymentFailed'; data: { attemptId: string; provider: Provider; providerPaymentId: string; amount: Money; at: string } & PaymentError & PaymentExtras }
  | { type: 'CrmBookingCreated'; data: { crmBookingId: string; crmIds: Record<string, string>; at: string } }
  /** One payment associated (events recorded before deposits name no payment: the booking's only one). */
  | { type: 'CrmPaymentAssociated'; data: { crmBookingId: string; crmPaymentId: string | null; providerPaymentId?: string; at: string } }
  | { type: 'CrmStageAttemptStarted'; data: { stage: CrmStage; round: number; attempt: number; messageId: string; at: string } }
  | { type: 'CrmStageAttemptFailed'; data: { stage: CrmStage; attempt: number; error: string; at: string } }
  | { type: 'CrmStageFailed'; data: { stage: CrmStage; attempts: number; lastError: string; at: string } }
  | { type: 'CrmStageRetryRequested'; data: { stage: CrmStage; requestedBy: string; at: string } }
  /** Money for a booking still on the waitlist: held for a human, no seat, not sent to the CRM. */
  | { type: 'BookingPaymentHeld'; data: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; reason: 'waitlisted'; at: string } & PaymentExtras }
  | { type: 'BookingPromotedFromWaitlist'; data: { seats: number; paid: boolean; at: string } }
  | { type: 'BookingCancelled'; data: { reason: string; at: string } }
  | { type: 'BookingRefunded'; data: BookingRefundedData }
  | { type: 'BookingDisputeOpened'; data: { disputeId: string; provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; reason: string; at: string } }
  | { type: 'BookingDisputeWon'; data: { disputeId: string; provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; at: string } }
  | { type: 'BookingDisputeLost'; data: { disputeId: string; provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money; at: string } };

/**
 * A refund, applied to one payment. `amount` is what it adds to that payment's refunded total
 * (what finance counts); it can be less than the refund itself when the provider had already
 * reported it in a charge's cumulative total. Events recorded before refunds named their payment
 * carry no `providerPaymentId`: they apply to the booking's kept payment.
 */
export interface BookingRefundedData {
  readonly refundId: string;
  readonly amount: Money;
  readonly reason: string | null;
  /** The booking's kept payment is now fully refunded (the booking ends: status refunded). */
  readonly full: boolean;
  readonly at: string;
  readonly provider?: Provider;
  readonly providerPaymentId?: string;
  readonly providerChargeId?: string | null;
  /** The refund's own amount (minor units), when it is known by id. */
  readonly refundAmount?: number;
  /** Set instead when this records the provider's cumulative refunded total of the payment. */
  readonly reportedTotal?: number;
}

export type PaymentPart = 'deposit' | 'balance' | 'full';

/** The schedule a booking was requested under, resolved to money and an instant. */
export interface ResolvedSchedule {
  readonly source: 'booking' | 'departure';
  readonly deposit: Money;
  /** The balance (price - deposit) is overdue after this instant. */
  readonly balanceDueAt: string;
}

/**
 * The stored data of BookingRequested / BookingWaitlisted / BookingInquiryReceived. The departure
 * is named twice under its historical field names: `departureExternalId` is the departure's id
 * (the API's `departureId` and the departure stream's key) and `departureId` repeats it (every
 * event Settle writes has both equal). Code reads a `BookingRequest` (`requestOf`), where it is
 * `departureId` only.
 */
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
  /** Deposit and balance, when the booking or its departure declared them (absent: full price at once). */
  readonly schedule?: ResolvedSchedule;
  readonly at: string;
}

/** A booking's request as code reads it: the departure is `departureId` (the stream key), one name. */
export type BookingRequest = Omit<BookingRequestedData, 'departureExternalId'>;

/** Upcasts stored request data: `departureId` becomes the departure's id, stored as `departureExternalId`. */
export function requestOf(data: BookingRequestedData): BookingRequest {
  const { departureExternalId, ...rest } = data;
  return { ...rest, departureId: departureExternalId };
}

export type BookingStatus = 'none' | 'requested' | 'waitlisted' | 'inquiry' | 'deposit_paid' | 'paid' | 'cancelled' | 'refunded';

export interface StageState {
  /** Attempts of the current round: started ones (recorded before the CRM is called) and failed ones. */
  readonly attempts: number;
  readonly lastError: string | null;
  readonly failed: boolean;
  /**
   * Round of the stage: round 0 is the first run; each CrmStageRetryRequested starts the next, and
   * so does each further payment to associate (a balance after its deposit): a fresh attempt budget.
   */
  readonly round: number;
  /** The last attempt of this round whose failure is recorded (0: none). */
  readonly lastFailedAttempt: number;
  /** Message that started the current attempt (a redelivery of it after a crash resumes that attempt). */
  readonly startedBy: string | null;
}

/** True when the current attempt of the stage was started and has no recorded outcome yet. */
export function attemptInFlight(st: StageState): boolean {
  return st.attempts > st.lastFailedAttempt && !st.failed;
}

/** One provider payment received for this booking (the kept one, or a duplicate / mismatch). */
export interface ReceivedPayment {
  readonly provider: Provider;
  readonly providerPaymentId: string;
  readonly providerChargeId: string | null;
  readonly amount: Money;
  /** The payment that pays the booking (false: a duplicate or mismatch that needs a refund). */
  readonly kept: boolean;
  /** Refunds known by id -> amount (minor units). */
  readonly refunds: Readonly<Record<string, number>>;
  /** The highest cumulative refunded total the provider reported for it. */
  readonly reportedRefunded: number;
  /** max(reportedRefunded, sum of refunds): converges whatever order the reports come in. */
  readonly refunded: number;
}

export interface BookingDispute {
  readonly disputeId: string;
  readonly providerPaymentId: string;
  readonly amount: Money;
  readonly reason: string;
  readonly status: 'open' | 'won' | 'lost';
  readonly openedAt: string;
  readonly closedAt: string | null;
}

export interface BookingState {
  readonly status: BookingStatus;
  readonly request: BookingRequest | null;
  readonly payment: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money } | null;
  /** Every payment received, kept or not, each with its own refunds. */
  readonly payments: readonly ReceivedPayment[];
  readonly disputes: readonly BookingDispute[];
  /** When the departure gave this booking a seat after it waited on the waitlist. */
  readonly promotedAt: string | null;
  readonly failedAttempts: readonly string[];
  /** Provider payment ids already recorded (completed or mismatched): exactly-once. */
  readonly seenPayments: readonly string[];
  readonly refunded: number;
  readonly refundIds: readonly string[];
  readonly crmBookingId: string | null;
  /** Every kept payment is associated in the CRM. */
  readonly crmPaymentAssociated: boolean;
  /** Provider payment ids associated in the CRM, each once. */
  readonly crmAssociatedPayments: readonly string[];
  readonly stages: Readonly<Record<CrmStage, StageState>>;
  readonly needsAttention: readonly string[];
}

const freshStage: StageState = { attempts: 0, lastError: null, failed: false, round: 0, lastFailedAttempt: 0, startedBy: null };

export const initialBookingState: BookingState = {
  status: 'none',
  request: null,
  payment: null,
  payments: [],
  disputes: [],
  promotedAt: null,
  failedAttempts: [],
  seenPayments: [],
  refunded: 0,
  refundIds: [],
  crmBookingId: null,
  crmPaymentAssociated: false,
  crmAssociatedPayments: [],
  stages: { create_contact_booking: freshStage, associate_payment: freshStage },
  needsAttention: [],
};

function checkMoney(m: Money, field: string): void {
  if (!isMinorUnits(m.amount)) throw new DomainRefusal('invalid_money', `${field}.amount must be a non-negative integer of minor units`, 'invalid', { field });
  if (!isCurrency(m.currency)) throw new DomainRefusal('invalid_currency', `${field}.currency is not an ISO 4217 currency`, 'invalid', { field });
}

function mustExist(s: BookingState): asserts s is BookingState & { request: BookingRequest } {
  if (s.status === 'none' || !s.request) throw new DomainRefusal('booking_not_found', 'no such booking');
}

/** The stage the pipeline is at (or failed at), given what has happened. */
export function currentCrmStage(s: BookingState): CrmStage | null {
  if (s.status !== 'paid' && s.status !== 'refunded' && s.status !== 'deposit_paid') return null;
  if (!s.crmBookingId) return 'create_contact_booking';
  if (paymentToAssociate(s)) return 'associate_payment';
  return null;
}

/** Payments that pay the booking (the deposit and the balance, or the full price; not mismatches). */
export function keptPayments(s: BookingState): readonly ReceivedPayment[] {
  return s.payments.filter((p) => p.kept);
}

/** The next kept payment the CRM does not have yet (oldest first), or null. */
export function paymentToAssociate(s: BookingState): ReceivedPayment | null {
  if (s.crmPaymentAssociated) return null;
  return keptPayments(s).find((p) => !s.crmAssociatedPayments.includes(p.providerPaymentId)) ?? null;
}

/**
 * The deposit and balance due instant of a schedule for a price: the deposit in the price's
 * currency (a percentage rounds half up to its minor unit), above zero and below the price.
 */
export function resolveSchedule(p: PaymentSchedule, price: Money, source: 'booking' | 'departure', requestedAt: Date): ResolvedSchedule {
  const field = source === 'booking' ? 'schedule' : 'departure.schedule';
  checkSchedule(p, field);
  let deposit: Money;
  if ('amount' in p.deposit) {
    if (p.deposit.amount.currency !== price.currency) throw new DomainRefusal('invalid_schedule', `the deposit must be in the booking's currency (${price.currency})`, 'invalid', { field: `${field}.deposit.amount.currency` });
    deposit = p.deposit.amount;
  } else {
    deposit = percentOf(price, p.deposit.percent);
  }
  if (deposit.amount <= 0 || deposit.amount >= price.amount) {
    throw new DomainRefusal('invalid_schedule', `the deposit (${deposit.amount} minor units) must be above zero and below the price (${price.amount})`, 'invalid', { field: `${field}.deposit` });
  }
  const balanceDueAt =
    p.balanceDueDays !== undefined
      ? new Date(requestedAt.getTime() + p.balanceDueDays * 86_400_000).toISOString()
      : new Date(Date.parse(`${p.balanceDueDate}T00:00:00Z`) + 86_400_000).toISOString(); // due by the end of that day (UTC)
  return { source, deposit, balanceDueAt };
}

/** The sum of the kept payments, in the price's currency. */
function paidSoFar(s: BookingState): number {
  return keptPayments(s).reduce((a, p) => a + p.amount.amount, 0);
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
    ...(d.schedule ? { schedule: resolveSchedule(d.schedule, d.price, 'booking', c.metadata.now) } : d.departure.schedule ? { schedule: resolveSchedule(d.departure.schedule, d.price, 'departure', c.metadata.now) } : {}),
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
  const price = s.request.price;
  const mismatch = (reason: Extract<BookingEvent, { type: 'BookingPaymentMismatch' }>['data']['reason'], expected: Money = price): BookingEvent[] => [
    { type: 'BookingPaymentMismatch', data: { provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId, amount: d.amount, expected, reason, at } },
  ];
  if (s.status === 'paid' || s.status === 'refunded') return mismatch('already_paid');
  if (s.status === 'cancelled') return mismatch('booking_cancelled');
  if (s.status === 'inquiry') return mismatch('not_bookable');
  const completed = (part: PaymentPart | undefined): BookingEvent[] => [
    { type: 'BookingPaymentCompleted', data: { provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId, amount: d.amount, ...(part ? { part } : {}), ...extras(d), at } },
  ];
  const schedule = s.request.schedule;
  if (s.status === 'deposit_paid') {
    // only the exact remaining balance completes the booking; anything else needs a human
    const balance: Money = { amount: price.amount - paidSoFar(s), currency: price.currency };
    if (d.amount.currency !== balance.currency || d.amount.amount !== balance.amount) return mismatch('amount_or_currency', balance);
    return completed('balance');
  }
  if (s.status === 'requested' && schedule && d.amount.currency === price.currency && d.amount.amount === schedule.deposit.amount) return completed('deposit');
  if (d.amount.amount !== price.amount || d.amount.currency !== price.currency) return mismatch('amount_or_currency');
  if (s.status === 'waitlisted') {
    // the price is held once: a second payment of it is a duplicate that needs a refund (it was
    // kept too, so a promotion paid the booking twice and told the CRM of both)
    if (keptPayments(s).length > 0) return mismatch('already_paid');
    // no seat yet: the money is held for a human and the booking stays waitlisted (no CRM booking)
    return [{ type: 'BookingPaymentHeld', data: { provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId, amount: d.amount, reason: 'waitlisted', ...extras(d), at } }];
  }
  return completed(schedule ? 'full' : undefined);
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
  if (s.status !== 'paid' && s.status !== 'refunded' && s.status !== 'deposit_paid') throw new DomainRefusal('booking_not_paid', 'the CRM booking is created only after payment (or its deposit)');
  return [{ type: 'CrmBookingCreated', data: { crmBookingId: c.data.crmBookingId, crmIds: c.data.crmIds, at: c.metadata.now.toISOString() } }];
}

function crmAssociated(c: Extract<BookingCommand, { type: 'RecordCrmPaymentAssociated' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  if (!s.crmBookingId) throw new DomainRefusal('crm_booking_missing', 'the payment cannot be associated before the CRM booking exists');
  // each payment once: an association already recorded (or nothing left to associate) is a no-op
  const named = c.data.providerPaymentId;
  if (named !== undefined && s.crmAssociatedPayments.includes(named)) return [];
  const next = named !== undefined ? keptPayments(s).find((p) => p.providerPaymentId === named) : paymentToAssociate(s);
  if (!next) {
    if (named === undefined) return [];
    throw new DomainRefusal('payment_not_recorded', `no payment ${named} of this booking can be associated`);
  }
  return [{ type: 'CrmPaymentAssociated', data: { crmBookingId: s.crmBookingId, crmPaymentId: c.data.crmPaymentId, providerPaymentId: next.providerPaymentId, at: c.metadata.now.toISOString() } }];
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
  if (s.status === 'paid' || s.status === 'refunded' || s.status === 'deposit_paid') throw new DomainRefusal('booking_paid', 'a paid booking (or one whose deposit is paid) cannot be cancelled; refund it instead');
  if (s.status === 'waitlisted' && s.payment) throw new DomainRefusal('booking_paid', 'this waitlisted booking holds a payment; refund it instead');
  return [{ type: 'BookingCancelled', data: { reason: c.data.reason, at: c.metadata.now.toISOString() } }];
}

/** The kept payment's record (the one that pays the booking). */
function keptPayment(s: BookingState): ReceivedPayment | null {
  const kept = s.payment;
  return kept ? (s.payments.find((p) => p.providerPaymentId === kept.providerPaymentId) ?? null) : null;
}

/** The payment a provider refund or dispute names: by charge first, then by payment (intent) id. */
function paymentNamed(s: BookingState, providerPaymentId: string | null, providerChargeId: string | null): ReceivedPayment | null {
  return (
    (providerChargeId ? s.payments.find((p) => p.providerChargeId === providerChargeId || p.providerPaymentId === providerChargeId) : undefined) ??
    (providerPaymentId ? s.payments.find((p) => p.providerPaymentId === providerPaymentId) : undefined) ??
    null
  );
}

/** The payment after one refund: refunded = max(highest reported total, sum of refunds known by id). */
function withRefund(p: ReceivedPayment, d: Pick<BookingRefundedData, 'refundId' | 'amount' | 'refundAmount' | 'reportedTotal'>): ReceivedPayment {
  const refunds = d.reportedTotal !== undefined ? p.refunds : { ...p.refunds, [d.refundId]: d.refundAmount ?? d.amount.amount };
  const reportedRefunded = d.reportedTotal !== undefined ? Math.max(p.reportedRefunded, d.reportedTotal) : p.reportedRefunded;
  const byId = Object.values(refunds).reduce((a, b) => a + b, 0);
  return { ...p, refunds, reportedRefunded, refunded: Math.max(reportedRefunded, byId) };
}

/** With `after` replacing its payment: every kept payment is refunded in full (the booking ends). */
function allRefunded(s: BookingState, after: ReceivedPayment): boolean {
  return keptPayments(s).every((p) => (p.providerPaymentId === after.providerPaymentId ? after : p).refunded >= p.amount.amount);
}

/** What disputes hold of a payment (open or lost): it cannot be refunded as well. */
function disputedOf(s: BookingState, providerPaymentId: string): number {
  return s.disputes.filter((d) => d.providerPaymentId === providerPaymentId && d.status !== 'won').reduce((a, d) => a + d.amount.amount, 0);
}

function refund(c: Extract<BookingCommand, { type: 'RefundBooking' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  checkMoney(c.data.amount, 'amount');
  if (s.refundIds.includes(c.data.refundId)) return [];
  const keptOnes = keptPayments(s);
  if (!s.payment || keptOnes.length === 0) throw new DomainRefusal('booking_not_paid', 'only a paid booking can be refunded');
  if (c.data.amount.currency !== s.payment.amount.currency) throw new DomainRefusal('currency_mismatch', `refunds are in ${s.payment.amount.currency}`, 'invalid', { field: 'amount.currency' });
  if (c.data.amount.amount <= 0) throw new DomainRefusal('invalid_money', 'a refund must be above zero', 'invalid', { field: 'amount.amount' });
  // one refund goes back on one payment (a provider refunds one charge): the latest kept payment
  // that can take it all (a booking paid by deposit and balance has two)
  const leftOf = (p: ReceivedPayment) => p.amount.amount - p.refunded - disputedOf(s, p.providerPaymentId);
  const kept = [...keptOnes].reverse().find((p) => leftOf(p) >= c.data.amount.amount);
  if (!kept) {
    const left = Math.max(...keptOnes.map(leftOf));
    throw new DomainRefusal('refund_exceeds_paid', `at most ${left} minor units can still be refunded${keptOnes.length > 1 ? ' in one refund (one payment)' : ''}`, 'invalid', { refundable: left });
  }
  const data = { refundId: c.data.refundId, amount: c.data.amount, refundAmount: c.data.amount.amount };
  const after = withRefund(kept, data);
  return [
    {
      type: 'BookingRefunded',
      data: {
        ...data,
        reason: c.data.reason,
        full: allRefunded(s, after),
        provider: kept.provider,
        providerPaymentId: kept.providerPaymentId,
        providerChargeId: kept.providerChargeId,
        at: c.metadata.now.toISOString(),
      },
    },
  ];
}

function providerRefunds(c: Extract<BookingCommand, { type: 'RecordProviderRefunds' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  const d = c.data;
  const named = paymentNamed(s, d.providerPaymentId, d.providerChargeId);
  // the payment is not recorded yet (its webhook comes later): "not yet", the event waits
  if (!named) throw new DomainRefusal('payment_not_recorded', `no payment ${d.providerChargeId ?? d.providerPaymentId} is recorded on this booking yet`);
  if (d.currency !== named.amount.currency) throw new DomainRefusal('currency_mismatch', `refunds of this payment are in ${named.amount.currency}`, 'invalid');
  const at = c.metadata.now.toISOString();
  const out: BookingEvent[] = [];
  let p = named;
  const record = (refund: Pick<BookingRefundedData, 'refundId' | 'refundAmount' | 'reportedTotal'>) => {
    const probe = withRefund(p, { ...refund, amount: { amount: 0, currency: p.amount.currency } });
    if (probe.refunded > p.amount.amount) throw new DomainRefusal('refund_exceeds_paid', `refunds of ${p.providerPaymentId} would exceed what it paid`, 'invalid', { refundable: p.amount.amount - p.refunded });
    const delta = probe.refunded - p.refunded;
    out.push({
      type: 'BookingRefunded',
      data: {
        refundId: refund.refundId,
        amount: { amount: delta, currency: p.amount.currency },
        ...(refund.refundAmount !== undefined ? { refundAmount: refund.refundAmount } : {}),
        ...(refund.reportedTotal !== undefined ? { reportedTotal: refund.reportedTotal } : {}),
        reason: d.reason,
        full: p.kept && allRefunded(s, probe),
        provider: p.provider,
        providerPaymentId: p.providerPaymentId,
        providerChargeId: p.providerChargeId,
        at,
      },
    });
    p = probe;
  };
  for (const r of d.refunds) {
    if (r.refundId in p.refunds || s.refundIds.includes(r.refundId)) continue; // known: counted once
    if (!isMinorUnits(r.amount) || r.amount === 0) throw new DomainRefusal('invalid_money', 'a refund amount must be a positive integer of minor units', 'invalid');
    record({ refundId: r.refundId, refundAmount: r.amount });
  }
  if (d.refundedTotal !== null) {
    if (!isMinorUnits(d.refundedTotal)) throw new DomainRefusal('invalid_money', 'the refunded total must be a non-negative integer of minor units', 'invalid');
    // a cumulative total at or below what is already counted is an older (or repeated) report
    if (d.refundedTotal > p.refunded) record({ refundId: `${p.providerChargeId ?? p.providerPaymentId}:refunded:${d.refundedTotal}`, reportedTotal: d.refundedTotal });
  }
  return out;
}

function openDispute(c: Extract<BookingCommand, { type: 'OpenBookingDispute' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  const d = c.data;
  if (s.disputes.some((x) => x.disputeId === d.disputeId)) return [];
  checkMoney(d.amount, 'amount');
  const p = paymentNamed(s, d.providerPaymentId, d.providerChargeId);
  if (!p) throw new DomainRefusal('payment_not_recorded', `no payment ${d.providerChargeId ?? d.providerPaymentId} is recorded on this booking yet`);
  if (d.amount.currency !== p.amount.currency) throw new DomainRefusal('currency_mismatch', `disputes of this payment are in ${p.amount.currency}`, 'invalid');
  if (d.amount.amount <= 0 || d.amount.amount > p.amount.amount) throw new DomainRefusal('dispute_exceeds_paid', 'a dispute must be above zero and at most what the payment paid', 'invalid');
  return [{ type: 'BookingDisputeOpened', data: { disputeId: d.disputeId, provider: p.provider, providerPaymentId: p.providerPaymentId, providerChargeId: p.providerChargeId, amount: d.amount, reason: d.reason, at: c.metadata.now.toISOString() } }];
}

function closeDispute(c: Extract<BookingCommand, { type: 'CloseBookingDispute' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  const dispute = s.disputes.find((x) => x.disputeId === c.data.disputeId);
  if (!dispute) throw new DomainRefusal('unknown_dispute', `no dispute ${c.data.disputeId} on this booking`);
  if (dispute.status !== 'open') {
    if (dispute.status === c.data.outcome) return [];
    throw new DomainRefusal('dispute_already_closed', `dispute ${dispute.disputeId} was already closed as ${dispute.status}`);
  }
  const p = s.payments.find((x) => x.providerPaymentId === dispute.providerPaymentId);
  if (!p) throw new Error(`dispute ${dispute.disputeId} names payment ${dispute.providerPaymentId}, which this booking does not hold`);
  const data = { disputeId: dispute.disputeId, provider: p.provider, providerPaymentId: p.providerPaymentId, providerChargeId: p.providerChargeId, amount: dispute.amount, at: c.metadata.now.toISOString() };
  return [c.data.outcome === 'lost' ? { type: 'BookingDisputeLost', data } : { type: 'BookingDisputeWon', data }];
}

function promote(c: Extract<BookingCommand, { type: 'PromoteFromWaitlist' }>, s: BookingState): BookingEvent[] {
  mustExist(s);
  if (s.status !== 'waitlisted') return []; // already promoted, or ended meanwhile (the caller gives the seat back)
  const kept = keptPayment(s);
  const paid = !!kept && kept.refunded < kept.amount.amount;
  return [{ type: 'BookingPromotedFromWaitlist', data: { seats: c.data.seats, paid, at: c.metadata.now.toISOString() } }];
}

/** A received payment record from a payment event. */
function received(d: { provider: Provider; providerPaymentId: string; providerChargeId: string | null; amount: Money }, kept: boolean): ReceivedPayment {
  return { provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId, amount: d.amount, kept, refunds: {}, reportedRefunded: 0, refunded: 0 };
}

function evolveRefund(s: BookingState, d: BookingRefundedData): BookingState {
  const paymentId = d.providerPaymentId ?? s.payment?.providerPaymentId; // before refunds named their payment: the kept one
  const before = s.payments.find((p) => p.providerPaymentId === paymentId);
  if (!before) return { ...s, refunded: s.refunded + d.amount.amount, refundIds: [...s.refundIds, d.refundId] };
  const after = withRefund(before, d);
  const payments = s.payments.map((p) => (p === before ? after : p));
  const settled = after.refunded >= after.amount.amount;
  let needsAttention = s.needsAttention;
  // a duplicate / mismatched payment given back in full needs nobody any more; nor does held money
  if (settled && !after.kept) needsAttention = needsAttention.filter((k) => k !== `payment:${after.providerPaymentId}`);
  if (settled && after.kept) needsAttention = needsAttention.filter((k) => k !== `paid_while_waitlisted:${after.providerPaymentId}`);
  return {
    ...s,
    status: d.full ? 'refunded' : s.status,
    payments,
    refunded: after.kept ? payments.filter((p) => p.kept).reduce((a, p) => a + p.refunded, 0) : s.refunded,
    refundIds: [...s.refundIds, d.refundId],
    needsAttention,
  };
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
      case 'RecordProviderRefunds':
        return providerRefunds(command, state);
      case 'OpenBookingDispute':
        return openDispute(command, state);
      case 'CloseBookingDispute':
        return closeDispute(command, state);
      case 'PromoteFromWaitlist':
        return promote(command, state);
      default:
        return assertNever(command, 'booking command');
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case 'BookingRequested':
        return { ...s, status: 'requested', request: requestOf(e.data) };
      case 'BookingWaitlisted':
        return { ...s, status: 'waitlisted', request: requestOf(e.data) };
      case 'BookingInquiryReceived':
        return { ...s, status: 'inquiry', request: requestOf(e.data) };
      case 'BookingPaymentCompleted': {
        // a further payment (the balance after its deposit) is associated in the CRM as well: the
        // associate stage reopens with a fresh attempt budget (the next round)
        const further = s.crmPaymentAssociated;
        return {
          ...s,
          status: e.data.part === 'deposit' ? 'deposit_paid' : 'paid',
          payment: { provider: e.data.provider, providerPaymentId: e.data.providerPaymentId, providerChargeId: e.data.providerChargeId, amount: e.data.amount },
          payments: [...s.payments, received(e.data, true)],
          seenPayments: [...s.seenPayments, e.data.providerPaymentId],
          ...(further ? { crmPaymentAssociated: false, stages: { ...s.stages, associate_payment: { ...freshStage, round: s.stages.associate_payment.round + 1 } } } : {}),
        };
      }
      case 'BookingPaymentHeld':
        return {
          ...s,
          payment: { provider: e.data.provider, providerPaymentId: e.data.providerPaymentId, providerChargeId: e.data.providerChargeId, amount: e.data.amount },
          payments: [...s.payments, received(e.data, true)],
          seenPayments: [...s.seenPayments, e.data.providerPaymentId],
          needsAttention: [...s.needsAttention, `paid_while_waitlisted:${e.data.providerPaymentId}`],
        };
      case 'BookingPromotedFromWaitlist':
        return {
          ...s,
          status: e.data.paid ? 'paid' : 'requested',
          promotedAt: e.data.at,
          needsAttention: s.needsAttention.filter((k) => !k.startsWith('paid_while_waitlisted:')),
        };
      case 'BookingPaymentMismatch':
        return {
          ...s,
          payments: [...s.payments, received(e.data, false)],
          seenPayments: [...s.seenPayments, e.data.providerPaymentId],
          needsAttention: [...s.needsAttention, `payment:${e.data.providerPaymentId}`],
        };
      case 'BookingPaymentFailed':
        return { ...s, failedAttempts: [...s.failedAttempts, e.data.attemptId] };
      case 'CrmBookingCreated':
        return {
          ...s,
          crmBookingId: e.data.crmBookingId,
          stages: { ...s.stages, create_contact_booking: { ...s.stages.create_contact_booking, failed: false } },
          needsAttention: withoutAttention(s, 'crm:create_contact_booking'),
        };
      case 'CrmPaymentAssociated': {
        // before deposits an association named no payment: it was the booking's every kept payment
        const ids = e.data.providerPaymentId !== undefined ? [e.data.providerPaymentId] : keptPayments(s).map((p) => p.providerPaymentId);
        const associated = [...s.crmAssociatedPayments, ...ids.filter((id) => !s.crmAssociatedPayments.includes(id))];
        const all = keptPayments(s).every((p) => associated.includes(p.providerPaymentId));
        const st = s.stages.associate_payment;
        return {
          ...s,
          crmPaymentAssociated: all,
          crmAssociatedPayments: associated,
          // another payment still to associate: its own fresh attempt budget (the next round)
          stages: { ...s.stages, associate_payment: all ? { ...st, failed: false } : { ...freshStage, round: st.round + 1 } },
          needsAttention: withoutAttention(s, 'crm:associate_payment'),
        };
      }
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
            [e.data.stage]: { attempts: 0, lastError: s.stages[e.data.stage].lastError, failed: false, round: s.stages[e.data.stage].round + 1, lastFailedAttempt: 0, startedBy: null },
          },
          needsAttention: withoutAttention(s, `crm:${e.data.stage}`),
        };
      case 'BookingCancelled':
        return { ...s, status: 'cancelled' };
      case 'BookingRefunded':
        return evolveRefund(s, e.data);
      case 'BookingDisputeOpened':
        return {
          ...s,
          disputes: [...s.disputes, { disputeId: e.data.disputeId, providerPaymentId: e.data.providerPaymentId, amount: e.data.amount, reason: e.data.reason, status: 'open', openedAt: e.data.at, closedAt: null }],
          needsAttention: [...s.needsAttention, `dispute:${e.data.disputeId}`],
        };
      case 'BookingDisputeWon':
      case 'BookingDisputeLost': {
        const outcome = e.type === 'BookingDisputeWon' ? 'won' : 'lost';
        const rest = s.needsAttention.filter((k) => k !== `dispute:${e.data.disputeId}`);
        return {
          ...s,
          disputes: s.disputes.map((x) => (x.disputeId === e.data.disputeId ? { ...x, status: outcome, closedAt: e.data.at } : x)),
          // a lost dispute took the money back: someone has to look at the booking
          needsAttention: outcome === 'lost' ? [...rest, `dispute_lost:${e.data.disputeId}`] : rest,
        };
      }
      default:
        return assertNever(e, 'booking event');
    }
  },
};
