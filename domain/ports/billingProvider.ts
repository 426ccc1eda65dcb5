/**
 * The outbound calls commands make to payment providers. Adapters (Stripe platform, Stripe
 * Connect, PayPal) live in infrastructure/providers; command tests use a recording adapter.
 * Every call carries an idempotency key so a retried command cannot act twice at the provider.
 * Failures are a small typed vocabulary, never SDK errors.
 */
import type { Money } from '../shared/money';

export type ProviderErrorKind = 'declined' | 'needs_action' | 'retryable' | 'invalid' | 'auth' | 'unavailable';

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly code: string | null = null,
    readonly declineCode: string | null = null,
  ) {
    super(message);
  }
}

export interface CheckoutSessionRequest {
  readonly idempotencyKey: string;
  readonly tenantId: string;
  readonly customerId: string;
  readonly priceId: string;
  /** Carried as provider metadata so webhooks find their way back. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface CheckoutSession {
  readonly sessionId: string;
  readonly url: string;
  readonly expiresAt: Date;
}

export interface PlanChangeRequest {
  readonly idempotencyKey: string;
  readonly providerSubscriptionId: string;
  readonly priceId: string;
  readonly prorationBehavior: 'always_invoice';
  readonly paymentBehavior: 'pending_if_incomplete';
  readonly billingCycleAnchor: 'now' | 'unchanged';
}

export interface PlanChangeResult {
  readonly outcome: 'captured' | 'declined' | 'pending';
  readonly providerInvoiceId: string | null;
  readonly declineCode: string | null;
  readonly message: string | null;
  /**
   * The subscription's current period after the change, as the provider set it (ISO-8601). A reset
   * billing cycle anchor restarts it at the provider's time of the change, which only the provider
   * knows; absent when the answer carries none.
   */
  readonly period?: { readonly start: string; readonly end: string } | null;
}

export interface PriceRequest {
  readonly idempotencyKey: string;
  readonly productId: string;
  readonly amount: Money;
  readonly interval: 'month' | 'year';
  /** Carried on the provider price (`tenant_id`, `plan_id`), so a subscription object names the plan of its price. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface RefundRequest {
  readonly idempotencyKey: string;
  readonly provider: 'stripe' | 'paypal';
  readonly providerPaymentId: string;
  readonly providerChargeId: string | null;
  readonly amount: Money;
  /** Connected account (Stripe Connect) or merchant the payment belongs to; null for the platform. */
  readonly accountId: string | null;
}

export interface BillingProvider {
  createCheckoutSession(req: CheckoutSessionRequest): Promise<CheckoutSession>;
  /** Expires an open checkout session (replaced by a checkout of another plan); refused as `invalid` once it completed. */
  expireCheckoutSession(req: { idempotencyKey: string; sessionId: string }): Promise<void>;
  changeSubscriptionPlan(req: PlanChangeRequest): Promise<PlanChangeResult>;
  cancelSubscription(req: { idempotencyKey: string; providerSubscriptionId: string; atPeriodEnd: boolean }): Promise<void>;
  voidInvoice(req: { idempotencyKey: string; providerInvoiceId: string }): Promise<void>;
  createProduct(req: { idempotencyKey: string; tenantId: string; name: string }): Promise<{ productId: string }>;
  createPrice(req: PriceRequest): Promise<{ priceId: string }>;
  archivePrice(req: { idempotencyKey: string; priceId: string }): Promise<void>;
  refund(req: RefundRequest): Promise<{ providerRefundId: string }>;
}

/** Starting the payment of one of a tenant's invoices at a provider (Stripe Connect Checkout, PayPal order). */
export interface InvoicePaymentRequest {
  readonly idempotencyKey: string;
  readonly tenantId: string;
  readonly invoiceId: string;
  readonly customerId: string;
  /** The tenant's Stripe connected account (Stripe Connect); null for PayPal. */
  readonly accountId: string | null;
  readonly currency: string;
  readonly lines: ReadonlyArray<{ readonly name: string; readonly quantity: number; readonly unitAmount: number }>;
  /** Where the payer comes back to after approving or cancelling. */
  readonly returnUrl: string;
  readonly cancelUrl: string;
}

export interface InvoicePaymentStart {
  readonly provider: 'stripe' | 'paypal';
  /** Checkout Session id or PayPal order id. */
  readonly reference: string;
  /** Where to send the payer. */
  readonly url: string;
}

export interface InvoicePaymentGateway {
  start(req: InvoicePaymentRequest): Promise<InvoicePaymentStart>;
}
