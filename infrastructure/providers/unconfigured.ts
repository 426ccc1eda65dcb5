import { ProviderError, type BillingProvider } from '../../domain/ports/billingProvider';

/**
 * The provider port when no provider credentials are configured (the embedded quick start).
 * Commands that need no provider work normally; those that do answer 503 with a clear reason
 * instead of pretending to have called anyone.
 */
export class UnconfiguredBillingProvider implements BillingProvider {
  private fail(): never {
    throw new ProviderError('unavailable', 'no payment provider is configured for this Settle instance (set STRIPE_SECRET_KEY)');
  }
  async createCheckoutSession(): Promise<never> {
    this.fail();
  }
  async expireCheckoutSession(): Promise<never> {
    this.fail();
  }
  async changeSubscriptionPlan(): Promise<never> {
    this.fail();
  }
  async cancelSubscription(): Promise<never> {
    this.fail();
  }
  async voidInvoice(): Promise<never> {
    this.fail();
  }
  async createProduct(): Promise<never> {
    this.fail();
  }
  async createPrice(): Promise<never> {
    this.fail();
  }
  async archivePrice(): Promise<never> {
    this.fail();
  }
  async refund(): Promise<never> {
    this.fail();
  }
}
