/**
 * The PayPal client seen through Settle's ports: capturing approved orders
 * (`PayPalOrderCapture`), and refunds of PayPal payments beside another billing provider.
 */
import type { BillingProvider } from '../../domain/ports/billingProvider';
import { systemClock, type Clock } from '../../domain/ports/clock';
import type { CaptureOutcome, PayPalOrderCapture } from '../../domain/ports/paypalPayments';
import type { CaptureResult, PayPalClient } from './paypal';

export function payPalOrderCapture(paypal: PayPalClient, clock: Clock = systemClock): PayPalOrderCapture {
  return {
    async order(orderId) {
      const o = await paypal.getOrder(orderId);
      return { id: o.id, customId: o.customId };
    },
    async capture(orderId, requestId) {
      const result = await paypal.captureOrder({ orderId, requestId });
      return { customId: result.order.customId, outcome: toOutcome(result, clock.now()) };
    },
  };
}

/** `base` for everything, except refunds of PayPal payments, which go to PayPal. */
export function withPayPalRefunds(base: BillingProvider, paypal: PayPalClient): BillingProvider {
  return {
    createCheckoutSession: (r) => base.createCheckoutSession(r),
    expireCheckoutSession: (r) => base.expireCheckoutSession(r),
    changeSubscriptionPlan: (r) => base.changeSubscriptionPlan(r),
    cancelSubscription: (r) => base.cancelSubscription(r),
    voidInvoice: (r) => base.voidInvoice(r),
    createProduct: (r) => base.createProduct(r),
    createPrice: (r) => base.createPrice(r),
    archivePrice: (r) => base.archivePrice(r),
    refund: (r) => (r.provider === 'paypal' ? paypal.refund(r) : base.refund(r)),
  };
}

function toOutcome(r: CaptureResult, now: Date): CaptureOutcome {
  return {
    outcome: r.outcome,
    orderId: r.order.id,
    captureId: r.capture.id,
    amount: r.capture.amount,
    declineCode: r.outcome === 'declined' ? r.declineCode : null,
    reason: r.outcome === 'pending' ? r.reason : r.capture.statusReason,
    occurredAt: r.capture.createTime ?? now.toISOString(),
  };
}
