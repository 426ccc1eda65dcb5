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
  test('money for a still-waitlisted booking is held for a human: no seat, not paid, not sent to the CRM', () => {
    const waitlisted: BookingEvent = { type: 'BookingWaitlisted', data: requested };
    given([waitlisted])
      .when(pay())
      .then([{ type: 'BookingPaymentHeld', data: { provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), reason: 'waitlisted', at } }]);
    const held = fold(bookingDecider, [waitlisted, { type: 'BookingPaymentHeld', data: { provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), reason: 'waitlisted', at } }]);
    expect(held.status).toBe('waitlisted');
    expect(held.needsAttention).toEqual(['paid_while_waitlisted:pi_1']);
    expect(currentCrmStage(held)).toBeNull();
    // promoted: paid, the CRM pipeline starts, the attention is resolved
    given([waitlisted, { type: 'BookingPaymentHeld', data: { provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), reason: 'waitlisted', at } }])
      .when(cmd('PromoteFromWaitlist', { seats: 2 }))
      .then([{ type: 'BookingPromotedFromWaitlist', data: { seats: 2, paid: true, at } }]);
    const promoted = bookingDecider.evolve(held, { type: 'BookingPromotedFromWaitlist', data: { seats: 2, paid: true, at } });
    expect(promoted).toMatchObject({ status: 'paid', promotedAt: at, needsAttention: [] });
    expect(currentCrmStage(promoted)).toBe('create_contact_booking');
    // an unpaid waitlisted booking promoted is a plain request; anything else is not promoted again
    given([waitlisted]).when(cmd('PromoteFromWaitlist', { seats: 2 })).then([{ type: 'BookingPromotedFromWaitlist', data: { seats: 2, paid: false, at } }]);
    given([ev.requested]).when(cmd('PromoteFromWaitlist', { seats: 2 })).thenNothing();
    // held money is refunded, not cancelled away
    given([waitlisted, { type: 'BookingPaymentHeld', data: { provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), reason: 'waitlisted', at } }])
      .when(cmd('CancelBooking', { reason: 'x' }))
      .thenRefuses('booking_paid');
  });
  test('a second payment of the price while waitlisted is a duplicate, not held again: a promotion keeps one payment', () => {
    const waitlisted: BookingEvent = { type: 'BookingWaitlisted', data: requested };
    const held: BookingEvent = { type: 'BookingPaymentHeld', data: { provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), reason: 'waitlisted', at } };
    given([waitlisted, held]).when(pay('pi_2')).thenMatches([{ type: 'BookingPaymentMismatch', data: { reason: 'already_paid', providerPaymentId: 'pi_2' } }]);
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
    given([ev.requested, ev.paid, ev.crmCreated])
      .when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'pay-1' }))
      .then([{ type: 'CrmPaymentAssociated', data: { crmBookingId: 'crm-9', crmPaymentId: 'pay-1', providerPaymentId: 'pi_1', at } }]);
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
    const named = { provider: 'stripe' as const, providerPaymentId: 'pi_1', providerChargeId: 'ch_1' };
    const partial: BookingEvent = { type: 'BookingRefunded', data: { refundId: 'r1', amount: EUR(50000), refundAmount: 50000, reason: null, full: false, ...named, at } };
    given([ev.requested, ev.paid]).when(cmd('RefundBooking', { refundId: 'r1', amount: EUR(50000), reason: null })).then([partial]);
    given([ev.requested, ev.paid, partial])
      .when(cmd('RefundBooking', { refundId: 'r2', amount: EUR(200000), reason: 'trip cancelled' }))
      .then([{ type: 'BookingRefunded', data: { refundId: 'r2', amount: EUR(200000), refundAmount: 200000, reason: 'trip cancelled', full: true, ...named, at } }]);
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

describe('Booking: provider refunds apply to the payment they name', () => {
  const dup: BookingEvent = {
    type: 'BookingPaymentMismatch',
    data: { provider: 'stripe', providerPaymentId: 'pi_2', providerChargeId: 'ch_2', amount: EUR(250000), expected: EUR(250000), reason: 'already_paid', at },
  };
  const refunds = (chargeId: string, list: Array<{ refundId: string; amount: number }>, total: number | null, currency = 'EUR') =>
    cmd('RecordProviderRefunds', { provider: 'stripe', providerPaymentId: null, providerChargeId: chargeId, currency, refunds: list, refundedTotal: total, reason: null });
  const applyAll = (events: BookingEvent[], commands: BookingCommand[]) =>
    commands.reduce((evs, c) => [...evs, ...bookingDecider.decide(c, fold(bookingDecider, evs))], events);

  test("refunding the duplicate's charge refunds the duplicate: the booking stays paid, the duplicate's attention is resolved", () => {
    const after = applyAll([ev.requested, ev.paid, dup], [refunds('ch_2', [{ refundId: 're_2', amount: 250000 }], 250000)]);
    const s = fold(bookingDecider, after);
    expect(s.status).toBe('paid');
    expect(s.refunded).toBe(0);
    expect(s.payments.map((p) => [p.providerPaymentId, p.kept, p.refunded])).toEqual([
      ['pi_1', true, 0],
      ['pi_2', false, 250000],
    ]);
    expect(s.needsAttention).toEqual([]);
    expect(after.slice(3)).toEqual([
      { type: 'BookingRefunded', data: expect.objectContaining({ refundId: 're_2', amount: EUR(250000), full: false, providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }) },
    ]);
  });

  test('cumulative charge.refunded totals and refunds by id converge in any order, never double-counted', () => {
    // the provider's truth: re_a 100 then re_b 150 on ch_1; reports: totals 100 and 250 (charge.refunded), each refund by id (refund.*)
    const reports = [
      refunds('ch_1', [], 100),
      refunds('ch_1', [], 250),
      refunds('ch_1', [{ refundId: 're_a', amount: 100 }], null),
      refunds('ch_1', [{ refundId: 're_b', amount: 150 }], null),
      refunds('ch_1', [{ refundId: 're_a', amount: 100 }, { refundId: 're_b', amount: 150 }], 250),
    ];
    const permutations = (xs: BookingCommand[]): BookingCommand[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));
    for (const order of permutations(reports)) {
      const events = applyAll([ev.requested, ev.paid], [...order, ...order]); // and every report twice
      const s = fold(bookingDecider, events);
      expect(s.payments[0]!.refunded).toBe(250);
      const counted = events.filter((e) => e.type === 'BookingRefunded').reduce((n, e) => n + (e.data as { amount: { amount: number } }).amount.amount, 0);
      expect(counted).toBe(250);
    }
  });

  test('zero-decimal (JPY) and three-decimal (KWD) payments: a refund of the unknown charge waits; amounts stay in minor units', () => {
    const jpy: BookingRequestedData = { ...requested, price: { amount: 38000, currency: 'JPY' } };
    const paidJpy: BookingEvent = { type: 'BookingPaymentCompleted', data: { provider: 'stripe', providerPaymentId: 'pi_j', providerChargeId: 'ch_j', amount: { amount: 38000, currency: 'JPY' }, at } };
    given([{ type: 'BookingRequested', data: jpy }, paidJpy]).when(refunds('ch_unknown', [{ refundId: 're_x', amount: 1 }], null, 'JPY')).thenRefuses('payment_not_recorded');
    given([{ type: 'BookingRequested', data: jpy }, paidJpy]).when(refunds('ch_j', [{ refundId: 're_x', amount: 1 }], null, 'EUR')).thenRefuses('currency_mismatch', 'invalid');
    given([{ type: 'BookingRequested', data: jpy }, paidJpy]).when(refunds('ch_j', [], 38001, 'JPY')).thenRefuses('refund_exceeds_paid', 'invalid');
    const kwd: BookingRequestedData = { ...requested, price: { amount: 125750, currency: 'KWD' } };
    const paidKwd: BookingEvent = { type: 'BookingPaymentCompleted', data: { provider: 'stripe', providerPaymentId: 'pi_k', providerChargeId: 'ch_k', amount: { amount: 125750, currency: 'KWD' }, at } };
    const s = fold(bookingDecider, applyAll([{ type: 'BookingRequested', data: kwd }, paidKwd], [refunds('ch_k', [], 125750, 'KWD')]));
    expect(s).toMatchObject({ status: 'refunded', refunded: 125750 });
  });
});

describe('Booking: disputes', () => {
  const open = cmd('OpenBookingDispute', { disputeId: 'dp_1', provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), reason: 'fraudulent' });
  const opened: BookingEvent = { type: 'BookingDisputeOpened', data: { disputeId: 'dp_1', provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), reason: 'fraudulent', at } };
  test('a dispute on the booking payment is recorded once and needs attention; lost stays visible, won resolves', () => {
    given([ev.requested, ev.paid]).when(open).then([opened]);
    given([ev.requested, ev.paid, opened]).when(open).thenNothing();
    expect(fold(bookingDecider, [ev.requested, ev.paid, opened]).needsAttention).toEqual(['dispute:dp_1']);
    const closed = { disputeId: 'dp_1', provider: 'stripe' as const, providerPaymentId: 'pi_1', providerChargeId: 'ch_1', amount: EUR(250000), at };
    given([ev.requested, ev.paid, opened]).when(cmd('CloseBookingDispute', { disputeId: 'dp_1', outcome: 'lost' })).then([{ type: 'BookingDisputeLost', data: closed }]);
    const lost = fold(bookingDecider, [ev.requested, ev.paid, opened, { type: 'BookingDisputeLost', data: closed }]);
    expect(lost.disputes[0]).toMatchObject({ status: 'lost' });
    expect(lost.needsAttention).toEqual(['dispute_lost:dp_1']);
    expect(fold(bookingDecider, [ev.requested, ev.paid, opened, { type: 'BookingDisputeWon', data: closed }]).needsAttention).toEqual([]);
    // nothing more can be refunded of what the dispute holds
    given([ev.requested, ev.paid, opened]).when(cmd('RefundBooking', { refundId: 'r1', amount: EUR(1), reason: null })).thenRefuses('refund_exceeds_paid');
  });
  test('closed before it was opened: waits (unknown_dispute); a dispute of an unknown charge waits too', () => {
    given([ev.requested, ev.paid]).when(cmd('CloseBookingDispute', { disputeId: 'dp_1', outcome: 'lost' })).thenRefuses('unknown_dispute');
    given([ev.requested, ev.paid]).when(cmd('OpenBookingDispute', { disputeId: 'dp_2', provider: 'stripe', providerPaymentId: null, providerChargeId: 'ch_9', amount: EUR(1), reason: 'x' })).thenRefuses('payment_not_recorded');
  });
});
