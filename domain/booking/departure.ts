/**
 * Departure: a scheduled trip, reference data managed by the tenant's admin endpoint, and the
 * owner of its seats. Seats are allocated here (one stream per departure), so two bookings
 * racing for the last seat serialise on this stream: one gets the seat, the other the waitlist.
 */
import { DomainRefusal, assertNever, type Command, type Decider } from '../shared/decider';
import { isCurrency, isMinorUnits, type Money } from '../shared/money';

export type Placement = 'confirmed' | 'waitlisted' | 'inquiry';

/**
 * How a trip is paid: a deposit now (a fixed amount in the booking's currency, or a percentage of
 * the price) and the balance by a due date (days after the booking was requested, or a calendar
 * date: due by the end of that day, UTC). Declared by the departure; a booking may override it.
 */
export interface PaymentSchedule {
  readonly deposit: { readonly amount: Money } | { readonly percent: number };
  readonly balanceDueDays?: number;
  readonly balanceDueDate?: string;
}

/** Refuses a schedule that cannot be applied (the HTTP layer checks the shape first). */
export function checkSchedule(p: PaymentSchedule, field = 'schedule'): void {
  const bad = (msg: string, f: string): never => {
    throw new DomainRefusal('invalid_schedule', msg, 'invalid', { field: `${field}.${f}` });
  };
  if ('amount' in p.deposit) {
    const m = p.deposit.amount;
    if (!isMinorUnits(m.amount) || m.amount === 0) bad('the deposit must be a positive integer of minor units', 'deposit.amount.amount');
    if (!isCurrency(m.currency)) bad('the deposit currency is not an ISO 4217 currency', 'deposit.amount.currency');
  } else {
    const pc = p.deposit.percent;
    if (!(typeof pc === 'number' && pc > 0 && pc < 100 && Math.abs(Math.round(pc * 100) - pc * 100) < 1e-6)) bad('the deposit percent must be above 0 and below 100, with at most two decimals', 'deposit.percent');
  }
  const days = p.balanceDueDays !== undefined;
  const date = p.balanceDueDate !== undefined;
  if (days === date) bad('give exactly one of balanceDueDays and balanceDueDate', 'balanceDueDays');
  if (days && !(Number.isSafeInteger(p.balanceDueDays) && p.balanceDueDays >= 0 && p.balanceDueDays <= 3650)) bad('balanceDueDays must be a whole number from 0 to 3650', 'balanceDueDays');
  if (date && !(/^\d{4}-\d{2}-\d{2}$/.test(p.balanceDueDate) && new Date(`${p.balanceDueDate}T00:00:00Z`).toISOString().startsWith(p.balanceDueDate))) bad('balanceDueDate must be a calendar date (YYYY-MM-DD)', 'balanceDueDate');
}

export type DepartureCommand =
  | Command<'DefineDeparture', { departureId: string; tenantId: string; externalId: string; name: string; paymentScheduleId: string | null; capacity: number; inquireToBook: boolean; schedule?: PaymentSchedule | null }>
  | Command<'UpdateDeparture', { name?: string; paymentScheduleId?: string | null; capacity?: number; inquireToBook?: boolean; schedule?: PaymentSchedule | null }>
  | Command<'AllocateSeats', { bookingId: string; seats: number }>
  | Command<'ReleaseSeats', { bookingId: string }>;

export type DepartureEvent =
  | { type: 'DepartureDefined'; data: { departureId: string; tenantId: string; externalId: string; name: string; paymentScheduleId: string | null; capacity: number; inquireToBook: boolean; schedule?: PaymentSchedule | null; at: string } }
  | { type: 'DepartureUpdated'; data: { name?: string; paymentScheduleId?: string | null; capacity?: number; inquireToBook?: boolean; schedule?: PaymentSchedule | null; at: string } }
  | { type: 'SeatsAllocated'; data: { bookingId: string; seats: number; at: string } }
  | { type: 'BookingWaitlistedOnDeparture'; data: { bookingId: string; seats: number; at: string } }
  | { type: 'InquiryRegistered'; data: { bookingId: string; at: string } }
  | { type: 'SeatsReleased'; data: { bookingId: string; seats: number; at: string } }
  /** A seat freed up: the oldest waitlisted booking that fits takes it (the booking stream follows). */
  | { type: 'WaitlistedBookingPromoted'; data: { bookingId: string; seats: number; at: string } }
  /** A waitlisted booking ended (cancelled, refunded) before it got a seat. */
  | { type: 'WaitlistLeft'; data: { bookingId: string; at: string } };

export interface DepartureState {
  readonly exists: boolean;
  /** The departure's id: the API's `departureId` and the stream key (stored in DepartureDefined as `externalId`). */
  readonly departureId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly paymentScheduleId: string | null;
  /** Deposit and balance (null: the full price is paid at once). */
  readonly schedule: PaymentSchedule | null;
  readonly capacity: number;
  readonly inquireToBook: boolean;
  readonly seatsTaken: number;
  /** Per booking: what it was given (idempotent allocation). */
  readonly placements: Readonly<Record<string, { placement: Placement; seats: number }>>;
  /** Waitlisted booking ids, oldest first. */
  readonly waitlist: readonly string[];
}

export const initialDepartureState: DepartureState = {
  exists: false,
  departureId: '',
  tenantId: '',
  name: '',
  paymentScheduleId: null,
  schedule: null,
  capacity: 0,
  inquireToBook: false,
  seatsTaken: 0,
  placements: {},
  waitlist: [],
};

function validCapacity(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= 100_000;
}

function define(c: Extract<DepartureCommand, { type: 'DefineDeparture' }>, s: DepartureState): DepartureEvent[] {
  if (s.exists) throw new DomainRefusal('departure_exists', `departure ${s.departureId} is already defined`);
  if (!validCapacity(c.data.capacity)) throw new DomainRefusal('invalid_capacity', 'capacity must be a whole number from 0 to 100000', 'invalid');
  if (c.data.schedule) checkSchedule(c.data.schedule);
  return [{ type: 'DepartureDefined', data: { ...c.data, at: c.metadata.now.toISOString() } }];
}

function update(c: Extract<DepartureCommand, { type: 'UpdateDeparture' }>, s: DepartureState): DepartureEvent[] {
  if (!s.exists) throw new DomainRefusal('departure_not_found', 'no such departure');
  if (c.data.capacity !== undefined && !validCapacity(c.data.capacity)) throw new DomainRefusal('invalid_capacity', 'capacity must be a whole number from 0 to 100000', 'invalid');
  if (c.data.capacity !== undefined && c.data.capacity < s.seatsTaken) {
    throw new DomainRefusal('capacity_below_seats_taken', `${s.seatsTaken} seats are taken: the capacity cannot go below that (cancel or refund bookings first)`, 'conflict', {
      field: 'capacity',
      seatsTaken: s.seatsTaken,
    });
  }
  if (c.data.schedule) checkSchedule(c.data.schedule);
  const changed = Object.entries<unknown>(c.data).filter(([k, v]) => v !== undefined && JSON.stringify((s as unknown as Record<string, unknown>)[k] ?? null) !== JSON.stringify(v));
  if (changed.length === 0) return [];
  const at = c.metadata.now.toISOString();
  const updated: DepartureEvent = { type: 'DepartureUpdated', data: { ...Object.fromEntries(changed), at } };
  return [updated, ...promotions(departureDecider.evolve(s, updated), at)];
}

/**
 * Seats freed (a release, more capacity): the waitlist moves in order. The oldest waitlisted
 * booking takes a seat when its party fits; a party that does not fit yet stops the queue (no one
 * overtakes it), so the waitlist stays first come, first served.
 */
function promotions(s: DepartureState, at: string): DepartureEvent[] {
  const out: DepartureEvent[] = [];
  let state = s;
  for (const bookingId of s.waitlist) {
    const seats = state.placements[bookingId]?.seats ?? 1;
    if (state.seatsTaken + seats > state.capacity) break;
    const e: DepartureEvent = { type: 'WaitlistedBookingPromoted', data: { bookingId, seats, at } };
    out.push(e);
    state = departureDecider.evolve(state, e);
  }
  return out;
}

function allocate(c: Extract<DepartureCommand, { type: 'AllocateSeats' }>, s: DepartureState): DepartureEvent[] {
  if (!s.exists) throw new DomainRefusal('departure_not_found', 'no such departure');
  if (!Number.isSafeInteger(c.data.seats) || c.data.seats < 1) throw new DomainRefusal('invalid_seats', 'a booking needs at least one seat', 'invalid');
  if (s.placements[c.data.bookingId]) return []; // already placed: the same answer again
  const at = c.metadata.now.toISOString();
  if (s.inquireToBook) return [{ type: 'InquiryRegistered', data: { bookingId: c.data.bookingId, at } }];
  if (s.seatsTaken + c.data.seats > s.capacity) return [{ type: 'BookingWaitlistedOnDeparture', data: { bookingId: c.data.bookingId, seats: c.data.seats, at } }];
  return [{ type: 'SeatsAllocated', data: { bookingId: c.data.bookingId, seats: c.data.seats, at } }];
}

function release(c: Extract<DepartureCommand, { type: 'ReleaseSeats' }>, s: DepartureState): DepartureEvent[] {
  const p = s.placements[c.data.bookingId];
  const at = c.metadata.now.toISOString();
  if (p?.placement === 'waitlisted' && s.waitlist.includes(c.data.bookingId)) return [{ type: 'WaitlistLeft', data: { bookingId: c.data.bookingId, at } }];
  if (!p || p.placement !== 'confirmed' || p.seats === 0) return [];
  const released: DepartureEvent = { type: 'SeatsReleased', data: { bookingId: c.data.bookingId, seats: p.seats, at } };
  return [released, ...promotions(departureDecider.evolve(s, released), at)];
}

export function placementOf(s: DepartureState, bookingId: string): Placement | null {
  return s.placements[bookingId]?.placement ?? null;
}

export const departureDecider: Decider<DepartureCommand, DepartureEvent, DepartureState> = {
  initialState: initialDepartureState,
  decide(command, state) {
    switch (command.type) {
      case 'DefineDeparture':
        return define(command, state);
      case 'UpdateDeparture':
        return update(command, state);
      case 'AllocateSeats':
        return allocate(command, state);
      case 'ReleaseSeats':
        return release(command, state);
      default:
        return assertNever(command, 'departure command');
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case 'DepartureDefined': {
        // stored events name the departure twice (`departureId`, `externalId`, equal in every event
        // Settle writes); the stream key is `externalId`, which the state calls departureId
        const { at: _at, externalId, ...d } = e.data;
        return { ...s, ...d, departureId: externalId, exists: true };
      }
      case 'DepartureUpdated': {
        const { at: _at, ...d } = e.data;
        return { ...s, ...Object.fromEntries(Object.entries<unknown>(d).filter(([, v]) => v !== undefined)) };
      }
      case 'SeatsAllocated':
        return { ...s, seatsTaken: s.seatsTaken + e.data.seats, placements: { ...s.placements, [e.data.bookingId]: { placement: 'confirmed', seats: e.data.seats } } };
      case 'BookingWaitlistedOnDeparture':
        return { ...s, placements: { ...s.placements, [e.data.bookingId]: { placement: 'waitlisted', seats: e.data.seats } }, waitlist: [...s.waitlist, e.data.bookingId] };
      case 'WaitlistedBookingPromoted':
        return {
          ...s,
          seatsTaken: s.seatsTaken + e.data.seats,
          placements: { ...s.placements, [e.data.bookingId]: { placement: 'confirmed', seats: e.data.seats } },
          waitlist: s.waitlist.filter((b) => b !== e.data.bookingId),
        };
      case 'WaitlistLeft':
        return { ...s, waitlist: s.waitlist.filter((b) => b !== e.data.bookingId) };
      case 'InquiryRegistered':
        return { ...s, placements: { ...s.placements, [e.data.bookingId]: { placement: 'inquiry', seats: 0 } } };
      case 'SeatsReleased':
        return { ...s, seatsTaken: s.seatsTaken - e.data.seats, placements: { ...s.placements, [e.data.bookingId]: { placement: 'confirmed', seats: 0 } } };
      default:
        return assertNever(e, 'departure event');
    }
  },
};
