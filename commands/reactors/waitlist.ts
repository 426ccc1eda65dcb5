/**
 * Keeps seats and the waitlist moving from the event log, whatever path recorded the fact: a
 * booking that ends (cancelled, or its payment fully refunded, by the API or a provider webhook)
 * gives its seats back, and a booking the departure promoted from its waitlist is promoted on its
 * own stream. The API commands do the same at once (commands/bookings.ts); this catch-up
 * subscription (durable checkpoint, at-least-once) finishes what a crash between two appends
 * left half done. Every step is idempotent (seeded event ids, deciders that answer nothing twice).
 */
import { bookingDecider, type BookingRefundedData } from '../../domain/booking/booking';
import type { DepartureEvent } from '../../domain/booking/departure';
import { systemClock, type Clock } from '../../domain/ports/clock';
import type { EventStore, RecordedEvent } from '../../domain/ports/eventStore';
import { followPromotions, releaseSeats } from '../bookings';
import { load, type CommandContext } from '../handle';
import { streams } from '../streams';

/** `booking-<tenant>.<id>` -> { tenantId, id } (tenant ids contain no dot: ID_PATTERN). */
function parseStream(category: string, streamId: string): { tenantId: string; id: string } | null {
  if (!streamId.startsWith(category)) return null;
  const rest = streamId.slice(category.length);
  const dot = rest.indexOf('.');
  return dot > 0 ? { tenantId: rest.slice(0, dot), id: rest.slice(dot + 1) } : null;
}

export const WAITLIST_EVENTS = new Set(['WaitlistedBookingPromoted', 'BookingCancelled', 'BookingRefunded']);

export function waitlistHandler(store: EventStore, clock: Clock = systemClock) {
  return async (events: readonly RecordedEvent[]): Promise<void> => {
    for (const e of events) {
      if (!WAITLIST_EVENTS.has(e.type)) continue;
      const ctx = (tenantId: string): CommandContext => ({
        tenantId,
        correlationId: e.metadata.correlationId,
        causationId: e.id,
        actor: { kind: 'system', id: 'waitlist' },
        now: clock.now(),
      });
      if (e.type === 'WaitlistedBookingPromoted') {
        const d = parseStream('departure-', e.streamId);
        if (d) await followPromotions(store, d.tenantId, d.id, [{ type: e.type, data: e.data } as DepartureEvent], ctx(d.tenantId));
        continue;
      }
      // BookingRefunded: only refunds recorded since refunds name their payment end a booking
      // here (older fully refunded bookings kept their seats; replaying them must not move seats)
      if (e.type === 'BookingRefunded') {
        const r = e.data as BookingRefundedData;
        if (!r.full || typeof r.providerPaymentId !== 'string') continue;
      }
      const b = parseStream('booking-', e.streamId);
      if (!b) continue;
      const booking = await load(store, streams.booking(b.tenantId, b.id), bookingDecider);
      const departure = booking.state.request?.departureId;
      if (!departure || (booking.state.status !== 'cancelled' && booking.state.status !== 'refunded')) continue;
      await releaseSeats(store, b.tenantId, departure, b.id, ctx(b.tenantId), e.type === 'BookingCancelled' ? `release|${b.id}` : `release-ended|${b.id}`);
    }
  };
}
