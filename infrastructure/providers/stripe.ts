/**
 * The Stripe adapter of the BillingProvider port, on the official SDK (stripe-node), plus the
 * Stripe Connect call for paying a tenant's invoice on the tenant's connected account and the
 * retrievals that reconcile out-of-order webhooks.
 *
 * - Idempotency: every POST carries the request's idempotency key as Stripe's Idempotency-Key
 *   (the SDK reuses it on its own retries), always as the fixed-length digest of idempotencyKeys.ts
 *   (72 characters; Stripe caps keys at 255), deterministic, so a retry still matches.
 * - Retries: the SDK retries rate limits (429) and connection errors only, with backoff; see
 *   stripeErrors.ts. Failures reach callers as ProviderError, never as SDK errors.
 * - Connect: one client, keyed with the platform secret key. A call for a connected account names
 *   it per call (`stripeAccount`, the Stripe-Account header); the client is never re-keyed per
 *   tenant. An account id must look like `acct_...`: an empty one would silently send the call
 *   to the platform account.
 * - Money: integer minor units throughout. Settle's Money uses ISO 4217 minor units; Stripe's
 *   differ for ISK (ISO 0 decimals, Stripe 2) and MGA (ISO 2, Stripe 0), converted here; ISO
 *   three- and four-decimal currencies Stripe does not charge in are refused.
 */
import { providerIdempotencyKey } from './idempotencyKeys';
import Stripe from 'stripe';
import {
  ProviderError,
  type BillingProvider,
  type CheckoutSession,
  type CheckoutSessionRequest,
  type PlanChangeRequest,
  type PlanChangeResult,
  type PriceRequest,
  type RefundRequest,
} from '../../domain/ports/billingProvider';
import { currencyExponent, isCurrency, isMinorUnits, type Money } from '../../domain/shared/money';
import { stripeExponent } from '../../domain/shared/providerUnits';
import { onlyRateLimitAndConnectionRetries, toProviderError } from './stripeErrors';

export { toProviderError } from './stripeErrors';

export interface StripeProviderConfig {
  /** STRIPE_SECRET_KEY: the platform account's secret (or restricted) key. Connect calls use it too. */
  readonly secretKey: string;
  /** STRIPE_API_BASE, e.g. http://127.0.0.1:12111 (stripe-mock); default https://api.stripe.com. Scheme, host and port only. */
  readonly apiBase?: string;
  /** Automatic retries of rate limits (429) and connection errors, exponential backoff 0.5 s..5 s with jitter. 0 disables them. */
  readonly maxNetworkRetries: number;
  /**
   * Platform fee on Connect invoice payments whose request names no fee: percent of the amount,
   * 0..100 with at most two decimals (STRIPE_APPLICATION_FEE_BPS / 100), rounded down to the
   * currency's minor unit. Unset: no fee unless the request names one.
   */
  readonly connectApplicationFeePercent?: number;
  /** PUBLIC_BASE_URL: Checkout's default return URLs hang off it. Default http://localhost:3000. */
  readonly publicBaseUrl?: string;
  /** Where Checkout sends the buyer after paying; default {publicBaseUrl}/checkout/success?session_id={CHECKOUT_SESSION_ID}. */
  readonly checkoutSuccessUrl?: string;
  /** Where Checkout sends the buyer who gives up; default {publicBaseUrl}/checkout/cancel. */
  readonly checkoutCancelUrl?: string;
  /**
   * CHECKOUT_SESSION_TTL_SECONDS: lifetime of Checkout Sessions whose request carries no
   * `ttlSeconds`. Unset: Stripe's default (24 h). Stripe accepts 30 min..24 h; values are kept a
   * minute inside that window. The session's real expiry is what createCheckoutSession returns.
   */
  readonly checkoutSessionTtlSeconds?: number;
  /**
   * Stripe API version to speak (Stripe-Version header). Default: the one the installed SDK is
   * built and typed for (Stripe.API_VERSION). Set it to keep retrieved objects in the shape the
   * webhook endpoints are pinned to, or to the spec version of a stripe-mock that is behind the
   * SDK. Request encoding follows it where versions differ (subscription billing_cycle_anchor).
   */
  readonly apiVersion?: string;
  /** Per-request timeout in ms (SDK default 80 000). */
  readonly timeoutMs?: number;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** A subscription checkout request; `ttlSeconds` is honoured when the caller sets it. */
export type StripeCheckoutSessionRequest = CheckoutSessionRequest & { readonly ttlSeconds?: number };

export interface InvoicePaymentLineItem {
  readonly name: string;
  /** Integer minor units of the request's currency (ISO 4217, as Money). */
  readonly unitAmount: number;
  readonly quantity: number;
}

export interface InvoicePaymentSessionRequest {
  readonly idempotencyKey: string;
  /** The tenant's connected account (acct_...): the session, its payment and its fee live there. */
  readonly accountId: string;
  readonly tenantId: string;
  readonly invoiceId: string;
  readonly customerId: string;
  /** ISO 4217 code. */
  readonly currency: string;
  /** What is being paid, line by line; or give `amount` for a single line named after the invoice. */
  readonly lineItems?: readonly InvoicePaymentLineItem[];
  /** Total in integer minor units, when no `lineItems` are given. */
  readonly amount?: number;
  /**
   * Platform fee in integer minor units. Unset: `connectApplicationFeePercent` of the total
   * (rounded down), or none. 0: none.
   */
  readonly applicationFeeAmount?: number;
  /** Extra metadata; invoice_id, tenant_id and customer_id are always set from the fields above. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly description?: string;
  readonly successUrl?: string;
  readonly cancelUrl?: string;
  readonly ttlSeconds?: number;
}

export interface InvoicePaymentSession extends CheckoutSession {
  readonly accountId: string;
  readonly amount: Money;
  /** The platform fee asked for, in Money minor units; null when none. */
  readonly applicationFee: Money | null;
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for tests)

/** SDK connection options from STRIPE_API_BASE. */
export function apiBaseOptions(apiBase: string | undefined): { host?: string; port?: number; protocol?: 'http' | 'https' } {
  if (apiBase === undefined || apiBase === '') return {};
  let u: URL;
  try {
    u = new URL(apiBase);
  } catch {
    throw new RangeError(`Stripe apiBase must be a URL like http://127.0.0.1:12111, got "${apiBase}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError(`Stripe apiBase must be http: or https:, got "${apiBase}"`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username || u.password) {
    throw new RangeError(`Stripe apiBase must be scheme://host[:port] only (the SDK adds /v1/...), got "${apiBase}"`);
  }
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : protocol === 'http' ? 80 : 443, protocol };
}

/** Stripe's Idempotency-Key for a request key: the shared fixed-length digest (idempotencyKeys.ts), within Stripe's 255 characters. */
export function stripeIdempotencyKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new ProviderError('invalid', 'a Stripe call needs an idempotency key', 'idempotency_key_missing');
  return providerIdempotencyKey(key);
}


function upperCurrency(currency: string): string {
  const code = typeof currency === 'string' ? currency.toUpperCase() : '';
  if (!isCurrency(code)) throw new ProviderError('invalid', `unknown ISO 4217 currency "${currency}"`, 'currency_invalid');
  return code;
}

/** Stripe's currency parameter: lower-case ISO 4217. */
export function stripeCurrency(currency: string): string {
  return upperCurrency(currency).toLowerCase();
}

/**
 * Integer minor units as Settle counts them (ISO 4217) -> as Stripe counts them. Exact or refused:
 * an amount that cannot be expressed (MGA with a fraction of an ariary) is `invalid`.
 */
export function toStripeAmount(amount: number, currency: string): number {
  const code = upperCurrency(currency);
  if (!isMinorUnits(amount)) throw new ProviderError('invalid', `amount must be a non-negative integer of minor units, got ${String(amount)}`, 'amount_invalid');
  const target = stripeExponent(code);
  if (target === null) throw new ProviderError('invalid', `Stripe does not charge in ${code}`, 'currency_unsupported');
  const iso = currencyExponent(code);
  if (target === iso) return amount;
  if (target > iso) return amount * 10 ** (target - iso);
  const step = 10 ** (iso - target);
  if (amount % step !== 0) throw new ProviderError('invalid', `${code} amounts must be whole multiples of ${step} minor units at Stripe, got ${amount}`, 'amount_invalid');
  return amount / step;
}

/** Largest multiple of Stripe's smallest unit not above `amount` (Settle minor units). */
function floorToStripeUnit(amount: number, code: string): number {
  const target = stripeExponent(code) ?? currencyExponent(code);
  const iso = currencyExponent(code);
  if (target >= iso) return amount;
  const step = 10 ** (iso - target);
  return amount - (amount % step);
}

/** Percent with at most two decimals -> integer basis points. */
export function percentToBasisPoints(percent: number): number {
  const bps = Math.round(percent * 100);
  if (!Number.isFinite(percent) || percent < 0 || percent > 100 || Math.abs(bps - percent * 100) > 1e-6) {
    throw new RangeError(`connectApplicationFeePercent must be 0..100 with at most two decimals, got ${percent}`);
  }
  return bps;
}

/** floor(amount * bps / 10 000) in integer arithmetic (no float rounding, no overflow). */
export function feeFromBasisPoints(amount: number, bps: number): number {
  return Number((BigInt(amount) * BigInt(bps)) / 10_000n);
}

type InvoiceLike = Pick<Stripe.Invoice, 'id' | 'status'>;
type PaymentIntentLike = Pick<Stripe.PaymentIntent, 'status' | 'last_payment_error'>;

/**
 * The outcome of a plan change from the proration invoice and its payment intent: captured when
 * the invoice is paid or the intent succeeded; declined when the intent wants a new payment
 * method (what a failed payment leaves it in), with the decline code and message; otherwise
 * pending (processing, requires_action, not attempted yet...), settled later by webhooks.
 */
export function planChangeOutcome(invoice: InvoiceLike | null, paymentIntent: PaymentIntentLike | null): PlanChangeResult {
  const providerInvoiceId = invoice?.id ?? null;
  if (invoice?.status === 'paid' || paymentIntent?.status === 'succeeded') return { outcome: 'captured', providerInvoiceId, declineCode: null, message: null };
  if (paymentIntent?.status === 'requires_payment_method') {
    const e = paymentIntent.last_payment_error;
    return {
      outcome: 'declined',
      providerInvoiceId,
      declineCode: e?.decline_code || e?.code || null,
      message: e?.message || 'the payment failed; the customer needs a working payment method',
    };
  }
  return { outcome: 'pending', providerInvoiceId, declineCode: null, message: null };
}

/** The invoice's payment intent (the default payment, else the first): id or expanded object. */
/** `payments` is an includable field: Stripe sends it only when the request expands it. */
function invoicePaymentIntent(invoice: Omit<Stripe.Invoice, 'payments'> & { payments?: Stripe.Invoice['payments'] | null }): string | Stripe.PaymentIntent | null {
  const payments = invoice.payments?.data ?? [];
  const chosen = payments.find((p) => p.is_default) ?? payments[0];
  return chosen?.payment.payment_intent ?? null;
}

/**
 * `billing_cycle_anchor` of a subscription update: the string 'now' | 'unchanged' up to API
 * 2026-08-26.dahlia; from 2026-09-30.endive an object `{ type }` (Stripe's changelog: "Unifies the
 * billing cycle anchor format across Subscriptions and Invoices").
 */
export function billingCycleAnchorParam(anchor: string, apiVersion: string): Stripe.SubscriptionUpdateParams['billing_cycle_anchor'] {
  if (anchor !== 'now' && anchor !== 'unchanged') throw new ProviderError('invalid', `billingCycleAnchor must be now or unchanged, got ${anchor}`, 'billing_cycle_anchor_invalid');
  // The SDK's types know only its own version's object form; older versions take the bare string.
  return apiVersion < '2026-09-30' ? (anchor as unknown as Stripe.SubscriptionUpdateParams['billing_cycle_anchor']) : { type: anchor };
}

const ACCOUNT_ID = /^acct_[A-Za-z0-9]+$/;
const MIN_TTL = 30 * 60 + 60;
const MAX_TTL = 24 * 3600 - 60;

// ---------------------------------------------------------------------------------------------

export class StripeBillingProvider implements BillingProvider {
  private readonly stripe: Stripe.Stripe;
  /** The Stripe API version every request names. */
  readonly apiVersion: string;
  private readonly successUrl: string;
  private readonly cancelUrl: string;
  private readonly feeBps: number | null;
  private readonly now: () => Date;

  constructor(private readonly config: StripeProviderConfig) {
    if (!config.secretKey) throw new RangeError('StripeBillingProvider needs a secret key (STRIPE_SECRET_KEY)');
    if (!Number.isSafeInteger(config.maxNetworkRetries) || config.maxNetworkRetries < 0) {
      throw new RangeError(`maxNetworkRetries must be a non-negative integer, got ${config.maxNetworkRetries}`);
    }
    const base = (config.publicBaseUrl ?? 'http://localhost:3000').replace(/\/+$/, '');
    this.successUrl = config.checkoutSuccessUrl ?? `${base}/checkout/success?session_id={CHECKOUT_SESSION_ID}`;
    this.cancelUrl = config.checkoutCancelUrl ?? `${base}/checkout/cancel`;
    this.feeBps = config.connectApplicationFeePercent === undefined ? null : percentToBasisPoints(config.connectApplicationFeePercent);
    this.now = config.now ?? (() => new Date());
    this.apiVersion = config.apiVersion ?? Stripe.API_VERSION;
    this.stripe = new Stripe(config.secretKey, {
      // typed as the SDK's own version only; another one is a deliberate pin (see apiVersion)
      apiVersion: this.apiVersion as Stripe.LatestApiVersion,
      maxNetworkRetries: config.maxNetworkRetries,
      httpClient: onlyRateLimitAndConnectionRetries(Stripe.createNodeHttpClient()),
      telemetry: false,
      appInfo: { name: 'settle' },
      ...(config.timeoutMs !== undefined ? { timeout: config.timeoutMs } : {}),
      ...apiBaseOptions(config.apiBase),
    });
  }

  // ---- the port --------------------------------------------------------------------------

  async createCheckoutSession(req: StripeCheckoutSessionRequest): Promise<CheckoutSession> {
    const metadata = { tenant_id: req.tenantId, customer_id: req.customerId, ...req.metadata };
    const expiresAt = this.expiresAt(req.ttlSeconds ?? this.config.checkoutSessionTtlSeconds);
    const session = await this.call(() =>
      this.stripe.checkout.sessions.create(
        {
          mode: 'subscription',
          line_items: [{ price: req.priceId, quantity: 1 }],
          client_reference_id: req.customerId,
          metadata,
          subscription_data: { metadata },
          success_url: this.successUrl,
          cancel_url: this.cancelUrl,
          ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
        },
        this.post(req.idempotencyKey),
      ),
    );
    return toCheckoutSession(session);
  }

  async expireCheckoutSession(req: { idempotencyKey: string; sessionId: string }): Promise<void> {
    const id = requireId(req.sessionId, 'sessionId');
    await this.call(() => this.stripe.checkout.sessions.expire(id, {}, this.post(req.idempotencyKey)));
  }

  async changeSubscriptionPlan(req: PlanChangeRequest): Promise<PlanChangeResult> {
    const id = requireId(req.providerSubscriptionId, 'providerSubscriptionId');
    const current = await this.call(() => this.stripe.subscriptions.retrieve(id));
    const items = current.items.data;
    const item = items[0];
    if (items.length !== 1 || !item) {
      throw new ProviderError('invalid', `subscription ${id} has ${items.length} items; a plan change expects exactly one`, 'subscription_items');
    }
    let updated: Stripe.Subscription;
    try {
      updated = await this.stripe.subscriptions.update(
        id,
        {
          items: [{ id: item.id, price: req.priceId }],
          proration_behavior: req.prorationBehavior,
          payment_behavior: req.paymentBehavior,
          billing_cycle_anchor: billingCycleAnchorParam(req.billingCycleAnchor, this.apiVersion),
          expand: ['latest_invoice.payments'],
        },
        this.post(req.idempotencyKey),
      );
    } catch (err) {
      const e = toProviderError(err);
      // A decline answered as an error (402) is still the outcome the caller records.
      if (e.kind === 'declined') return { outcome: 'declined', providerInvoiceId: null, declineCode: e.declineCode ?? e.code, message: e.message };
      throw e;
    }
    let invoice = updated.latest_invoice ?? null;
    if (typeof invoice === 'string') {
      const invoiceId = invoice;
      invoice = await this.call(() => this.stripe.invoices.retrieve(invoiceId, { expand: ['payments'] }));
    }
    let intent: Stripe.PaymentIntent | null = null;
    if (invoice && invoice.status !== 'paid') {
      const ref = invoicePaymentIntent(invoice);
      intent = typeof ref === 'string' ? await this.call(() => this.stripe.paymentIntents.retrieve(ref)) : ref;
    }
    // the period Stripe set with the change (items[].current_period_* since basil; the subscription's before)
    // the answer of an update may come without `items` (stripe-mock's does): typed as what may arrive
    const legacy: Omit<Stripe.Subscription, 'items'> & { items?: { data?: Stripe.SubscriptionItem[] } | null; current_period_start?: number; current_period_end?: number } = updated;
    const item0 = legacy.items?.data?.[0];
    const start = item0?.current_period_start ?? legacy.current_period_start;
    const end = item0?.current_period_end ?? legacy.current_period_end;
    const period = typeof start === 'number' && typeof end === 'number' && end > start ? { start: new Date(start * 1000).toISOString(), end: new Date(end * 1000).toISOString() } : null;
    return { ...planChangeOutcome(invoice, intent), period };
  }

  async cancelSubscription(req: { idempotencyKey: string; providerSubscriptionId: string; atPeriodEnd: boolean }): Promise<void> {
    const id = requireId(req.providerSubscriptionId, 'providerSubscriptionId');
    const options = this.post(req.idempotencyKey);
    if (req.atPeriodEnd) await this.call(() => this.stripe.subscriptions.update(id, { cancel_at_period_end: true }, options));
    else await this.call(() => this.stripe.subscriptions.cancel(id, {}, options));
  }

  async voidInvoice(req: { idempotencyKey: string; providerInvoiceId: string }): Promise<void> {
    const id = requireId(req.providerInvoiceId, 'providerInvoiceId');
    await this.call(() => this.stripe.invoices.voidInvoice(id, {}, this.post(req.idempotencyKey)));
  }

  async createProduct(req: { idempotencyKey: string; tenantId: string; name: string }): Promise<{ productId: string }> {
    const product = await this.call(() => this.stripe.products.create({ name: req.name, metadata: { tenant_id: req.tenantId } }, this.post(req.idempotencyKey)));
    return { productId: product.id };
  }

  /** Prices are immutable at Stripe: a new amount or interval is a new price (and archivePrice for the old one). */
  async createPrice(req: PriceRequest): Promise<{ priceId: string }> {
    // the port promises month | year, but the value reaches here from stored commands and plain-JS callers
    const interval: string = req.interval;
    if (interval !== 'month' && interval !== 'year') throw new ProviderError('invalid', `interval must be month or year, got ${interval}`, 'interval_invalid');
    const params: Stripe.PriceCreateParams = {
      product: requireId(req.productId, 'productId'),
      currency: stripeCurrency(req.amount.currency),
      unit_amount: toStripeAmount(req.amount.amount, req.amount.currency),
      recurring: { interval },
      ...(req.metadata ? { metadata: { ...req.metadata } } : {}),
    };
    const price = await this.call(() => this.stripe.prices.create(params, this.post(req.idempotencyKey)));
    return { priceId: price.id };
  }

  async archivePrice(req: { idempotencyKey: string; priceId: string }): Promise<void> {
    const id = requireId(req.priceId, 'priceId');
    await this.call(() => this.stripe.prices.update(id, { active: false }, this.post(req.idempotencyKey)));
  }

  /** Refunds a payment intent (or, for legacy payments, a charge); on the connected account when accountId is set. */
  async refund(req: RefundRequest): Promise<{ providerRefundId: string }> {
    if (req.provider !== 'stripe') throw new ProviderError('invalid', `a ${req.provider} payment cannot be refunded through Stripe`, 'wrong_provider');
    const params: Stripe.RefundCreateParams = { ...refundTarget(req), amount: toStripeAmount(req.amount.amount, req.amount.currency) };
    const refund = await this.call(() => this.stripe.refunds.create(params, this.post(req.idempotencyKey, req.accountId)));
    return { providerRefundId: refund.id };
  }

  // ---- Stripe Connect ---------------------------------------------------------------------

  /**
   * A Checkout Session (mode payment) on the tenant's connected account for one of its invoices:
   * a direct charge on that account, with the platform fee as application_fee_amount.
   * invoice_id, tenant_id and customer_id go on the session and on its payment intent, so the
   * Connect webhooks (checkout.session.*, payment_intent.*, charge.*) all lead back.
   */
  async createInvoicePaymentSession(req: InvoicePaymentSessionRequest): Promise<InvoicePaymentSession> {
    const code = upperCurrency(req.currency);
    const currency = code.toLowerCase();
    const accountId = this.account(req.accountId).stripeAccount;
    if (!accountId) throw new ProviderError('invalid', 'an invoice payment session needs the connected account id', 'account_id_missing');
    const lines = invoiceLines(req);
    let total = 0;
    for (const l of lines) {
      total += l.unitAmount * l.quantity;
      if (!isMinorUnits(total)) throw new ProviderError('invalid', 'the invoice total is out of range', 'amount_invalid');
    }
    if (total === 0) throw new ProviderError('invalid', 'an invoice payment needs a positive amount', 'amount_invalid');
    const fee = req.applicationFeeAmount ?? (this.feeBps === null ? 0 : floorToStripeUnit(feeFromBasisPoints(total, this.feeBps), code));
    if (!isMinorUnits(fee) || fee > total) throw new ProviderError('invalid', `application fee must be 0..${total} minor units, got ${fee}`, 'application_fee_invalid');
    const metadata = { ...req.metadata, invoice_id: req.invoiceId, tenant_id: req.tenantId, customer_id: req.customerId };
    const expiresAt = this.expiresAt(req.ttlSeconds ?? this.config.checkoutSessionTtlSeconds);
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'payment',
      line_items: lines.map((l) => ({
        quantity: l.quantity,
        price_data: { currency, unit_amount: toStripeAmount(l.unitAmount, code), product_data: { name: l.name } },
      })),
      client_reference_id: req.invoiceId,
      metadata,
      payment_intent_data: {
        metadata,
        ...(fee > 0 ? { application_fee_amount: toStripeAmount(fee, code) } : {}),
        ...(req.description ? { description: req.description } : {}),
      },
      success_url: req.successUrl ?? this.successUrl,
      cancel_url: req.cancelUrl ?? this.cancelUrl,
      ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
    };
    const session = await this.call(() => this.stripe.checkout.sessions.create(params, this.post(req.idempotencyKey, accountId)));
    return { ...toCheckoutSession(session), accountId, amount: { amount: total, currency: code }, applicationFee: fee > 0 ? { amount: fee, currency: code } : null };
  }

  // ---- reconciliation reads (GET: no idempotency key) ---------------------------------------

  retrieveSubscription(subscriptionId: string, accountId?: string | null): Promise<Stripe.Subscription> {
    const id = requireId(subscriptionId, 'subscriptionId');
    return this.call(() => this.stripe.subscriptions.retrieve(id, {}, this.account(accountId)));
  }

  retrieveInvoice(invoiceId: string, accountId?: string | null): Promise<Stripe.Invoice> {
    const id = requireId(invoiceId, 'invoiceId');
    return this.call(() => this.stripe.invoices.retrieve(id, {}, this.account(accountId)));
  }

  retrievePaymentIntent(paymentIntentId: string, accountId?: string | null): Promise<Stripe.PaymentIntent> {
    const id = requireId(paymentIntentId, 'paymentIntentId');
    return this.call(() => this.stripe.paymentIntents.retrieve(id, {}, this.account(accountId)));
  }

  // ---- internals -------------------------------------------------------------------------

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toProviderError(err);
    }
  }

  /** Request options of a POST: the idempotency key, and the connected account when there is one. */
  private post(idempotencyKey: string, accountId?: string | null): Stripe.RequestOptions {
    return { idempotencyKey: stripeIdempotencyKey(idempotencyKey), ...this.account(accountId) };
  }

  /** null/undefined: the platform account. Anything else must be a connected account id. */
  private account(accountId: string | null | undefined): { stripeAccount?: string } {
    if (accountId === null || accountId === undefined) return {};
    if (!ACCOUNT_ID.test(accountId)) throw new ProviderError('invalid', `"${accountId}" is not a Stripe connected account id (acct_...)`, 'account_id_invalid');
    return { stripeAccount: accountId };
  }

  /** Unix seconds for expires_at, kept a minute inside Stripe's 30 min..24 h window; undefined: Stripe's default. */
  private expiresAt(ttlSeconds: number | undefined): number | undefined {
    if (ttlSeconds === undefined) return undefined;
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new ProviderError('invalid', `checkout session ttl must be a positive integer of seconds, got ${ttlSeconds}`, 'ttl_invalid');
    return Math.ceil(this.now().getTime() / 1000) + Math.min(Math.max(ttlSeconds, MIN_TTL), MAX_TTL);
  }
}

function requireId(id: string, what: string): string {
  if (typeof id !== 'string' || id.trim() === '') throw new ProviderError('invalid', `${what} is required`, `${what}_missing`);
  return id;
}

function toCheckoutSession(session: Stripe.Checkout.Session): CheckoutSession {
  if (!session.url) throw new ProviderError('invalid', `Checkout Session ${session.id} came back without a URL`, 'session_url_missing');
  return { sessionId: session.id, url: session.url, expiresAt: new Date(session.expires_at * 1000) };
}

function refundTarget(req: RefundRequest): { payment_intent: string } | { charge: string } {
  const payment = req.providerPaymentId;
  if (payment.startsWith('pi_')) return { payment_intent: payment };
  const charge = [req.providerChargeId, payment].find((id) => typeof id === 'string' && /^(ch|py)_/.test(id));
  if (charge) return { charge };
  throw new ProviderError('invalid', `nothing to refund: "${payment}" is neither a payment intent (pi_) nor a charge (ch_/py_)`, 'refund_target_invalid');
}

function invoiceLines(req: InvoicePaymentSessionRequest): readonly InvoicePaymentLineItem[] {
  if (req.lineItems !== undefined && req.amount !== undefined) throw new ProviderError('invalid', 'give either lineItems or amount, not both', 'line_items_invalid');
  const lines = req.lineItems ?? (req.amount !== undefined ? [{ name: req.description || `Invoice ${req.invoiceId}`, unitAmount: req.amount, quantity: 1 }] : []);
  if (lines.length === 0) throw new ProviderError('invalid', 'an invoice payment needs lineItems or an amount', 'line_items_invalid');
  for (const l of lines) {
    if (typeof l.name !== 'string' || l.name.trim() === '') throw new ProviderError('invalid', 'every line item needs a name', 'line_items_invalid');
    if (!isMinorUnits(l.unitAmount)) throw new ProviderError('invalid', `line item amount must be a non-negative integer of minor units, got ${String(l.unitAmount)}`, 'amount_invalid');
    if (!Number.isSafeInteger(l.quantity) || l.quantity < 1) throw new ProviderError('invalid', `line item quantity must be a positive integer, got ${l.quantity}`, 'line_items_invalid');
  }
  return lines;
}
