/**
 * Booking commands with a recording provider, on an event store given by the runner: in memory by
 * commands/bookings.test.ts, on PostgreSQL by commands/bookings.postgres.test.ts.
 */

import { fold } from '../../domain/shared/decider';
import { bookingDecider, type BookingEvent } from '../../domain/booking/booking';
import type { EventStore } from '../../domain/ports/eventStore';
import type { StoreUnderTest } from './storeUnderTest';
import { RecordingBillingProvider } from '../support/recordingProvider';
import { BookingCommands } from '../../commands/bookings';
import { handle, type CommandContext } from '../../commands/handle';
import { streams } from '../../commands/streams';

export function describeBookingCommands(adapter: string, open: () => Promise<StoreUnderTest>): void {
describe(`booking commands (${adapter})`, () => {
  let subject: StoreUnderTest;
  let store: EventStore;
  let provider: RecordingBillingProvider;
  let bookings: BookingCommands;
  const ctx = (over: Partial<CommandContext> = {}): CommandContext => ({ tenantId: 'atlas', correlationId: 'c', causationId: 'r', now: new Date(), ...over });
  const request = (bookingId: string, departure = 'DEP-1', guests = 1) => ({
    bookingId,
    departureId: departure,
    contact: { firstName: 'Ada', lastName: 'L', email: 'ada@example.com', phone: '+1 555' },
    guests: Array.from({ length: guests }, (_, i) => ({ firstName: `G${i}`, lastName: 'L' })),
    price: { amount: 100000, currency: 'USD' },
    paymentScheduleId: null,
  });

  beforeAll(async () => {
    subject = await open();
    store = subject.store;
    provider = new RecordingBillingProvider();
    bookings = new BookingCommands(store, provider);
    await bookings.defineDeparture({ departureId: 'DEP-1', name: 'Trip', paymentScheduleId: 'sched-1', capacity: 4, inquireToBook: false }, ctx());
  });
  afterAll(() => subject.close());

  test('ten bookings racing for four seats: exactly four confirmed, the rest waitlisted', async () => {
    await bookings.defineDeparture({ departureId: 'RACE', name: 'Race', paymentScheduleId: null, capacity: 4, inquireToBook: false }, ctx());
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => bookings.requestBooking(request(`race-${i}`, 'RACE'), ctx())));
    expect(results.filter((r) => r.state.status === 'requested')).toHaveLength(4);
    expect(results.filter((r) => r.state.status === 'waitlisted')).toHaveLength(6);
    expect((await bookings.getDeparture('atlas', 'RACE'))!.seatsTaken).toBe(4);
  });

  test('a retried request (lost response) neither takes a second seat nor creates a second booking', async () => {
    await bookings.requestBooking(request('retry-1', 'DEP-1', 2), ctx());
    await bookings.requestBooking(request('retry-1', 'DEP-1', 2), ctx());
    expect((await bookings.getDeparture('atlas', 'DEP-1'))!.seatsTaken).toBe(2);
    expect(await store.readStream(streams.booking('atlas', 'retry-1'))).toHaveLength(1);
    await expect(bookings.requestBooking({ ...request('retry-1', 'DEP-1', 2), price: { amount: 1, currency: 'USD' } }, ctx())).rejects.toMatchObject({ code: 'booking_exists' });
  });

  test('deposit and balance: a refund is sent to the provider on the payment the booking refunds; a retry asking another schedule is another request', async () => {
    const own = new RecordingBillingProvider();
    const bookings = new BookingCommands(store, own);
    await bookings.defineDeparture({ departureId: 'DEP-SCHED', name: 'Trip', paymentScheduleId: 'sched-1', capacity: 4, inquireToBook: false, schedule: { deposit: { percent: 25 }, balanceDueDays: 10 } }, ctx());
    const r = await bookings.requestBooking(request('sched-1', 'DEP-SCHED'), ctx());
    expect(r.state.request!.schedule).toMatchObject({ source: 'departure', deposit: { amount: 25000, currency: 'USD' } });
    await expect(bookings.requestBooking({ ...request('sched-1', 'DEP-SCHED'), schedule: { deposit: { percent: 10 }, balanceDueDays: 1 } }, ctx())).rejects.toMatchObject({ code: 'booking_exists' });
    const payIt = (pi: string, amount: number) =>
      handle(store, streams.booking('atlas', 'sched-1'), bookingDecider, () => ({ type: 'RecordPaymentCompleted' as const, data: { provider: 'stripe' as const, providerPaymentId: pi, providerChargeId: pi.replace('pi_', 'ch_'), amount: { amount, currency: 'USD' } }, metadata: { now: new Date() } }), ctx());
    expect((await payIt('pi_dep', 25000)).state.status).toBe('deposit_paid');
    expect((await payIt('pi_bal', 75000)).state.status).toBe('paid');
    await bookings.refundBooking('sched-1', { refundId: 'rf-s1', amount: { amount: 75000, currency: 'USD' }, reason: null }, ctx());
    const done = await bookings.refundBooking('sched-1', { refundId: 'rf-s2', amount: { amount: 25000, currency: 'USD' }, reason: null }, ctx());
    expect(own.callsOf('refund').map((c) => c.request as { providerPaymentId: string; amount: { amount: number } }).map((q) => [q.providerPaymentId, q.amount.amount])).toEqual([
      ['pi_bal', 75000],
      ['pi_dep', 25000],
    ]);
    expect(done.state.status).toBe('refunded');
  });

  test('refund: provider called once with the payment ids, never more than paid', async () => {
    await bookings.requestBooking(request('paid-1'), ctx());
    await handle(store, streams.booking('atlas', 'paid-1'), bookingDecider, () => ({ type: 'RecordPaymentCompleted' as const, data: { provider: 'stripe' as const, providerPaymentId: 'pi_9', providerChargeId: 'ch_9', amount: { amount: 100000, currency: 'USD' } }, metadata: { now: new Date() } }), ctx());
    await expect(bookings.refundBooking('paid-1', { refundId: 'rf-1', amount: { amount: 100001, currency: 'USD' }, reason: null }, ctx())).rejects.toMatchObject({ code: 'refund_exceeds_paid' });
    expect(provider.callsOf('refund')).toHaveLength(0);
    await bookings.refundBooking('paid-1', { refundId: 'rf-1', amount: { amount: 40000, currency: 'USD' }, reason: null }, ctx());
    await bookings.refundBooking('paid-1', { refundId: 'rf-1', amount: { amount: 40000, currency: 'USD' }, reason: null }, ctx());
    expect(provider.distinctEffects('refund')).toBe(1);
    expect(provider.callsOf('refund')[0]!.request).toMatchObject({ provider: 'stripe', providerPaymentId: 'pi_9', providerChargeId: 'ch_9' });
    const events = (await store.readStream(streams.booking('atlas', 'paid-1'))).map((e) => ({ type: e.type, data: e.data }) as BookingEvent);
    expect(fold(bookingDecider, events).refunded).toBe(40000);
    await expect(bookings.cancelBooking('paid-1', 'x', ctx())).rejects.toMatchObject({ code: 'booking_paid' });
  });

  test('cancel releases the seats to the oldest waitlisted booking, not to a newcomer', async () => {
    await bookings.defineDeparture({ departureId: 'SOLO', name: 'Solo', paymentScheduleId: null, capacity: 1, inquireToBook: false }, ctx());
    await bookings.requestBooking(request('solo-1', 'SOLO'), ctx());
    expect((await bookings.requestBooking(request('solo-2', 'SOLO'), ctx())).state.status).toBe('waitlisted');
    await bookings.cancelBooking('solo-1', 'changed plans', ctx());
    expect((await bookings.getBooking('atlas', 'solo-2'))!.state).toMatchObject({ status: 'requested', promotedAt: expect.any(String) });
    expect((await bookings.requestBooking(request('solo-3', 'SOLO'), ctx())).state.status).toBe('waitlisted');
    expect((await bookings.getDeparture('atlas', 'SOLO'))!.seatsTaken).toBe(1);
  });
});
}
