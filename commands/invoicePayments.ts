/**
 * Starting the payment of an invoice: checks the invoice is open and allows the method, finds
 * the tenant's Stripe connected account for Connect payments, and asks the provider for a
 * payment page. Nothing is recorded here: every attempt and its outcome arrives as a provider
 * fact (webhook, or the PayPal return) and is recorded exactly once there.
 */
import { ProviderError, type InvoicePaymentGateway, type InvoicePaymentStart } from '../domain/ports/billingProvider';
import type { EventStore } from '../domain/ports/eventStore';
import { DomainRefusal } from '../domain/shared/decider';
import { invoiceDecider, type PaymentMethod } from '../domain/invoice/invoice';
import { load, type CommandContext } from './handle';
import { newId } from './ids';
import { streams } from './streams';

export interface ConnectedAccounts {
  /** The tenant's connected account that can take charges, or null. */
  accountFor(tenantId: string): Promise<string | null>;
}

/**
 * The page a payer returns to from a provider's hosted checkout for this invoice (the signed payer
 * page, which shows the live payment status), or null when there is none: the payer then lands on
 * `/pay/stripe/return`, which thanks them and shows no invoice data.
 */
export type PayerReturnPage = (tenantId: string, invoiceId: string) => string | null;

export class InvoicePaymentCommands {
  constructor(
    private readonly store: EventStore,
    private readonly accounts: ConnectedAccounts,
    private readonly gateways: Partial<Record<PaymentMethod, InvoicePaymentGateway>>,
    private readonly publicBaseUrl: string,
    private readonly payerReturnPage: PayerReturnPage = () => null,
  ) {}

  async start(invoiceId: string, method: PaymentMethod, ctx: CommandContext): Promise<InvoicePaymentStart> {
    const inv = (await load(this.store, streams.invoice(ctx.tenantId, invoiceId), invoiceDecider)).state;
    if (inv.status === 'none') throw new DomainRefusal('invoice_not_found', `no invoice ${invoiceId}`);
    if (inv.status !== 'open' || inv.currency === null) throw new DomainRefusal(inv.status === 'paid' ? 'invoice_paid' : 'invoice_not_open', `invoice ${invoiceId} is ${inv.status}`);
    if (!inv.allowedPaymentMethods.includes(method)) throw new DomainRefusal('payment_method_not_allowed', `invoice ${invoiceId} cannot be paid with ${method}`, 'invalid', { field: 'method' });
    const gateway = this.gateways[method];
    if (!gateway) throw new ProviderError('unavailable', `${method} is not configured for this Settle instance`);
    const accountId = method === 'stripe_connect' ? await this.accounts.accountFor(ctx.tenantId) : null;
    if (method === 'stripe_connect' && !accountId) throw new DomainRefusal('no_connected_account', 'the tenant has no Stripe connected account that can take charges');
    return gateway.start({
      idempotencyKey: `invoice-payment|${ctx.tenantId}|${invoiceId}|${method}|${ctx.idSeed ?? newId()}`,
      tenantId: ctx.tenantId,
      invoiceId,
      customerId: inv.customerId ?? '',
      accountId,
      currency: inv.currency,
      lines: inv.lineItems.map((l) => ({ name: l.description, quantity: l.quantity, unitAmount: l.unitAmount })),
      returnUrl: method === 'paypal' ? `${this.publicBaseUrl}/pay/paypal/return` : (this.payerReturnPage(ctx.tenantId, invoiceId) ?? `${this.publicBaseUrl}/pay/stripe/return`),
      cancelUrl: `${this.publicBaseUrl}/pay/cancel`,
    });
  }
}
