/**
 * What a verified provider event means for Settle: a list of steps (a command on an aggregate,
 * something learned about provider objects, a provider action). Translators produce steps; the
 * webhook processor executes them with event ids derived from the provider event id and the
 * step's role, so a redelivered event is a no-op at the event store.
 */
import type { BookingCommand } from '../../domain/booking/booking';
import type { InvoiceCommand } from '../../domain/invoice/invoice';
import type { ProviderSubscriptionSnapshot, SubscriptionCommand } from '../../domain/subscription/subscription';

type Data<C extends { type: string; data: unknown }> = { [K in C['type']]: { type: K; data: Extract<C, { type: K }>['data'] } }[C['type']];

export type Step =
  | { readonly kind: 'invoice'; readonly role: string; readonly tenantId: string; readonly invoiceId: string; readonly command: Data<InvoiceCommand> }
  | { readonly kind: 'booking'; readonly role: string; readonly tenantId: string; readonly bookingId: string; readonly command: Data<BookingCommand> }
  | { readonly kind: 'subscription'; readonly role: string; readonly tenantId: string; readonly customerId: string; readonly command: Data<SubscriptionCommand> }
  /** Settle the customer's pending plan change from a paid or failed plan-change invoice whose lines carry that change's price. */
  | { readonly kind: 'plan_change_outcome'; readonly role: string; readonly tenantId: string; readonly customerId: string; readonly providerInvoiceId: string; readonly outcome: 'captured' | 'declined'; readonly declineCode: string | null; readonly message: string | null; readonly linePriceIds: readonly string[]; readonly linePeriods?: Readonly<Record<string, { readonly start: string; readonly end: string }>> }
  /** Follow the provider's subscription object; the plan is resolved from its price (plans know their prices, archived ones too), trying `planHints` first. */
  | { readonly kind: 'subscription_snapshot'; readonly role: string; readonly tenantId: string; readonly customerId: string; readonly snapshot: Omit<ProviderSubscriptionSnapshot, 'planId'>; readonly planHints: readonly string[] }
  /** Remember what a provider object belongs to. */
  | { readonly kind: 'learn'; readonly provider: string; readonly ref: string; readonly tenantId: string; readonly targetType: 'customer' | 'subscription' | 'invoice' | 'booking'; readonly targetId: string }
  /** Capabilities of a Stripe connected account (account.updated). Never links it to a tenant: linking is an operator act. */
  | { readonly kind: 'connected_account'; readonly accountId: string; readonly chargesEnabled: boolean; readonly payoutsEnabled: boolean; readonly detailsSubmitted: boolean }
  /** Capture an approved PayPal order (idempotent at PayPal by request id). */
  | { readonly kind: 'paypal_capture'; readonly role: string; readonly orderId: string; readonly tenantId: string; readonly invoiceId: string };

export type Translation =
  /** A handled type: do these steps (possibly none: nothing to change). */
  | { readonly outcome: 'steps'; readonly steps: readonly Step[] }
  /** Handled, but its target is not known yet: park and retry later. */
  | { readonly outcome: 'park'; readonly reason: string }
  /** Not a type Settle acts on: acknowledged and counted. */
  | { readonly outcome: 'unhandled' }
  /** Handled, but not to be acted on (the provider's own record contradicts the event): stored as ignored with the reason, counted. */
  | { readonly outcome: 'refuse'; readonly code: string; readonly reason: string };

/** Looks up what Settle learned about provider objects (provider_refs): the port lives in domain/ports/providerRefs.ts. */
export type { RefResolver } from '../../domain/ports/providerRefs';
