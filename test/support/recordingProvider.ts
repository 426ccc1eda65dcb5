/**
 * A BillingProvider that records every call and answers like a provider would (stable answers
 * per idempotency key, like Stripe). Command tests use it; the real adapters are proved against
 * stripe-mock and the PayPal simulator.
 */
import { ProviderError, type BillingProvider, type CheckoutSession, type PlanChangeResult } from '../../domain/ports/billingProvider';

export interface RecordedCall {
  readonly method: keyof BillingProvider;
  readonly request: Record<string, unknown>;
}

export class RecordingBillingProvider implements BillingProvider {
  readonly calls: RecordedCall[] = [];
  private readonly answers = new Map<string, unknown>();
  private seq = 0;
  /** Next plan change outcome. */
  planChangeOutcome: PlanChangeResult['outcome'] = 'captured';
  /** When set, the next call of that method fails with it. */
  failNext: Partial<Record<keyof BillingProvider, ProviderError>> = {};
  /** Artificial latency, to widen race windows in concurrency tests. */
  latencyMs = 0;

  private async record<T>(method: keyof BillingProvider, request: { idempotencyKey: string } & object, make: () => T): Promise<T> {
    this.calls.push({ method, request: request });
    if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs));
    const fail = this.failNext[method];
    if (fail) {
      // one failure per arming: the rest stay armed
      const { [method]: _spent, ...stillArmed } = this.failNext;
      this.failNext = stillArmed;
      throw fail;
    }
    const key = `${method}:${request.idempotencyKey}`;
    if (!this.answers.has(key)) this.answers.set(key, make());
    return this.answers.get(key) as T;
  }

  callsOf(method: keyof BillingProvider): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Distinct idempotency keys seen for a method: what the provider would have acted on. */
  distinctEffects(method: keyof BillingProvider): number {
    return new Set(this.callsOf(method).map((c) => c.request.idempotencyKey)).size;
  }

  createCheckoutSession(req: Parameters<BillingProvider['createCheckoutSession']>[0]): Promise<CheckoutSession> {
    return this.record('createCheckoutSession', req, () => {
      const id = `cs_test_${++this.seq}`;
      return { sessionId: id, url: `https://checkout.stripe.com/c/pay/${id}`, expiresAt: new Date(Date.now() + 24 * 3600 * 1000) };
    });
  }
  expireCheckoutSession(req: Parameters<BillingProvider['expireCheckoutSession']>[0]): Promise<void> {
    return this.record('expireCheckoutSession', req, () => undefined);
  }
  changeSubscriptionPlan(req: Parameters<BillingProvider['changeSubscriptionPlan']>[0]): Promise<PlanChangeResult> {
    return this.record('changeSubscriptionPlan', req, () =>
      this.planChangeOutcome === 'declined'
        ? { outcome: 'declined' as const, providerInvoiceId: `in_${++this.seq}`, declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' }
        : { outcome: this.planChangeOutcome, providerInvoiceId: `in_${++this.seq}`, declineCode: null, message: null },
    );
  }
  cancelSubscription(req: Parameters<BillingProvider['cancelSubscription']>[0]): Promise<void> {
    return this.record('cancelSubscription', req, () => undefined);
  }
  voidInvoice(req: Parameters<BillingProvider['voidInvoice']>[0]): Promise<void> {
    return this.record('voidInvoice', req, () => undefined);
  }
  createProduct(req: Parameters<BillingProvider['createProduct']>[0]): Promise<{ productId: string }> {
    return this.record('createProduct', req, () => ({ productId: `prod_${++this.seq}` }));
  }
  createPrice(req: Parameters<BillingProvider['createPrice']>[0]): Promise<{ priceId: string }> {
    return this.record('createPrice', req, () => ({ priceId: `price_${++this.seq}` }));
  }
  archivePrice(req: Parameters<BillingProvider['archivePrice']>[0]): Promise<void> {
    return this.record('archivePrice', req, () => undefined);
  }
  refund(req: Parameters<BillingProvider['refund']>[0]): Promise<{ providerRefundId: string }> {
    return this.record('refund', req, () => ({ providerRefundId: `re_${++this.seq}` }));
  }
}

export { ProviderError };
