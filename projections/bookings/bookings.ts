/**
 * The bookings read model: one row per booking with its pipeline stage (requested, inquiry,
 * waitlisted, paid, in CRM, payment associated, needs attention, cancelled, refunded), CRM ids,
 * and per CRM stage the attempts and the last error, so support sees every stuck booking.
 */
import type { DomainEventType } from '../../domain/events';
import { bookingDecider, type BookingState } from '../../domain/booking/booking';
import { AGGREGATE_ROW_COLUMNS, applyAggregateRows, type AggregateRowsSpec } from '../aggregateRows';
import type { ProjectionDefinition } from '../../domain/ports/projection';

/**
 * `deposit_paid`: the deposit is in, the balance is not yet due. `balance_overdue` is never stored:
 * it is a deposit_paid booking whose balance due instant has passed, decided when it is read
 * (projections/queries.ts), so no timer has to move it.
 */
export const BOOKING_STAGES = ['requested', 'inquiry', 'waitlisted', 'deposit_paid', 'balance_overdue', 'paid', 'in_crm', 'payment_associated', 'needs_attention', 'cancelled', 'refunded'] as const;
export type BookingStage = (typeof BOOKING_STAGES)[number];

export function stageOf(s: BookingState): BookingStage {
  // first: a cancelled or refunded booking can still need a human (money received after cancelling)
  if (s.needsAttention.length > 0) return 'needs_attention';
  if (s.status === 'cancelled') return 'cancelled';
  if (s.status === 'refunded') return 'refunded';
  switch (s.status) {
    case 'requested':
      return 'requested';
    case 'inquiry':
      return 'inquiry';
    case 'waitlisted':
      return 'waitlisted';
    case 'deposit_paid':
      return 'deposit_paid';
    default:
      if (s.crmPaymentAssociated) return 'payment_associated';
      if (s.crmBookingId) return 'in_crm';
      return 'paid';
  }
}

const rows: AggregateRowsSpec<BookingState> = {
  category: 'booking-',
  initialState: bookingDecider.initialState,
  evolve: (s, e) => bookingDecider.evolve(s, e as never),
  columns: (s, ctx) => ({
    booking_id: ctx.id,
    stage: stageOf(s),
    status: s.status,
    needs_attention: s.needsAttention.length > 0,
    attention: s.needsAttention,
    departure_id: s.request?.departureId ?? null,
    client_name: s.request ? `${s.request.contact.firstName} ${s.request.contact.lastName}` : null,
    amount: s.request?.price.amount ?? null,
    currency: s.request?.price.currency ?? null,
    provider_payment_id: s.payment?.providerPaymentId ?? null,
    crm_booking_id: s.crmBookingId,
    crm_payment_associated: s.crmPaymentAssociated,
    crm_stages: s.stages,
    failed_payment_attempts: s.failedAttempts.length,
    waitlist_promoted_at: s.promotedAt ?? null,
  }),
};

export const bookingsProjection: ProjectionDefinition<'bookings'> = {
  name: 'bookings',
  tables: ['bookings'],
  eventTypes: new Set<DomainEventType>([
    'BookingRequested',
    'BookingWaitlisted',
    'BookingInquiryReceived',
    'BookingPaymentCompleted',
    'BookingPaymentMismatch',
    'BookingPaymentFailed',
    'CrmBookingCreated',
    'CrmPaymentAssociated',
    'CrmStageAttemptStarted',
    'CrmStageAttemptFailed',
    'CrmStageFailed',
    'CrmStageRetryRequested',
    'BookingCancelled',
    'BookingRefunded',
    'BookingPaymentHeld',
    'BookingPromotedFromWaitlist',
    'BookingDisputeOpened',
    'BookingDisputeWon',
    'BookingDisputeLost',
  ]),
  ddl: (t) => `
    CREATE TABLE ${t.bookings} (${AGGREGATE_ROW_COLUMNS},
      booking_id              text    NOT NULL,
      stage                   text    NOT NULL,
      status                  text    NOT NULL,
      needs_attention         boolean NOT NULL,
      attention               jsonb   NOT NULL,
      departure_id            text,
      client_name             text,
      amount                  bigint,
      currency                text,
      provider_payment_id     text,
      crm_booking_id          text,
      crm_payment_associated  boolean NOT NULL,
      crm_stages              jsonb   NOT NULL,
      failed_payment_attempts int     NOT NULL,
      -- set when the booking left the waitlist for a seat (BookingPromotedFromWaitlist)
      waitlist_promoted_at    timestamptz
    );
    CREATE UNIQUE INDEX ${t.bookings}_id ON ${t.bookings} (tenant_id, booking_id);
    CREATE INDEX ${t.bookings}_stage ON ${t.bookings} (tenant_id, needs_attention DESC, stage, updated_at DESC);`,
  apply: (tx, events, t) => applyAggregateRows(tx, t.bookings, rows, events),
};
