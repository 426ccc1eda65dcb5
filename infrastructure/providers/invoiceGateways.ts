/**
 * Payment pages for tenants' invoices (the `InvoicePaymentGateway` port), one per method:
 * Stripe Checkout on the tenant's connected account, and a PayPal order whose id is remembered
 * at once (reconciliation re-reads the orders Settle knows of).
 */
import { ProviderError, type InvoicePaymentGateway } from '../../domain/ports/billingProvider';
import type { ProviderRefs } from '../../domain/ports/providerRefs';
import type { PayPalClient } from './paypal';
import type { StripeBillingProvider } from './stripe';

export function stripeConnectGateway(stripe: StripeBillingProvider): InvoicePaymentGateway {
  return {
    async start(req) {
      if (req.accountId === null) throw new ProviderError('invalid', 'a Stripe Connect payment needs the connected account', 'account_missing');
      const s = await stripe.createInvoicePaymentSession({
        idempotencyKey: req.idempotencyKey,
        accountId: req.accountId,
        tenantId: req.tenantId,
        invoiceId: req.invoiceId,
        customerId: req.customerId,
        currency: req.currency,
        lineItems: req.lines.map((l) => ({ name: l.name, quantity: l.quantity, unitAmount: l.unitAmount })),
        successUrl: `${req.returnUrl}${req.returnUrl.includes('?') ? '&' : '?'}session_id={CHECKOUT_SESSION_ID}`,
        cancelUrl: req.cancelUrl,
      });
      return { provider: 'stripe', reference: s.sessionId, url: s.url };
    },
  };
}

export function payPalGateway(paypal: PayPalClient, refs: Pick<ProviderRefs, 'learn'>): InvoicePaymentGateway {
  return {
    async start(req) {
      const amount = { amount: req.lines.reduce((n, l) => n + l.quantity * l.unitAmount, 0), currency: req.currency };
      const order = await paypal.createOrder({ requestId: req.idempotencyKey, tenantId: req.tenantId, invoiceId: req.invoiceId, amount, returnUrl: req.returnUrl, cancelUrl: req.cancelUrl });
      // the order id, from PayPal's answer, names the invoice (a custom_id too long for PayPal is only a digest of it); remembered at once: reconciliation re-reads the orders Settle knows of
      await refs.learn('paypal', order.id, req.tenantId, 'invoice', req.invoiceId);
      return { provider: 'paypal', reference: order.id, url: order.approveUrl ?? '' };
    },
  };
}
