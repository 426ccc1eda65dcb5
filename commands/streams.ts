/**
 * Stream names, one place. Streams are per tenant by construction, so ids chosen by one tenant
 * (customer ids, departure external ids) can never address another tenant's stream.
 */
export const streams = {
  booking: (tenantId: string, bookingId: string) => `booking-${tenantId}.${bookingId}`,
  departure: (tenantId: string, departureId: string) => `departure-${tenantId}.${departureId}`,
  subscription: (tenantId: string, customerId: string) => `subscription-${tenantId}.${customerId}`,
  plan: (tenantId: string, planId: string) => `plan-${tenantId}.${planId}`,
  invoice: (tenantId: string, invoiceId: string) => `invoice-${tenantId}.${invoiceId}`,
};

/** Tenant ids and client-chosen ids are restricted so stream names stay unambiguous. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;
