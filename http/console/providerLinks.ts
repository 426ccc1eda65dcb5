/**
 * Links from a payment attempt to where a person can look further: the provider's dashboard
 * (test or live; the connected account's view for Connect payments), the receipt and the
 * provider's documentation for the error.
 *
 * Livemode: every stored Stripe fact is in the configured mode (webhooks in the other mode are
 * refused), so the mode comes from the configuration. Connected account: Settle takes Stripe
 * invoice payments as direct charges on the tenant's connected account; platform payments
 * (bookings, subscriptions, Stripe Billing invoices) are on the platform account.
 */
export interface PaymentForLinks {
  provider: string | null;
  providerPaymentId: string | null;
  providerChargeId?: string | null;
}

export function stripeDashboardUrl(p: PaymentForLinks, o: { livemode: boolean; connectedAccount: string | null }): string | null {
  const id = p.providerPaymentId ?? p.providerChargeId ?? null;
  if (p.provider !== 'stripe' || !id) return null;
  const mode = o.livemode ? '' : '/test';
  // Stripe Billing invoices (in_…) have their own page; payment intents and charges are payments
  const kind = id.startsWith('in_') ? 'invoices' : 'payments';
  const account = o.connectedAccount ? `/${encodeURIComponent(o.connectedAccount)}` : '';
  return `https://dashboard.stripe.com${account}${mode}/${kind}/${encodeURIComponent(id)}`;
}

/** The connected account's page in the platform's Connect dashboard. */
export function stripeConnectedAccountUrl(account: string, livemode: boolean): string {
  return `https://dashboard.stripe.com${livemode ? '' : '/test'}/connect/accounts/${encodeURIComponent(account)}`;
}

/** PayPal: the activity page of the sandbox or the live site. */
export function paypalActivityUrl(p: PaymentForLinks, o: { sandbox: boolean }): string | null {
  const id = p.providerChargeId ?? p.providerPaymentId;
  if (p.provider !== 'paypal' || !id) return null;
  const host = o.sandbox ? 'https://www.sandbox.paypal.com' : 'https://www.paypal.com';
  return `${host}/activity/payment/${encodeURIComponent(id)}`;
}

export function dashboardUrl(p: PaymentForLinks, o: { stripeLivemode: boolean; paypalSandbox: boolean; connectedAccount: string | null }): string | null {
  if (p.provider === 'stripe') return stripeDashboardUrl(p, { livemode: o.stripeLivemode, connectedAccount: o.connectedAccount });
  if (p.provider === 'paypal') return paypalActivityUrl(p, { sandbox: o.paypalSandbox });
  return null;
}
