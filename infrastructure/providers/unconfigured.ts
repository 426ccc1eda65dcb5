import { ProviderError, type BillingProvider } from '../../domain/ports/billingProvider';

/**
 * The provider port when no provider credentials are configured (the embedded quick start).
 * Commands that need no provider work normally; those that do answer 503 with a clear reason
 * instead of pretending to have called anyone.
 */
export class UnconfiguredBillingProvider implements BillingProvider {
  private fail(): Promise<never> {
    return Promise.reject(new ProviderError('unavailable', 'no payment provider is configured for this Settle instance (set STRIPE_SECRET_KEY)'));
  }
  createCheckoutSession(): Promise<never> {
    return this.fail();
  }
  expireCheckoutSession(): Promise<never> {
    return this.fail();
  }
  changeSubscriptionPlan(): Promise<never> {
    return this.fail();
  }
  cancelSubscription(): Promise<never> {
    return this.fail();
  }
  voidInvoice(): Promise<never> {
    return this.fail();
  }
  createProduct(): Promise<never> {
    return this.fail();
  }
  createPrice(): Promise<never> {
    return this.fail();
  }
  archivePrice(): Promise<never> {
    return this.fail();
  }
  refund(): Promise<never> {
    return this.fail();
  }
}
