import { spec } from '../../test/support/given';
import { bookingDecider, currentCrmStage, type BookingCommand, type BookingEvent, type BookingRequestedData } from './booking';
import { fold } from '../shared/decider';

const now = new Date('2026-11-25T10:00:00.000Z');
const at = now.toISOString();
const metadata = { now };
const EUR = (amount: number) => ({ amount, currency: 'EUR' });

const requestData = {
  bookingId: 'b1',
  tenantId: 't1',
  departure: { departureId: 'd1', externalId: 'DEP-1', paymentScheduleId: 'sched-departure' },
  placement: 'confirmed' as const,
  contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 0000' },
  guests: [
    { firstName: 'Ada', lastName: 'Lovelace' },
    { firstName: 'Charles', lastName: 'Babbage' },
  ],
  price: EUR(250000),
  paymentScheduleId: null as string | null,
};

const requested: BookingRequestedData = {
  bookingId: 'b1',
  tenantId: 't1',
  departureId: 'd1',
  departureExternalId: 'DEP-1',
  contact: requestData.contact,
  guests: [
    { firstName: 'Ada', lastName: 'Lovelace', isClient: true },
    { firstName: 'Charles', lastName: 'Babbage', isClient: false },
  ],
  price: EUR(250000),
  paymentScheduleId: 'sched-departure',
  at,
};

const cmd = <T extends BookingCommand['type']>(type: T, data: Extract<BookingCommand, { type: T }>['data']) => ({ type, data, metadata }) as BookingCommand;

const ev = {
  requested: { type: 'BookingRequested', data: requested } as BookingEvent,
  paid: { type: 'BookingPaymentCompleted', data: { provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), at } } as BookingEvent,
  crmCreated: { type: 'CrmBookingCreated', data: { crmBookingId: 'crm-9', crmIds: { booking: 'crm-9', contact: 'c-1' }, at } } as BookingEvent,
  associated: { type: 'CrmPaymentAssociated', data: { crmBookingId: 'crm-9', crmPaymentId: 'pay-1', at } } as BookingEvent,
  cancelled: { type: 'BookingCancelled', data: { reason: 'changed plans', at } } as BookingEvent,
  createFailed: { type: 'CrmStageFailed', data: { stage: 'create_contact_booking', attempts: 5, lastError: 'timeout', at } } as BookingEvent,
};
const pay = (id = 'pi_1', amount = EUR(250000)) => cmd('RecordPaymentCompleted', { provider: 'stripe', providerPaymentId: id, providerChargeId: id.replace('pi_', 'ch_'), amount });
const given = (events: BookingEvent[]) => spec(bookingDecider).given(events);

describe('Booking: request', () => {
  test('a bookable departure produces a booking request; the first guest is the client; the departure schedule is the fallback', () => {
    given([]).when(cmd('RequestBooking', requestData)).then([{ type: 'BookingRequested', data: requested }]);
  });
  test("the request's own payment schedule wins over the departure's", () => {
    given([])
      .when(cmd('RequestBooking', { ...requestData, paymentScheduleId: 'sched-own' }))
      .then([{ type: 'BookingRequested', data: { ...requested, paymentScheduleId: 'sched-own' } }]);
  });
  test('an "inquire" departure produces an inquiry, not a bookable request', () => {
    given([]).when(cmd('RequestBooking', { ...requestData, placement: 'inquiry' })).then([{ type: 'BookingInquiryReceived', data: requested }]);
  });
  test('a full departure puts the booking on the waitlist', () => {
    given([]).when(cmd('RequestBooking', { ...requestData, placement: 'waitlisted' })).then([{ type: 'BookingWaitlisted', data: requested }]);
  });
  test('refused: the booking already exists', () => {
    given([ev.requested]).when(cmd('RequestBooking', requestData)).thenRefuses('booking_exists', 'conflict');
  });
  test('refused: no guests', () => {
    given([]).when(cmd('RequestBooking', { ...requestData, guests: [] })).thenRefuses('no_guests', 'invalid');
  });
  test('refused: a fractional or negative amount', () => {
    given([]).when(cmd('RequestBooking', { ...requestData, price: EUR(10.5) })).thenRefuses('invalid_money', 'invalid');
    given([]).when(cmd('RequestBooking', { ...requestData, price: EUR(-1) })).thenRefuses('invalid_money', 'invalid');
    given([]).when(cmd('RequestBooking', { ...requestData, price: EUR(0) })).thenRefuses('invalid_money', 'invalid');
  });
  test('refused: an unknown currency', () => {
    given([]).when(cmd('RequestBooking', { ...requestData, price: { amount: 100, currency: 'EUX' } })).thenRefuses('invalid_currency', 'invalid');
  });
});

describe('Booking: payments', () => {
  test('payment completed with the booked amount and currency is recorded', () => {
    given([ev.requested]).when(pay()).then([ev.paid]);
  });
  test('a waitlisted booking can be paid', () => {
    given([{ type: 'BookingWaitlisted', data: requested }]).when(pay()).then([ev.paid]);
  });
  test('the same payment delivered again is recorded once', () => {
    given([ev.requested, ev.paid]).when(pay()).thenNothing();
  });
  test('a different amount is a mismatch that needs attention, never a confirmed payment', () => {
    given([ev.requested])
      .when(pay('pi_2', EUR(100)))
      .thenMatches([{ type: 'BookingPaymentMismatch', data: { reason: 'amount_or_currency', amount: EUR(100), expected: EUR(250000) } }]);
  });
  test('a different currency is a mismatch too', () => {
    given([ev.requested])
      .when(pay('pi_2', { amount: 250000, currency: 'USD' }))
      .thenMatches([{ type: 'BookingPaymentMismatch', data: { reason: 'amount_or_currency' } }]);
  });
  test('a second, different payment for a paid booking is flagged, not applied', () => {
    given([ev.requested, ev.paid]).when(pay('pi_2')).thenMatches([{ type: 'BookingPaymentMismatch', data: { reason: 'already_paid' } }]);
  });
  test('money for a cancelled booking is flagged', () => {
    given([ev.requested, ev.cancelled]).when(pay()).thenMatches([{ type: 'BookingPaymentMismatch', data: { reason: 'booking_cancelled' } }]);
  });
  test('money for an inquiry is flagged', () => {
    given([{ type: 'BookingInquiryReceived', data: requested }]).when(pay()).thenMatches([{ type: 'BookingPaymentMismatch', data: { reason: 'not_bookable' } }]);
  });
  test('a mismatch is recorded once and puts the booking on the attention list', () => {
    const mismatch: BookingEvent = {
      type: 'BookingPaymentMismatch',
      data: { provider: 'stripe', providerPaymentId: 'pi_2', providerChargeId: null, amount: EUR(1), expected: EUR(250000), reason: 'amount_or_currency', at },
    };
    given([ev.requested, mismatch]).when(pay('pi_2', EUR(1))).thenNothing();
    expect(fold(bookingDecider, [ev.requested, mismatch]).needsAttention).toEqual(['payment:pi_2']);
  });
  test('a failed attempt is recorded with the provider error code, decline code and message', () => {
    const failed = { attemptId: 'att-1', provider: 'stripe' as const, providerPaymentId: 'pi_3', amount: EUR(250000), errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' };
    given([ev.requested]).when(cmd('RecordPaymentFailed', failed)).then([{ type: 'BookingPaymentFailed', data: { ...failed, at } }]);
  });
  test('the same failed attempt twice is recorded once', () => {
    const failed = { attemptId: 'att-1', provider: 'stripe' as const, providerPaymentId: 'pi_3', amount: EUR(250000), errorCode: 'card_declined', declineCode: null, message: null };
    given([ev.requested, { type: 'BookingPaymentFailed', data: { ...failed, at } }]).when(cmd('RecordPaymentFailed', failed)).thenNothing();
  });
  test('refused: payment for an unknown booking', () => {
    given([]).when(pay()).thenRefuses('booking_not_found');
  });
});

describe('Booking: CRM pipeline', () => {
  test('the contact booking is created in the CRM after payment, with the CRM ids', () => {
    given([ev.requested, ev.paid]).when(cmd('RecordCrmBookingCreated', { crmBookingId: 'crm-9', crmIds: { booking: 'crm-9', contact: 'c-1' } })).then([ev.crmCreated]);
  });
  test('refused: a CRM booking before payment', () => {
    given([ev.requested]).when(cmd('RecordCrmBookingCreated', { crmBookingId: 'crm-9', crmIds: {} })).thenRefuses('booking_not_paid');
  });
  test('the same CRM booking recorded again is a no-op; a different one is refused', () => {
    given([ev.requested, ev.paid, ev.crmCreated]).when(cmd('RecordCrmBookingCreated', { crmBookingId: 'crm-9', crmIds: {} })).thenNothing();
    given([ev.requested, ev.paid, ev.crmCreated]).when(cmd('RecordCrmBookingCreated', { crmBookingId: 'crm-10', crmIds: {} })).thenRefuses('crm_booking_exists');
  });
  test('the payment is associated once the CRM booking exists', () => {
    given([ev.requested, ev.paid, ev.crmCreated]).when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'pay-1' })).then([ev.associated]);
  });
  test('refused: association before the CRM booking exists', () => {
    given([ev.requested, ev.paid]).when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'pay-1' })).thenRefuses('crm_booking_missing');
  });
  test('association twice is a no-op', () => {
    given([ev.requested, ev.paid, ev.crmCreated, ev.associated]).when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'pay-1' })).thenNothing();
  });
  test('a failed stage attempt is recorded with stage, attempt number and error', () => {
    given([ev.requested, ev.paid])
      .when(cmd('RecordCrmStageAttemptFailed', { stage: 'create_contact_booking', attempt: 1, error: 'ETIMEDOUT' }))
      .then([{ type: 'CrmStageAttemptFailed', data: { stage: 'create_contact_booking', attempt: 1, error: 'ETIMEDOUT', at } }]);
  });
  test('a redelivered attempt failure is recorded once', () => {
    const f: BookingEvent = { type: 'CrmStageAttemptFailed', data: { stage: 'create_contact_booking', attempt: 1, error: 'x', at } };
    given([ev.requested, ev.paid, f]).when(cmd('RecordCrmStageAttemptFailed', { stage: 'create_contact_booking', attempt: 1, error: 'x' })).thenNothing();
  });
  test('refused: an attempt failure for a stage the pipeline is not at', () => {
    given([ev.requested, ev.paid]).when(cmd('RecordCrmStageAttemptFailed', { stage: 'associate_payment', attempt: 1, error: 'x' })).thenRefuses('crm_stage_not_current');
    given([ev.requested, ev.paid]).when(cmd('RecordCrmStageAttemptFailed', { stage: 'create_contact_booking', attempt: 0, error: 'x' })).thenRefuses('invalid_attempt', 'invalid');
  });
  test('a stage failed for good after retries needs attention', () => {
    given([ev.requested, ev.paid]).when(cmd('RecordCrmStageFailed', { stage: 'create_contact_booking', attempts: 5, lastError: 'timeout' })).then([ev.createFailed]);
    const s = fold(bookingDecider, [ev.requested, ev.paid, ev.createFailed]);
    expect(s.needsAttention).toEqual(['crm:create_contact_booking']);
    expect(s.stages.create_contact_booking).toMatchObject({ attempts: 0, lastError: 'timeout', failed: true });
  });
  test('a manual retry resumes from the failed stage and clears the attention flag', () => {
    given([ev.requested, ev.paid, ev.createFailed])
      .when(cmd('RetryCrmStage', { requestedBy: 'ops@settle' }))
      .then([{ type: 'CrmStageRetryRequested', data: { stage: 'create_contact_booking', requestedBy: 'ops@settle', at } }]);
    const s = fold(bookingDecider, [ev.requested, ev.paid, ev.createFailed, { type: 'CrmStageRetryRequested', data: { stage: 'create_contact_booking', requestedBy: 'x', at } }]);
    expect(s.needsAttention).toEqual([]);
    expect(currentCrmStage(s)).toBe('create_contact_booking');
  });
  test('an attempt is recorded before the CRM is called, with its round and the message that started it', () => {
    given([ev.requested, ev.paid])
      .when(cmd('StartCrmStageAttempt', { stage: 'create_contact_booking', attempt: 1, maxAttempts: 3, messageId: 'm1' }))
      .then([{ type: 'CrmStageAttemptStarted', data: { stage: 'create_contact_booking', round: 0, attempt: 1, messageId: 'm1', at } }]);
    const started: BookingEvent = { type: 'CrmStageAttemptStarted', data: { stage: 'create_contact_booking', round: 0, attempt: 1, messageId: 'm1', at } };
    const s = fold(bookingDecider, [ev.requested, ev.paid, started]);
    expect(s.stages.create_contact_booking).toMatchObject({ attempts: 1, lastFailedAttempt: 0, startedBy: 'm1' });
    // a second delivery asking for the same attempt is a no-op; its failure is then recorded once
    given([ev.requested, ev.paid, started]).when(cmd('StartCrmStageAttempt', { stage: 'create_contact_booking', attempt: 1, maxAttempts: 3, messageId: 'm2' })).thenNothing();
    given([ev.requested, ev.paid, started])
      .when(cmd('RecordCrmStageAttemptFailed', { stage: 'create_contact_booking', attempt: 1, error: 'x' }))
      .then([{ type: 'CrmStageAttemptFailed', data: { stage: 'create_contact_booking', attempt: 1, error: 'x', at } }]);
  });
  test('refused: an attempt beyond the budget of the round, or out of sequence', () => {
    const started = (attempt: number): BookingEvent => ({ type: 'CrmStageAttemptStarted', data: { stage: 'create_contact_booking', round: 0, attempt, messageId: `m${attempt}`, at } });
    const failed = (attempt: number): BookingEvent => ({ type: 'CrmStageAttemptFailed', data: { stage: 'create_contact_booking', attempt, error: 'x', at } });
    given([ev.requested, ev.paid, started(1), failed(1), started(2), failed(2)])
      .when(cmd('StartCrmStageAttempt', { stage: 'create_contact_booking', attempt: 3, maxAttempts: 2, messageId: 'm3' }))
      .thenRefuses('crm_attempts_exhausted');
    given([ev.requested, ev.paid]).when(cmd('StartCrmStageAttempt', { stage: 'create_contact_booking', attempt: 2, maxAttempts: 5, messageId: 'm' })).thenRefuses('invalid_attempt', 'invalid');
    given([ev.requested, ev.paid, ev.createFailed]).when(cmd('StartCrmStageAttempt', { stage: 'create_contact_booking', attempt: 1, maxAttempts: 5, messageId: 'm' })).thenRefuses('crm_stage_failed');
  });
  test('an operator retry starts the next round: attempts from 1 again, round counted', () => {
    const started: BookingEvent = { type: 'CrmStageAttemptStarted', data: { stage: 'create_contact_booking', round: 0, attempt: 1, messageId: 'm1', at } };
    const failed: BookingEvent = { type: 'CrmStageAttemptFailed', data: { stage: 'create_contact_booking', attempt: 1, error: 'x', at } };
    const retry: BookingEvent = { type: 'CrmStageRetryRequested', data: { stage: 'create_contact_booking', requestedBy: 'ops', at } };
    const history = [ev.requested, ev.paid, started, failed, ev.createFailed, retry];
    expect(fold(bookingDecider, history).stages.create_contact_booking).toMatchObject({ attempts: 0, lastFailedAttempt: 0, round: 1, failed: false });
    given(history)
      .when(cmd('StartCrmStageAttempt', { stage: 'create_contact_booking', attempt: 1, maxAttempts: 1, messageId: 'm9' }))
      .then([{ type: 'CrmStageAttemptStarted', data: { stage: 'create_contact_booking', round: 1, attempt: 1, messageId: 'm9', at } }]);
  });
  test('refused: a manual retry when nothing failed', () => {
    given([ev.requested, ev.paid]).when(cmd('RetryCrmStage', { requestedBy: 'ops' })).thenRefuses('nothing_to_retry');
  });
  test('the pipeline stage follows the facts', () => {
    expect(currentCrmStage(fold(bookingDecider, [ev.requested]))).toBeNull();
    expect(currentCrmStage(fold(bookingDecider, [ev.requested, ev.paid]))).toBe('create_contact_booking');
    expect(currentCrmStage(fold(bookingDecider, [ev.requested, ev.paid, ev.crmCreated]))).toBe('associate_payment');
    expect(currentCrmStage(fold(bookingDecider, [ev.requested, ev.paid, ev.crmCreated, ev.associated]))).toBeNull();
  });
});

describe('Booking: cancel and refund', () => {
  test('cancel before payment', () => {
    given([ev.requested]).when(cmd('CancelBooking', { reason: 'changed plans' })).then([ev.cancelled]);
  });
  test('cancelling twice is a no-op', () => {
    given([ev.requested, ev.cancelled]).when(cmd('CancelBooking', { reason: 'again' })).thenNothing();
  });
  test('refused: cancel after payment (refund instead)', () => {
    given([ev.requested, ev.paid]).when(cmd('CancelBooking', { reason: 'x' })).thenRefuses('booking_paid');
  });
  test('partial refund, then the rest as a full refund', () => {
    const partial: BookingEvent = { type: 'BookingRefunded', data: { refundId: 'r1', amount: EUR(50000), reason: null, full: false, at } };
    given([ev.requested, ev.paid]).when(cmd('RefundBooking', { refundId: 'r1', amount: EUR(50000), reason: null })).then([partial]);
    given([ev.requested, ev.paid, partial])
      .when(cmd('RefundBooking', { refundId: 'r2', amount: EUR(200000), reason: 'trip cancelled' }))
      .then([{ type: 'BookingRefunded', data: { refundId: 'r2', amount: EUR(200000), reason: 'trip cancelled', full: true, at } }]);
    expect(fold(bookingDecider, [ev.requested, ev.paid, partial]).status).toBe('paid');
  });
  test('refused: refunding more than was paid (also across refunds)', () => {
    given([ev.requested, ev.paid]).when(cmd('RefundBooking', { refundId: 'r1', amount: EUR(250001), reason: null })).thenRefuses('refund_exceeds_paid', 'invalid');
    const partial: BookingEvent = { type: 'BookingRefunded', data: { refundId: 'r1', amount: EUR(200000), reason: null, full: false, at } };
    given([ev.requested, ev.paid, partial]).when(cmd('RefundBooking', { refundId: 'r2', amount: EUR(50001), reason: null })).thenRefuses('refund_exceeds_paid', 'invalid');
  });
  test('refused: refund before payment, in another currency, or of zero', () => {
    given([ev.requested]).when(cmd('RefundBooking', { refundId: 'r1', amount: EUR(1), reason: null })).thenRefuses('booking_not_paid');
    given([ev.requested, ev.paid]).when(cmd('RefundBooking', { refundId: 'r1', amount: { amount: 1, currency: 'USD' }, reason: null })).thenRefuses('currency_mismatch', 'invalid');
    given([ev.requested, ev.paid]).when(cmd('RefundBooking', { refundId: 'r1', amount: EUR(0), reason: null })).thenRefuses('invalid_money', 'invalid');
  });
  test('the same refund twice is recorded once', () => {
    const r: BookingEvent = { type: 'BookingRefunded', data: { refundId: 'r1', amount: EUR(1), reason: null, full: false, at } };
    given([ev.requested, ev.paid, r]).when(cmd('RefundBooking', { refundId: 'r1', amount: EUR(1), reason: null })).thenNothing();
  });
});
