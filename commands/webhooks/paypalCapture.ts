/**
 * Capturing approved PayPal orders: the capture a CHECKOUT.ORDER.APPROVED webhook asks for
 * (`payPalCaptureActions`) and the buyer's return from PayPal (`PayPalReturn`). Both capture
 * through the same port with the same request id (`capture-<order id>`), so PayPal captures an
 * order once, and both record the same facts (`captureSteps`).
 */
import { ProviderError } from '../../domain/ports/billingProvider';
import { customIdMatches, parseCustomId, type PayPalOrderCapture } from '../../domain/ports/paypalPayments';
import type { ProviderRefs } from '../../domain/ports/providerRefs';
import { captureSteps } from './paypal';
import type { WebhookActions } from './processor';
import type { Step } from './steps';

/** The capture step of an approved order: capture it, check the order names the invoice, record what came of it. */
export function payPalCaptureActions(paypal: PayPalOrderCapture): WebhookActions {
  return {
    async capturePayPalOrder(step, ctx) {
      const result = await paypal.capture(step.orderId, `capture-${step.orderId}`);
      // the order's custom_id, as PayPal answers it, must name the invoice the step records on
      if (result.customId !== null && !customIdMatches(result.customId, step.tenantId, step.invoiceId)) {
        throw new ProviderError('invalid', `PayPal order ${step.orderId} belongs to another invoice (custom_id ${result.customId})`, 'ORDER_MISMATCH');
      }
      return captureSteps(result.outcome, step.tenantId, step.invoiceId, step.role, ctx.causationId);
    },
  };
}

/** The buyer came back from PayPal having approved an order: capture it (once) and record it. */
export class PayPalReturn {
  constructor(
    private readonly paypal: PayPalOrderCapture,
    private readonly refs: ProviderRefs,
    private readonly apply: (causationId: string, steps: Step[]) => Promise<void>,
  ) {}

  async complete(orderId: string, requestId: string): Promise<{ tenantId: string; invoiceId: string; outcome: string }> {
    const order = await this.paypal.order(orderId);
    const learned = await this.refs.lookup('paypal', order.id);
    const target = parseCustomId(order.customId) ?? (learned?.targetType === 'invoice' && customIdMatches(order.customId, learned.tenantId, learned.targetId) ? { tenantId: learned.tenantId, invoiceId: learned.targetId } : null);
    if (!target) throw new Error(`order ${orderId} was not created by Settle`);
    const result = await this.paypal.capture(orderId, `capture-${orderId}`);
    const steps = captureSteps(result.outcome, target.tenantId, target.invoiceId, `paypal-return|${orderId}`, requestId);
    await this.apply(`paypal-return:${orderId}`, steps);
    return { ...target, outcome: result.outcome.outcome };
  }
}
