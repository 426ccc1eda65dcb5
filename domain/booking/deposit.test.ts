/**
 * Deposits and balances (payment schedules): a deposit now, the balance later. Each payment is
 * kept with its own refunds and associated in the CRM once.
 */
import { spec } from '../../test/support/given';
import { fold } from '../shared/decider';
import { bookingDecider, currentCrmStage, paymentToAssociate, resolveSchedule, type BookingCommand, type BookingEvent, type BookingRequestedData } from './booking';
import { departureDecider, type PaymentSchedule } from './departure';

const now = new Date('2026-11-25T10:00:00.000Z');
const at = now.toISOString();
const metadata = { now };
const JPY = (amount: number) => ({ amount, currency: 'JPY' });
const KWD = (amount: number) => ({ amount, currency: 'KWD' });
const cmd = <T extends BookingCommand['type']>(type: T, data: Extract<BookingCommand, { type: T }>['data']) => ({ type, data, metadata }) as BookingCommand;
const given = (events: BookingEvent[]) => spec(bookingDecider).given(events);

const thirtyPercent: PaymentSchedule = { deposit: { percent: 30 }, balanceDueDays: 30 };
const requestData = (schedule: PaymentSchedule | null, departureSchedule: PaymentSchedule | null = null, price = JPY(123_457)) => ({
  bookingId: 'b1',
  tenantId: 't1',
  departure: { departureId: 'd1', externalId: 'DEP-1', paymentScheduleId: 'sched-1', schedule: departureSchedule },
  placement: 'confirmed' as const,
  contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 0000' },
  guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
  price,
  paymentScheduleId: null,
  schedule,
});
const requested: BookingRequestedData = {
  bookingId: 'b1',
  tenantId: 't1',
  departureId: 'd1',
  departureExternalId: 'DEP-1',
  contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 0000' },
  guests: [{ firstName: 'Ada', lastName: 'Lovelace', isClient: true }],
  price: JPY(123_457),
  paymentScheduleId: 'sched-1',
  // 30 % of ¥123,457 = ¥37,037.1 -> ¥37,037 (JPY has no minor unit)
  schedule: { source: 'departure', deposit: JPY(37_037), balanceDueAt: '2026-12-25T10:00:00.000Z' },
  at,
};
const pay = (id: string, amount: { amount: number; currency: string }) => cmd('RecordPaymentCompleted', { provider: 'stripe', providerPaymentId: id, providerChargeId: id.replace('pi_', 'ch_'), amount });
const ev = {
  requested: { type: 'BookingRequested', data: requested } as BookingEvent,
  deposit: { type: 'BookingPaymentCompleted', data: { provider: 'stripe', providerPaymentId: 'pi_dep', providerChargeId: 'ch_dep', amount: JPY(37_037), part: 'deposit', at } } as BookingEvent,
  balance: { type: 'BookingPaymentCompleted', data: { provider: 'stripe', providerPaymentId: 'pi_bal', providerChargeId: 'ch_bal', amount: JPY(86_420), part: 'balance', at } } as BookingEvent,
  crmCreated: { type: 'CrmBookingCreated', data: { crmBookingId: 'crm-9', crmIds: {}, at } } as BookingEvent,
  depositAssociated: { type: 'CrmPaymentAssociated', data: { crmBookingId: 'crm-9', crmPaymentId: 'cp-1', providerPaymentId: 'pi_dep', at } } as BookingEvent,
  balanceAssociated: { type: 'CrmPaymentAssociated', data: { crmBookingId: 'crm-9', crmPaymentId: 'cp-2', providerPaymentId: 'pi_bal', at } } as BookingEvent,
};

describe('Deposits: the schedule of a booking', () => {
  test("the departure's schedule applies: 30 % of a JPY price rounds to the yen, balance due 30 days after the request", () => {
    given([]).when(cmd('RequestBooking', requestData(null, thirtyPercent))).then([{ type: 'BookingRequested', data: requested }]);
  });
  test("the booking's own schedule overrides the departure's (a fixed deposit, balance by a date)", () => {
    given([])
      .when(cmd('RequestBooking', requestData({ deposit: { amount: JPY(20_000) }, balanceDueDate: '2027-01-15' }, thirtyPercent)))
      .then([{ type: 'BookingRequested', data: { ...requested, schedule: { source: 'booking', deposit: JPY(20_000), balanceDueAt: '2027-01-16T00:00:00.000Z' } } }]);
  });
  test('a percent deposit rounds half up to the minor unit of the currency (KWD has three decimals)', () => {
    // 12.5 % of 1.005 KWD (1005 fils) = 125.625 fils -> 126
    expect(resolveSchedule({ deposit: { percent: 12.5 }, balanceDueDays: 1 }, KWD(1005), 'booking', now).deposit).toEqual(KWD(126));
    // 30 % of ¥1,005 = ¥301.5 -> ¥302
    expect(resolveSchedule({ deposit: { percent: 30 }, balanceDueDays: 1 }, JPY(1005), 'booking', now).deposit).toEqual(JPY(302));
    // at the largest accepted amount: no float, no overflow
    expect(resolveSchedule({ deposit: { percent: 33.33 }, balanceDueDays: 1 }, JPY(10 ** 15), 'booking', now).deposit).toEqual(JPY(333_300_000_000_000));
  });
  test('without a schedule, nothing changes: no schedule on the request', () => {
    const events = bookingDecider.decide(cmd('RequestBooking', requestData(null)), bookingDecider.initialState);
    expect(events[0]!.data).not.toHaveProperty('schedule');
  });
  test('refused: a deposit in another currency, a deposit of the whole price or of nothing, both or neither due fields', () => {
    given([]).when(cmd('RequestBooking', requestData({ deposit: { amount: KWD(1000) }, balanceDueDays: 3 }))).thenRefuses('invalid_schedule', 'invalid');
    given([]).when(cmd('RequestBooking', requestData({ deposit: { amount: JPY(123_457) }, balanceDueDays: 3 }))).thenRefuses('invalid_schedule', 'invalid');
    given([]).when(cmd('RequestBooking', requestData({ deposit: { percent: 30 }, balanceDueDays: 3 }, null, JPY(1)))).thenRefuses('invalid_schedule', 'invalid');
    given([]).when(cmd('RequestBooking', requestData({ deposit: { percent: 100 }, balanceDueDays: 3 }))).thenRefuses('invalid_schedule', 'invalid');
    given([]).when(cmd('RequestBooking', requestData({ deposit: { percent: 30 }, balanceDueDays: 3, balanceDueDate: '2027-01-01' }))).thenRefuses('invalid_schedule', 'invalid');
    given([]).when(cmd('RequestBooking', requestData({ deposit: { percent: 30 } }))).thenRefuses('invalid_schedule', 'invalid');
    given([]).when(cmd('RequestBooking', requestData({ deposit: { percent: 30 }, balanceDueDate: '2027-02-30' }))).thenRefuses('invalid_schedule', 'invalid');
  });
  test('a departure declares its schedule, and may change or drop it; a bad one is refused', () => {
    const d = spec(departureDecider);
    const defined = { type: 'DepartureDefined', data: { departureId: 'DEP-1', tenantId: 't1', externalId: 'DEP-1', name: 'Kyoto', paymentScheduleId: null, capacity: 5, inquireToBook: false, schedule: thirtyPercent, at } } as const;
    expect(fold(departureDecider, [defined]).schedule).toEqual(thirtyPercent);
    d.given([defined]).when({ type: 'UpdateDeparture', data: { schedule: thirtyPercent }, metadata }).thenNothing();
    d.given([defined]).when({ type: 'UpdateDeparture', data: { schedule: null }, metadata }).then([{ type: 'DepartureUpdated', data: { schedule: null, at } }]);
    d.given([]).when({ type: 'DefineDeparture', data: { ...defined.data, schedule: { deposit: { percent: 0 }, balanceDueDays: 3 } }, metadata }).thenRefuses('invalid_schedule', 'invalid');
  });
});

describe('Deposits: payments', () => {
  test('a payment equal to the deposit moves the booking to deposit_paid, and into the CRM pipeline', () => {
    given([ev.requested]).when(pay('pi_dep', JPY(37_037))).then([ev.deposit]);
    const s = fold(bookingDecider, [ev.requested, ev.deposit]);
    expect(s.status).toBe('deposit_paid');
    expect(currentCrmStage(s)).toBe('create_contact_booking');
  });
  test('the exact remaining balance makes the booking paid', () => {
    given([ev.requested, ev.deposit]).when(pay('pi_bal', JPY(86_420))).then([ev.balance]);
    const s = fold(bookingDecider, [ev.requested, ev.deposit, ev.balance]);
    expect(s.status).toBe('paid');
    expect(s.payments.map((p) => [p.providerPaymentId, p.kept])).toEqual([
      ['pi_dep', true],
      ['pi_bal', true],
    ]);
  });
  test('the full price at once is accepted on a booking with a schedule', () => {
    given([ev.requested]).when(pay('pi_all', JPY(123_457))).thenMatches([{ type: 'BookingPaymentCompleted', data: { part: 'full', amount: JPY(123_457) } }]);
  });
  test('underpaying or overpaying the balance needs attention (the balance is what was expected)', () => {
    for (const amount of [86_419, 86_421]) {
      given([ev.requested, ev.deposit])
        .when(pay('pi_bad', JPY(amount)))
        .then([{ type: 'BookingPaymentMismatch', data: { provider: 'stripe', providerPaymentId: 'pi_bad', providerChargeId: 'ch_bad', amount: JPY(amount), expected: JPY(86_420), reason: 'amount_or_currency', at } }]);
    }
    const s = fold(bookingDecider, [ev.requested, ev.deposit, { type: 'BookingPaymentMismatch', data: { provider: 'stripe', providerPaymentId: 'pi_bad', providerChargeId: 'ch_bad', amount: JPY(5), expected: JPY(86_420), reason: 'amount_or_currency', at } }]);
    expect(s.status).toBe('deposit_paid');
    expect(s.needsAttention).toEqual(['payment:pi_bad']);
  });
  test('a first payment that is neither the deposit nor the price needs attention; a second deposit does too', () => {
    given([ev.requested]).when(pay('pi_x', JPY(50_000))).thenMatches([{ type: 'BookingPaymentMismatch', data: { expected: JPY(123_457), reason: 'amount_or_currency' } }]);
    given([ev.requested, ev.deposit]).when(pay('pi_dep2', JPY(37_037))).thenMatches([{ type: 'BookingPaymentMismatch', data: { expected: JPY(86_420) } }]);
  });
  test('the same payment again is recorded once; a payment after the balance is already_paid', () => {
    given([ev.requested, ev.deposit]).when(pay('pi_dep', JPY(37_037))).thenNothing();
    given([ev.requested, ev.deposit, ev.balance]).when(pay('pi_more', JPY(1))).thenMatches([{ type: 'BookingPaymentMismatch', data: { reason: 'already_paid' } }]);
  });
  test('a booking whose deposit is paid cannot be cancelled (refund instead)', () => {
    given([ev.requested, ev.deposit]).when(cmd('CancelBooking', { reason: 'x' })).thenRefuses('booking_paid');
  });
});

describe('Deposits: CRM association of every payment, each once', () => {
  test('deposit: the contact booking, then the deposit payment is associated', () => {
    given([ev.requested, ev.deposit]).when(cmd('RecordCrmBookingCreated', { crmBookingId: 'crm-9', crmIds: {} })).then([ev.crmCreated]);
    given([ev.requested, ev.deposit, ev.crmCreated]).when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'cp-1', providerPaymentId: 'pi_dep' })).then([ev.depositAssociated]);
    const s = fold(bookingDecider, [ev.requested, ev.deposit, ev.crmCreated, ev.depositAssociated]);
    expect(currentCrmStage(s)).toBeNull();
    expect(s.crmPaymentAssociated).toBe(true);
  });
  test('balance: the associate stage reopens (fresh attempt budget, next round) for the second payment only', () => {
    const before = fold(bookingDecider, [ev.requested, ev.deposit, ev.crmCreated, { type: 'CrmStageAttemptStarted', data: { stage: 'associate_payment', round: 0, attempt: 1, messageId: 'm1', at } }, ev.depositAssociated]);
    const s = bookingDecider.evolve(before, ev.balance);
    expect(currentCrmStage(s)).toBe('associate_payment');
    expect(paymentToAssociate(s)?.providerPaymentId).toBe('pi_bal');
    expect(s.stages.associate_payment).toMatchObject({ attempts: 0, round: 1, failed: false });
    given([ev.requested, ev.deposit, ev.crmCreated, ev.depositAssociated, ev.balance])
      .when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'cp-2', providerPaymentId: 'pi_bal' }))
      .then([ev.balanceAssociated]);
    const done = fold(bookingDecider, [ev.requested, ev.deposit, ev.crmCreated, ev.depositAssociated, ev.balance, ev.balanceAssociated]);
    expect(done.crmAssociatedPayments).toEqual(['pi_dep', 'pi_bal']);
    expect(currentCrmStage(done)).toBeNull();
  });
  test('idempotent on the payment id: the same association again is a no-op', () => {
    given([ev.requested, ev.deposit, ev.crmCreated, ev.depositAssociated, ev.balance]).when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'cp-1', providerPaymentId: 'pi_dep' })).thenNothing();
    given([ev.requested, ev.deposit, ev.crmCreated, ev.depositAssociated, ev.balance, ev.balanceAssociated]).when(cmd('RecordCrmPaymentAssociated', { crmPaymentId: 'cp-2' })).thenNothing();
  });
  test('both payments paid before the CRM answered: both are associated, oldest first', () => {
    const s = fold(bookingDecider, [ev.requested, ev.deposit, ev.balance, ev.crmCreated]);
    expect(paymentToAssociate(s)?.providerPaymentId).toBe('pi_dep');
    const after = bookingDecider.evolve(s, ev.depositAssociated);
    expect(paymentToAssociate(after)?.providerPaymentId).toBe('pi_bal');
    expect(after.stages.associate_payment).toMatchObject({ attempts: 0, round: 1 });
  });
  test('a mismatched payment is never associated', () => {
    const s = fold(bookingDecider, [
      ev.requested,
      ev.deposit,
      ev.crmCreated,
      ev.depositAssociated,
      { type: 'BookingPaymentMismatch', data: { provider: 'stripe', providerPaymentId: 'pi_bad', providerChargeId: null, amount: JPY(5), expected: JPY(86_420), reason: 'amount_or_currency', at } },
    ]);
    expect(currentCrmStage(s)).toBeNull();
  });
});

describe('Deposits: refunds per payment', () => {
  const paid = [ev.requested, ev.deposit, ev.balance];
  test('a refund goes back on the latest payment that can take it; the booking ends when both are refunded', () => {
    given(paid).when(cmd('RefundBooking', { refundId: 're_1', amount: JPY(86_420), reason: null })).thenMatches([{ type: 'BookingRefunded', data: { providerPaymentId: 'pi_bal', full: false } }]);
    const one = fold(bookingDecider, [...paid, { type: 'BookingRefunded', data: { refundId: 're_1', amount: JPY(86_420), refundAmount: 86_420, reason: null, full: false, provider: 'stripe', providerPaymentId: 'pi_bal', providerChargeId: 'ch_bal', at } }]);
    expect(one.refunded).toBe(86_420);
    expect(one.status).toBe('paid');
    given([...paid, { type: 'BookingRefunded', data: { refundId: 're_1', amount: JPY(86_420), refundAmount: 86_420, reason: null, full: false, provider: 'stripe', providerPaymentId: 'pi_bal', providerChargeId: 'ch_bal', at } }])
      .when(cmd('RefundBooking', { refundId: 're_2', amount: JPY(37_037), reason: null }))
      .thenMatches([{ type: 'BookingRefunded', data: { providerPaymentId: 'pi_dep', full: true } }]);
  });
  test('refused: more than one payment can take in one refund', () => {
    given(paid).when(cmd('RefundBooking', { refundId: 're_1', amount: JPY(100_000), reason: null })).thenRefuses('refund_exceeds_paid', 'invalid');
  });
  test("the provider's refund of the deposit's charge applies to the deposit", () => {
    given(paid)
      .when(cmd('RecordProviderRefunds', { provider: 'stripe', providerPaymentId: 'pi_dep', providerChargeId: 'ch_dep', currency: 'JPY', refunds: [{ refundId: 're_p', amount: 37_037 }], refundedTotal: null, reason: null }))
      .thenMatches([{ type: 'BookingRefunded', data: { providerPaymentId: 'pi_dep', amount: JPY(37_037), full: false } }]);
  });
});
