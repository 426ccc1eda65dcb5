import { spec } from '../../test/support/given';
import { fold } from '../shared/decider';
import { departureDecider, placementOf, type DepartureCommand, type DepartureEvent } from './departure';

const now = new Date('2026-11-25T10:00:00.000Z');
const at = now.toISOString();
const cmd = <T extends DepartureCommand['type']>(type: T, data: Extract<DepartureCommand, { type: T }>['data']) => ({ type, data, metadata: { now } }) as DepartureCommand;
const def = { departureId: 'd1', tenantId: 't1', externalId: 'DEP-1', name: 'Iceland, June', paymentScheduleId: 'sched-1', capacity: 3, inquireToBook: false };
const defined: DepartureEvent = { type: 'DepartureDefined', data: { ...def, at } };
const given = (e: DepartureEvent[]) => spec(departureDecider).given(e);

describe('Departure', () => {
  test('is defined with external id, payment schedule, capacity and the inquire-to-book flag', () => {
    given([]).when(cmd('DefineDeparture', def)).then([defined]);
  });
  test('refused: defined twice, or with a bad capacity', () => {
    given([defined]).when(cmd('DefineDeparture', def)).thenRefuses('departure_exists');
    given([]).when(cmd('DefineDeparture', { ...def, capacity: -1 })).thenRefuses('invalid_capacity', 'invalid');
    given([]).when(cmd('DefineDeparture', { ...def, capacity: 2.5 })).thenRefuses('invalid_capacity', 'invalid');
  });
  test('switching the call to action from book to inquire is an update; an unchanged update records nothing', () => {
    given([defined]).when(cmd('UpdateDeparture', { inquireToBook: true })).then([{ type: 'DepartureUpdated', data: { inquireToBook: true, at } }]);
    given([defined]).when(cmd('UpdateDeparture', { capacity: 3 })).thenNothing();
    given([]).when(cmd('UpdateDeparture', { capacity: 3 })).thenRefuses('departure_not_found');
  });
  test('seats are allocated while capacity lasts; then bookings are waitlisted', () => {
    given([defined]).when(cmd('AllocateSeats', { bookingId: 'b1', seats: 2 })).then([{ type: 'SeatsAllocated', data: { bookingId: 'b1', seats: 2, at } }]);
    const two: DepartureEvent = { type: 'SeatsAllocated', data: { bookingId: 'b1', seats: 2, at } };
    given([defined, two]).when(cmd('AllocateSeats', { bookingId: 'b2', seats: 2 })).then([{ type: 'BookingWaitlistedOnDeparture', data: { bookingId: 'b2', seats: 2, at } }]);
    given([defined, two]).when(cmd('AllocateSeats', { bookingId: 'b3', seats: 1 })).then([{ type: 'SeatsAllocated', data: { bookingId: 'b3', seats: 1, at } }]);
  });
  test('an inquire departure registers an inquiry instead of allocating', () => {
    const inquire: DepartureEvent = { type: 'DepartureUpdated', data: { inquireToBook: true, at } };
    given([defined, inquire]).when(cmd('AllocateSeats', { bookingId: 'b1', seats: 1 })).then([{ type: 'InquiryRegistered', data: { bookingId: 'b1', at } }]);
  });
  test('allocating again for the same booking gives the same answer and records nothing', () => {
    const two: DepartureEvent = { type: 'SeatsAllocated', data: { bookingId: 'b1', seats: 2, at } };
    given([defined, two]).when(cmd('AllocateSeats', { bookingId: 'b1', seats: 2 })).thenNothing();
    expect(placementOf(fold(departureDecider, [defined, two]), 'b1')).toBe('confirmed');
  });
  test('refused: zero seats or an unknown departure', () => {
    given([defined]).when(cmd('AllocateSeats', { bookingId: 'b1', seats: 0 })).thenRefuses('invalid_seats', 'invalid');
    given([]).when(cmd('AllocateSeats', { bookingId: 'b1', seats: 1 })).thenRefuses('departure_not_found');
  });
  test('cancelling a confirmed booking releases its seats once', () => {
    const two: DepartureEvent = { type: 'SeatsAllocated', data: { bookingId: 'b1', seats: 2, at } };
    const released: DepartureEvent = { type: 'SeatsReleased', data: { bookingId: 'b1', seats: 2, at } };
    given([defined, two]).when(cmd('ReleaseSeats', { bookingId: 'b1' })).then([released]);
    given([defined, two, released]).when(cmd('ReleaseSeats', { bookingId: 'b1' })).thenNothing();
    expect(fold(departureDecider, [defined, two, released]).seatsTaken).toBe(0);
  });
  test('refused: a capacity below the seats taken (409 capacity_below_seats_taken)', () => {
    const two: DepartureEvent = { type: 'SeatsAllocated', data: { bookingId: 'b1', seats: 2, at } };
    given([defined, two]).when(cmd('UpdateDeparture', { capacity: 1 })).thenRefuses('capacity_below_seats_taken', 'conflict');
    given([defined, two]).when(cmd('UpdateDeparture', { capacity: 2 })).then([{ type: 'DepartureUpdated', data: { capacity: 2, at } }]);
  });
  test('a freed seat goes to the oldest waitlisted booking that fits; nobody overtakes a party that does not fit yet', () => {
    const one = { ...def, capacity: 2 };
    const base: DepartureEvent[] = [
      { type: 'DepartureDefined', data: { ...one, at } },
      { type: 'SeatsAllocated', data: { bookingId: 'b1', seats: 2, at } },
      { type: 'BookingWaitlistedOnDeparture', data: { bookingId: 'w1', seats: 1, at } },
      { type: 'BookingWaitlistedOnDeparture', data: { bookingId: 'w2', seats: 2, at } },
      { type: 'BookingWaitlistedOnDeparture', data: { bookingId: 'w3', seats: 1, at } },
    ];
    given(base)
      .when(cmd('ReleaseSeats', { bookingId: 'b1' }))
      .then([
        { type: 'SeatsReleased', data: { bookingId: 'b1', seats: 2, at } },
        { type: 'WaitlistedBookingPromoted', data: { bookingId: 'w1', seats: 1, at } },
      ]);
    // more capacity moves the queue too, in order
    given(base)
      .when(cmd('UpdateDeparture', { capacity: 5 }))
      .then([
        { type: 'DepartureUpdated', data: { capacity: 5, at } },
        { type: 'WaitlistedBookingPromoted', data: { bookingId: 'w1', seats: 1, at } },
        { type: 'WaitlistedBookingPromoted', data: { bookingId: 'w2', seats: 2, at } },
      ]);
    // a waitlisted booking that ends leaves the queue; releasing it again does nothing
    const left = fold(departureDecider, [...base, { type: 'WaitlistLeft', data: { bookingId: 'w1', at } }]);
    expect(left.waitlist).toEqual(['w2', 'w3']);
    given([...base, { type: 'WaitlistLeft', data: { bookingId: 'w1', at } }]).when(cmd('ReleaseSeats', { bookingId: 'w1' })).thenNothing();
    given(base).when(cmd('ReleaseSeats', { bookingId: 'w1' })).then([{ type: 'WaitlistLeft', data: { bookingId: 'w1', at } }]);
  });
});
