/**
 * Booking and departure commands. A booking request first asks the departure for seats (the
 * departure stream serialises the race for the last seat), then records the request on the
 * booking stream with the placement it got. Both appends use ids derived from the booking id,
 * so a retried request cannot take a second seat or create a second booking.
 */
import type { BillingProvider } from '../domain/ports/billingProvider';
import type { EventStore } from '../domain/ports/eventStore';
import { DomainRefusal } from '../domain/shared/decider';
import type { Money } from '../domain/shared/money';
import { bookingDecider, type BookingCommand, type BookingState, type Contact, type Guest } from '../domain/booking/booking';
import { departureDecider, placementOf, type DepartureCommand, type DepartureEvent, type DepartureState, type PaymentSchedule, type Placement } from '../domain/booking/departure';
import { handle, handleBoth, load, type CommandContext, type Handled } from './handle';
import { streams } from './streams';

const cmd = <C extends { type: string; data: unknown }>(type: C['type'], data: C['data'], ctx: CommandContext) => ({ type, data, metadata: { now: ctx.now } }) as never;

export interface DepartureInput {
  /** The departure's id, chosen by the tenant (the stream key). */
  departureId: string;
  name: string;
  paymentScheduleId: string | null;
  capacity: number;
  inquireToBook: boolean;
  /** Deposit and balance (null or absent: the full price at once). */
  schedule?: PaymentSchedule | null;
}

export class BookingCommands {
  constructor(
    private readonly store: EventStore,
    private readonly provider: BillingProvider,
  ) {}

  defineDeparture(input: DepartureInput, ctx: CommandContext): Promise<Handled<DepartureState, unknown>> {
    return handle(
      this.store,
      streams.departure(ctx.tenantId, input.departureId),
      departureDecider,
      // stored under both historical names (domain/booking/departure.ts)
      () => cmd<DepartureCommand>('DefineDeparture', { ...input, tenantId: ctx.tenantId, externalId: input.departureId }, ctx),
      ctx,
    );
  }

  async updateDeparture(departureId: string, changes: Partial<Omit<DepartureInput, 'departureId'>>, ctx: CommandContext): Promise<Handled<DepartureState, unknown>> {
    const r = await handle(this.store, streams.departure(ctx.tenantId, departureId), departureDecider, () => cmd<DepartureCommand>('UpdateDeparture', changes, ctx), ctx);
    // more capacity: the waitlist moved; its bookings follow now (and the waitlist reactor makes sure)
    await followPromotions(this.store, ctx.tenantId, departureId, r.newEvents, ctx);
    return r;
  }

  async getDeparture(tenantId: string, departureId: string): Promise<DepartureState | null> {
    const d = await load(this.store, streams.departure(tenantId, departureId), departureDecider);
    return d.state.exists ? d.state : null;
  }

  async requestBooking(
    input: { bookingId: string; departureId: string; contact: Contact; guests: Guest[]; price: Money; paymentScheduleId: string | null; schedule?: PaymentSchedule | null },
    ctx: CommandContext,
  ): Promise<Handled<BookingState, unknown>> {
    const departureStream = streams.departure(ctx.tenantId, input.departureId);
    // Refusals first: a request the booking would refuse must not take a seat.
    bookingDecider.decide(
      cmd<BookingCommand>(
        'RequestBooking',
        { bookingId: input.bookingId, tenantId: ctx.tenantId, departure: { departureId: input.departureId, externalId: input.departureId, paymentScheduleId: null }, placement: 'confirmed', contact: input.contact, guests: input.guests, price: input.price, paymentScheduleId: input.paymentScheduleId, schedule: input.schedule ?? null },
        ctx,
      ),
      bookingDecider.initialState,
    );
    const bookingStream = streams.booking(ctx.tenantId, input.bookingId);
    const allocate = () => cmd<DepartureCommand>('AllocateSeats', { bookingId: input.bookingId, seats: Math.max(1, input.guests.length) }, ctx);
    const request = (departure: DepartureState, placement: Placement) =>
      cmd<BookingCommand>(
        'RequestBooking',
        {
          bookingId: input.bookingId,
          tenantId: ctx.tenantId,
          departure: { departureId: departure.departureId, externalId: departure.departureId, paymentScheduleId: departure.paymentScheduleId, schedule: departure.schedule ?? null },
          placement,
          contact: input.contact,
          guests: input.guests,
          price: input.price,
          paymentScheduleId: input.paymentScheduleId,
          schedule: input.schedule ?? null,
        },
        ctx,
      );
    // A retry of the same request (lost response) gets the booking it created; a different request with the id is refused.
    const sameRequest = (existing: BookingState): boolean => {
      const r = existing.request;
      return (
        r !== null &&
        r.departureId === input.departureId &&
        r.price.amount === input.price.amount &&
        r.price.currency === input.price.currency &&
        (['firstName', 'lastName', 'email', 'phone'] as const).every((k) => r.contact[k] === input.contact[k]) &&
        r.guests.length === input.guests.length &&
        // a schedule of its own (or none): the same request asked the same way
        (input.schedule ? r.schedule?.source === 'booking' : r.schedule?.source !== 'booking')
      );
    };
    if (this.store.appendAtomically) {
      // The seat and the booking are written in one transaction: an outage between them cannot
      // leave a seat held by a booking that does not exist.
      const out = await handleBoth(
        this.store,
        { streamId: departureStream, decider: departureDecider, makeCommand: allocate, ctx: { ...ctx, idSeed: `allocate|${input.bookingId}` } },
        {
          streamId: bookingStream,
          decider: bookingDecider,
          ctx: { ...ctx, idSeed: `request|${input.bookingId}` },
          makeCommand: (booking, departure) => {
            if (booking.request) return null;
            const placement = placementOf(departure, input.bookingId);
            if (!placement) throw new DomainRefusal('departure_not_found', `no departure ${input.departureId}`, 'invalid', { field: 'departureId' });
            return request(departure, placement);
          },
        },
      );
      if ('stopped' in out) {
        if (sameRequest(out.stopped.state)) return { state: out.stopped.state, newEvents: [], revision: out.stopped.revision, position: out.stopped.position, unchanged: true };
        throw new DomainRefusal('booking_exists', `booking ${input.bookingId} already exists with other details`);
      }
      return out.second;
    }
    // Stores without multi-stream transactions (EventStoreDB): seat first, then the booking, and
    // the seat is given back when the booking cannot be recorded.
    const seats = await handle(this.store, departureStream, departureDecider, allocate, { ...ctx, idSeed: `allocate|${input.bookingId}` }, { maxAttempts: 25 });
    const placement = placementOf(seats.state, input.bookingId);
    if (!placement) throw new DomainRefusal('departure_not_found', `no departure ${input.departureId}`, 'invalid', { field: 'departureId' });
    const existing = await load(this.store, bookingStream, bookingDecider);
    if (existing.state.request) {
      if (sameRequest(existing.state)) return { state: existing.state, newEvents: [], revision: existing.revision, position: existing.position, unchanged: true };
      throw new DomainRefusal('booking_exists', `booking ${input.bookingId} already exists with other details`);
    }
    const releaseOnFailure = async (err: unknown): Promise<never> => {
      // the booking was not recorded: give its seat back (the same release a cancel does), then
      // fail; unless a concurrent request with the same booking id did record it
      const now = await load(this.store, bookingStream, bookingDecider).catch(() => null);
      if (now && now.state.status !== 'none') throw err;
      await handle(this.store, departureStream, departureDecider, () => cmd<DepartureCommand>('ReleaseSeats', { bookingId: input.bookingId }, ctx), {
        ...ctx,
        idSeed: `release|${input.bookingId}`,
      }).catch(() => undefined);
      throw err;
    };
    return handle(this.store, bookingStream, bookingDecider, () => request(seats.state, placement), { ...ctx, idSeed: `request|${input.bookingId}` }).catch(releaseOnFailure);
  }

  async getBooking(tenantId: string, bookingId: string): Promise<{ state: BookingState; revision: bigint | null } | null> {
    const b = await load(this.store, streams.booking(tenantId, bookingId), bookingDecider);
    return b.state.status === 'none' ? null : { state: b.state, revision: b.revision };
  }

  async cancelBooking(bookingId: string, reason: string, ctx: CommandContext): Promise<Handled<BookingState, unknown>> {
    const r = await handle(this.store, streams.booking(ctx.tenantId, bookingId), bookingDecider, () => cmd<BookingCommand>('CancelBooking', { reason }, ctx), ctx);
    const departure = r.state.request?.departureId;
    if (departure && r.state.status === 'cancelled') await releaseSeats(this.store, ctx.tenantId, departure, bookingId, ctx, `release|${bookingId}`);
    return r;
  }

  /**
   * Refund: decided first (never more than paid), then the provider refund (idempotency key =
   * refund id, so a retry cannot refund twice), then the fact is recorded.
   */
  async refundBooking(bookingId: string, input: { refundId: string; amount: Money; reason: string | null }, ctx: CommandContext): Promise<Handled<BookingState, unknown>> {
    const stream = streams.booking(ctx.tenantId, bookingId);
    const before = await load(this.store, stream, bookingDecider);
    const refund = cmd<BookingCommand>('RefundBooking', input, ctx);
    const decided = bookingDecider.decide(refund, before.state); // throws the refusal, before any money moves
    if (decided.length === 0) return handle(this.store, stream, bookingDecider, () => refund, ctx);
    // the payment the refund goes back on (deposit and balance are two payments)
    const decidedOn = (decided[0]?.data as { providerPaymentId?: string } | undefined)?.providerPaymentId;
    const payment = before.state.payments.find((p) => p.providerPaymentId === decidedOn) ?? before.state.payment;
    if (!payment) throw new Error(`booking ${bookingId}: the refund was decided on no payment the booking holds`);
    const { providerRefundId } = await this.provider.refund({
      idempotencyKey: `booking-refund|${ctx.tenantId}|${input.refundId}`,
      provider: payment.provider,
      providerPaymentId: payment.providerPaymentId,
      providerChargeId: payment.providerChargeId,
      amount: input.amount,
      accountId: null,
    });
    // Recorded under the provider's refund id, so the provider's own refund webhook is the same refund.
    const recorded = cmd<BookingCommand>('RefundBooking', { ...input, refundId: providerRefundId }, ctx);
    return handle(this.store, stream, bookingDecider, () => recorded, { ...ctx, idSeed: `refund|${providerRefundId}` });
  }

  retryCrmStage(bookingId: string, requestedBy: string, ctx: CommandContext): Promise<Handled<BookingState, unknown>> {
    return handle(this.store, streams.booking(ctx.tenantId, bookingId), bookingDecider, () => cmd<BookingCommand>('RetryCrmStage', { requestedBy }, ctx), ctx);
  }
}

/**
 * A booking ended (cancelled, fully refunded): its seats go back to the departure, and the
 * waitlist moves (the oldest waitlisted booking that fits is promoted, see domain/booking/departure.ts).
 */
export async function releaseSeats(store: EventStore, tenantId: string, departureId: string, bookingId: string, ctx: CommandContext, idSeed: string): Promise<void> {
  const r = await handle(store, streams.departure(tenantId, departureId), departureDecider, () => cmd<DepartureCommand>('ReleaseSeats', { bookingId }, ctx), { ...ctx, tenantId, idSeed });
  await followPromotions(store, tenantId, departureId, r.newEvents, ctx);
}

/**
 * The bookings a departure promoted from its waitlist follow on their own streams
 * (BookingPromotedFromWaitlist; a booking paid while it waited then goes to the CRM). Idempotent:
 * a booking is promoted at most once per departure, so the ids are seeded by departure and
 * booking; a booking that ended meanwhile gives the seat straight back to the next in line.
 */
export async function followPromotions(store: EventStore, tenantId: string, departureId: string, events: readonly DepartureEvent[], ctx: CommandContext): Promise<void> {
  for (const e of events) {
    if (e.type !== 'WaitlistedBookingPromoted') continue;
    const { bookingId, seats } = e.data;
    const r = await handle(store, streams.booking(tenantId, bookingId), bookingDecider, () => cmd<BookingCommand>('PromoteFromWaitlist', { seats }, ctx), {
      ...ctx,
      tenantId,
      idSeed: `promote|${departureId}|${bookingId}`,
    }).catch((err: unknown) => {
      // a waitlist place whose booking was never recorded (a store without two-stream
      // transactions that failed between the two appends): nobody to promote
      if (err instanceof DomainRefusal && err.code === 'booking_not_found') return null;
      throw err;
    });
    if (!r || r.state.status === 'cancelled' || r.state.status === 'refunded') await releaseSeats(store, tenantId, departureId, bookingId, ctx, `release-ended|${bookingId}`);
  }
}
