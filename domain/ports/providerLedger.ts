/**
 * Reading what the payment providers hold, for reconciliation ("resync"): the objects changed
 * since a date, exactly as the provider returns them, so the webhook translators can turn them
 * into the facts their webhooks would have carried. Reads only: nothing here moves money.
 * Adapters live in infrastructure/providers (stripeLedger.ts, the PayPal client); failures are
 * ProviderError, except a rate limit, which says how long the provider asked to wait.
 */

/** A provider object as JSON (a Stripe payment intent, a PayPal order...). */
export type ProviderObject = Readonly<Record<string, unknown>>;

/** What Settle lists at Stripe, on the platform and on each tenant's connected account. */
export type StripeLedgerKind = 'subscription' | 'invoice' | 'payment_intent' | 'charge' | 'refund' | 'dispute';

export interface StripeListQuery {
  /** The connected account to list on (Stripe-Account); null: the platform account. */
  readonly accountId: string | null;
  /** Objects created at or after this instant (Stripe's `created[gte]`). */
  readonly since: Date;
  /** Page size, 1..100. */
  readonly limit: number;
  /** The last object id of the previous page (Stripe's `starting_after`); null for the first page. */
  readonly startingAfter: string | null;
}

export interface StripeLedgerPage {
  /** Newest first, as Stripe lists them. */
  readonly objects: readonly ProviderObject[];
  readonly hasMore: boolean;
}

export interface StripeLedger {
  list(kind: StripeLedgerKind, query: StripeListQuery): Promise<StripeLedgerPage>;
}

/**
 * PayPal has no list API for the captures and refunds of orders (its transaction search is a
 * delayed reporting API of another shape), so reconciliation re-reads the orders Settle knows of.
 */
export interface PayPalLedger {
  /** The order with its purchase units' captures and refunds; null when PayPal does not know the id. */
  readOrder(orderId: string): Promise<ProviderObject | null>;
}

/** The provider refused for now (HTTP 429); `retryAfterMs` is its Retry-After, when it sent one. */
export class ProviderRateLimited extends Error {
  override readonly name = 'ProviderRateLimited';
  constructor(
    readonly retryAfterMs: number | null,
    message: string,
  ) {
    super(message);
  }
}
