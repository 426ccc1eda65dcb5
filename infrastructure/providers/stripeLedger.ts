/**
 * The Stripe adapter of the StripeLedger port (reconciliation reads): one page of payment
 * intents, charges, refunds, disputes, invoices or subscriptions created since a date, on the
 * platform or on a connected account (Stripe-Account), following Stripe's list API
 * (`created[gte]`, `limit`, `starting_after`).
 *
 * Its own SDK client with no automatic retries: a 429 reaches the caller as ProviderRateLimited
 * with Stripe's Retry-After, so the reconciliation decides how long to wait between pages and
 * retries; anything else is a ProviderError (stripeErrors.ts).
 */
import Stripe from 'stripe';
import { ProviderError } from '../../domain/ports/billingProvider';
import { ProviderRateLimited, type ProviderObject, type StripeLedger, type StripeLedgerKind, type StripeLedgerPage, type StripeListQuery } from '../../domain/ports/providerLedger';
import { apiBaseOptions } from './stripe';
import { toProviderError } from './stripeErrors';

export interface StripeLedgerConfig {
  readonly secretKey: string;
  readonly apiBase?: string;
  readonly apiVersion?: string;
  readonly timeoutMs?: number;
}

const ACCOUNT_ID = /^acct_[A-Za-z0-9]+$/;

export class StripeLedgerAdapter implements StripeLedger {
  private readonly stripe: Stripe.Stripe;

  constructor(config: StripeLedgerConfig) {
    this.stripe = new Stripe(config.secretKey, {
      apiVersion: (config.apiVersion ?? Stripe.API_VERSION) as Stripe.LatestApiVersion,
      maxNetworkRetries: 0,
      telemetry: false,
      appInfo: { name: 'settle' },
      ...(config.timeoutMs !== undefined ? { timeout: config.timeoutMs } : {}),
      ...apiBaseOptions(config.apiBase),
    });
  }

  async list(kind: StripeLedgerKind, q: StripeListQuery): Promise<StripeLedgerPage> {
    if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > 100) throw new ProviderError('invalid', `a Stripe list page holds 1..100 objects, got ${q.limit}`, 'limit_invalid');
    if (q.accountId !== null && !ACCOUNT_ID.test(q.accountId)) throw new ProviderError('invalid', `"${q.accountId}" is not a Stripe connected account id (acct_...)`, 'account_id_invalid');
    const params = {
      created: { gte: Math.floor(q.since.getTime() / 1000) },
      limit: q.limit,
      ...(q.startingAfter ? { starting_after: q.startingAfter } : {}),
    };
    const options: Stripe.RequestOptions = q.accountId ? { stripeAccount: q.accountId } : {};
    try {
      const page = await this.page(kind, params, options);
      return { objects: page.data as unknown as ProviderObject[], hasMore: page.has_more };
    } catch (err) {
      if (err instanceof Stripe.errors.StripeRateLimitError || (err instanceof Stripe.errors.StripeError && err.statusCode === 429)) {
        const header = err.headers?.['retry-after'];
        const seconds = header === undefined ? Number.NaN : Number(header);
        throw new ProviderRateLimited(Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null, `Stripe rate limit listing ${kind}: ${err.message}`);
      }
      throw toProviderError(err);
    }
  }

  private page(kind: StripeLedgerKind, params: { created: { gte: number }; limit: number; starting_after?: string }, options: Stripe.RequestOptions): Promise<{ data: unknown[]; has_more: boolean }> {
    switch (kind) {
      case 'payment_intent':
        // the latest charge expanded: its receipt, card brand/last4 and time, as a webhook would carry
        return this.stripe.paymentIntents.list({ ...params, expand: ['data.latest_charge'] }, options);
      case 'charge':
        return this.stripe.charges.list(params, options);
      case 'refund':
        return this.stripe.refunds.list(params, options);
      case 'dispute':
        return this.stripe.disputes.list(params, options);
      case 'invoice':
        return this.stripe.invoices.list(params, options);
      case 'subscription':
        // by default Stripe leaves out canceled subscriptions; their end is a fact too
        return this.stripe.subscriptions.list({ ...params, status: 'all' }, options);
      default: {
        const never: never = kind;
        throw new ProviderError('invalid', `unknown Stripe object kind ${String(never)}`, 'kind_invalid');
      }
    }
  }
}
