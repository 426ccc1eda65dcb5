/**
 * The external CRM (trip bookings): slow, sometimes down. The CRM sync saga reaches it only
 * through this port, never on an HTTP request path. The CRM deduplicates contact bookings on
 * Settle's booking id (`externalReference`) and payment associations on the payment id, so a
 * retried call cannot create a second booking.
 */
import type { Money } from '../shared/money';

export interface CrmContactBookingRequest {
  readonly externalReference: string;
  readonly departureId: string;
  readonly paymentScheduleId: string;
  readonly contact: { readonly firstName: string; readonly lastName: string; readonly email: string; readonly phone: string };
  readonly guests: ReadonlyArray<{ readonly firstName: string; readonly lastName: string; readonly email?: string; readonly isClient: boolean }>;
  readonly amount: Money;
  readonly waitlisted: boolean;
}

export interface CrmPaymentRequest {
  readonly crmBookingId: string;
  readonly externalReference: string;
  readonly paymentId: string;
  readonly amount: Money;
}

export interface Crm {
  createContactBooking(req: CrmContactBookingRequest): Promise<{ crmBookingId: string; ids: Record<string, string> }>;
  associatePayment(req: CrmPaymentRequest): Promise<{ crmPaymentId: string }>;
}

/** timeout and unavailable are worth retrying; rejected (4xx) is not. */
export class CrmError extends Error {
  override readonly name = 'CrmError';
  constructor(
    readonly kind: 'timeout' | 'unavailable' | 'rejected',
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

/** A CRM stage that failed for good, for the humans who can fix it. */
export interface CrmStageFailedNotice {
  /** Stable per failure: a redelivered trigger does not notify twice. */
  readonly key: string;
  readonly bookingId: string;
  readonly tenantId: string;
  readonly stage: 'create_contact_booking' | 'associate_payment';
  readonly attempts: ReadonlyArray<{ readonly attempt: number; readonly error: string; readonly at: string }>;
  readonly retryUrl: string;
  readonly booking: { readonly clientName: string; readonly departure: string; readonly amount: Money; readonly crmBookingId: string | null };
}

/** Tells operations (email) about what needs a human. */
export interface Notifier {
  crmStageFailed(notice: CrmStageFailedNotice): Promise<void>;
}
