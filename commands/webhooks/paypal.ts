/**
 * PayPal event -> steps. Orders Settle creates carry `custom_id = "<tenant>|<invoice>"` (or its
 * digest, customIdFor) on their purchase unit; captures and refunds copy it, and what they do not
 * carry is resolved through the order and capture ids learned earlier. Every fact is read back
 * from PayPal's API before it is recorded (translatePayPalEvent). Amounts are PayPal decimal
 * strings, converted to integer minor units by the currency's exponent.
 */
import { parseDecimalAmount, type Money } from '../../domain/shared/money';
import { customIdMatches, parseCustomId, type CaptureOutcome, type PayPalPaymentsReader } from '../../domain/ports/paypalPayments';
import { isJsonObject, jsonAt, type JsonObject } from '../../domain/shared/json';
import type { RefResolver, Step, Translation } from './steps';

/** A PayPal webhook body is untrusted JSON: read field by field, nothing assumed. */
type Obj = JsonObject;
const isObj = isJsonObject;
const at = jsonAt;

export const PAYPAL_HANDLED_TYPES = new Set(['CHECKOUT.ORDER.APPROVED', 'PAYMENT.CAPTURE.COMPLETED', 'PAYMENT.CAPTURE.DENIED', 'PAYMENT.CAPTURE.REFUNDED', 'PAYMENT.CAPTURE.REVERSED']);

// the custom_id codec is shared with the PayPal adapter: domain/ports/paypalPayments.ts
export { PAYPAL_CUSTOM_ID_MAX, customIdFor, customIdMatches, parseCustomId } from '../../domain/ports/paypalPayments';

type Target = { tenantId: string; invoiceId: string };

/**
 * The invoice a PayPal object belongs to, from PayPal's record of it: its `custom_id` in the plain
 * form, else the references Settle learned from PayPal's answers (the order id when it created
 * the order, the capture id when it recorded the capture). A digest `custom_id` must name the
 * invoice found that way. `null`: no invoice (yet).
 */
async function targetOf(refs: RefResolver, customId: string | null, keys: Array<string | null | undefined>): Promise<Target | 'mismatch' | null> {
  const plain = parseCustomId(customId);
  if (plain) return plain;
  for (const k of keys) {
    if (!k) continue;
    const r = await refs.lookup('paypal', k);
    if (r?.targetType !== 'invoice') continue;
    const t = { tenantId: r.tenantId, invoiceId: r.targetId };
    return customId && customId.startsWith('~') && !customIdMatches(customId, t.tenantId, t.invoiceId) ? 'mismatch' : t;
  }
  return null;
}

function upLink(resource: Obj, rel: string): string | null {
  const links: readonly unknown[] = Array.isArray(resource.links) ? resource.links : [];
  const href = at(links.find((l) => at(l, 'rel') === rel), 'href');
  return typeof href === 'string' ? (href.split('/').pop() ?? null) : null;
}

function sameMoney(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}

/** The body's amount, or null when it has none that parses (it then cannot agree with PayPal). */
function bodyMoney(amount: unknown): Money | null {
  const a = (amount ?? {}) as Obj;
  try {
    return parseDecimalAmount(String(a.value), String(a.currency_code));
  } catch {
    return null;
  }
}

const show = (m: Money | null) => (m ? `${m.amount} ${m.currency}` : 'none');

/** Capture statuses PayPal reports once a capture has completed (later refunds or a reversal included). */
const CAPTURED = new Set(['COMPLETED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED']);
const CAPTURE_STATUSES_FOR: Record<string, ReadonlySet<string>> = {
  'PAYMENT.CAPTURE.COMPLETED': CAPTURED,
  'PAYMENT.CAPTURE.REVERSED': CAPTURED,
  'PAYMENT.CAPTURE.DENIED': new Set(['DECLINED', 'FAILED']),
};

/**
 * A verified PayPal event as steps. The body only says what happened to which object: the order,
 * capture or refund is read back from PayPal's API (`reader`) and what is recorded (amount,
 * status, custom_id, ids) is PayPal's record, never the body's. The signature covers a CRC32 of
 * the body, and CRC32 can be matched by a forged body (SIGNATURES.md §2; RELIABILITY.md Security).
 *
 *  - PayPal has no such object, or its record contradicts the body (another amount, custom_id,
 *    order, capture or a status the event cannot have): `refuse`, no money, with the reason;
 *  - PayPal cannot be asked (down, timeout, credentials refused): the reader throws, the event
 *    stays in the inbox and is retried;
 *  - no PayPal API credentials at all: parked (retried once they are configured).
 */
export async function translatePayPalEvent(event: object, refs: RefResolver, reader: PayPalPaymentsReader | null): Promise<Translation> {
  const body = event as Obj;
  const type = typeof body.event_type === 'string' ? body.event_type : '';
  if (!PAYPAL_HANDLED_TYPES.has(type)) return { outcome: 'unhandled' };
  const r: Obj = isObj(body.resource) ? body.resource : {};
  const id = typeof body.id === 'string' || typeof body.id === 'number' ? String(body.id) : '';
  const role = (name: string) => `${id}#${name}`;
  const resourceId = typeof r.id === 'string' ? r.id : '';
  const park = (why: string): Translation => ({ outcome: 'park', reason: `${type} ${resourceId}: ${why}` });
  const refuse = (code: 'not_found' | 'mismatch' | 'status', why: string): Translation => ({ outcome: 'refuse', code, reason: `${type} ${resourceId}: ${why}; no money recorded` });
  const actor = { kind: 'provider' as const, id };
  if (!reader) return park('PayPal API credentials are not configured, and money is never recorded from a webhook body alone');
  if (!resourceId) return refuse('not_found', 'the event names no resource id');

  switch (type) {
    case 'CHECKOUT.ORDER.APPROVED': {
      const order = await reader.lookupOrder(resourceId);
      if (!order) return refuse('not_found', 'PayPal has no such order');
      const bodyCustomId = at(r, 'purchase_units', 0, 'custom_id');
      if (bodyCustomId !== undefined && bodyCustomId !== order.customId) return refuse('mismatch', `custom_id ${JSON.stringify(bodyCustomId)} is ${JSON.stringify(order.customId)} at PayPal`);
      if (order.status !== 'APPROVED' && order.status !== 'COMPLETED') return refuse('status', `the order is ${order.status} at PayPal, not approved`);
      const t = await targetOf(refs, order.customId, [order.id]);
      if (t === 'mismatch') return refuse('mismatch', 'its custom_id does not name the invoice Settle created the order for');
      if (!t) return park('no invoice for this order');
      return {
        outcome: 'steps',
        steps: [
          { kind: 'learn', provider: 'paypal', ref: order.id, tenantId: t.tenantId, targetType: 'invoice', targetId: t.invoiceId },
          { kind: 'paypal_capture', role: role('capture'), orderId: order.id, tenantId: t.tenantId, invoiceId: t.invoiceId },
        ],
      };
    }
    case 'PAYMENT.CAPTURE.COMPLETED':
    case 'PAYMENT.CAPTURE.DENIED':
    case 'PAYMENT.CAPTURE.REVERSED': {
      const c = await reader.lookupCapture(resourceId);
      if (!c) return refuse('not_found', 'PayPal has no such capture');
      const claimed = bodyMoney(r.amount);
      if (!claimed || !sameMoney(claimed, c.amount)) return refuse('mismatch', `amount ${show(claimed)} is ${show(c.amount)} at PayPal`);
      if (r.custom_id !== undefined && r.custom_id !== c.customId) return refuse('mismatch', `custom_id ${JSON.stringify(r.custom_id)} is ${JSON.stringify(c.customId)} at PayPal`);
      const bodyOrder = at(r, 'supplementary_data', 'related_ids', 'order_id');
      if (bodyOrder !== undefined && bodyOrder !== c.orderId) return refuse('mismatch', `order ${typeof bodyOrder === 'string' ? bodyOrder : JSON.stringify(bodyOrder)} is ${String(c.orderId)} at PayPal`);
      if (!CAPTURE_STATUSES_FOR[type]?.has(c.status)) return refuse('status', `the capture is ${c.status} at PayPal`);
      const t = await targetOf(refs, c.customId, [c.id, c.orderId]);
      if (t === 'mismatch') return refuse('mismatch', 'its custom_id does not name the invoice Settle created the order for');
      if (!t) return park('no invoice for this capture');
      const steps: Step[] = [{ kind: 'learn', provider: 'paypal', ref: c.id, tenantId: t.tenantId, targetType: 'invoice', targetId: t.invoiceId }];
      if (type === 'PAYMENT.CAPTURE.REVERSED') {
        const disputeId = `reversal-${c.id}`;
        steps.push(
          { kind: 'invoice', role: role('reversal'), tenantId: t.tenantId, invoiceId: t.invoiceId, command: { type: 'OpenDispute', data: { disputeId, providerDisputeId: c.id, amount: c.amount, reason: 'paypal_reversal', actor } } },
          { kind: 'invoice', role: role('reversal-lost'), tenantId: t.tenantId, invoiceId: t.invoiceId, command: { type: 'CloseDispute', data: { disputeId, outcome: 'lost', actor } } },
        );
        return { outcome: 'steps', steps };
      }
      const completed = type === 'PAYMENT.CAPTURE.COMPLETED';
      steps.push({
        kind: 'invoice',
        role: role('attempt'),
        tenantId: t.tenantId,
        invoiceId: t.invoiceId,
        command: {
          type: 'RecordPaymentAttempt',
          data: {
            // the order is the payment, the capture its charge: the buyer's return and this webhook record one payment
            attemptId: completed ? (c.orderId ?? c.id) : `${c.id}:denied`,
            provider: 'paypal',
            providerPaymentId: c.orderId ?? c.id,
            providerChargeId: c.id,
            amount: c.amount,
            outcome: completed ? 'succeeded' : 'failed',
            errorCode: completed ? null : 'capture_denied',
            declineCode: completed ? null : (c.processorResponseCode ?? c.statusReason ?? null),
            message: completed ? null : (c.statusReason ?? 'The capture was denied'),
            occurredAt: new Date(String(c.updateTime ?? c.createTime ?? body.create_time)).toISOString(),
            actor,
          },
        },
      });
      return { outcome: 'steps', steps };
    }
    case 'PAYMENT.CAPTURE.REFUNDED': {
      const refund = await reader.lookupRefund(resourceId);
      if (!refund) return refuse('not_found', 'PayPal has no such refund');
      const claimed = bodyMoney(r.amount);
      if (!claimed || !sameMoney(claimed, refund.amount)) return refuse('mismatch', `amount ${show(claimed)} is ${show(refund.amount)} at PayPal`);
      if (r.custom_id !== undefined && r.custom_id !== refund.customId) return refuse('mismatch', `custom_id ${JSON.stringify(r.custom_id)} is ${JSON.stringify(refund.customId)} at PayPal`);
      const captureId = refund.captureId || null;
      const bodyCapture = upLink(r, 'up');
      if (bodyCapture !== null && bodyCapture !== captureId) return refuse('mismatch', `capture ${bodyCapture} is ${String(captureId)} at PayPal`);
      if (refund.status === 'PENDING') return park('the refund is still PENDING at PayPal');
      if (refund.status !== 'COMPLETED') return refuse('status', `the refund is ${refund.status} at PayPal`);
      let t = await targetOf(refs, refund.customId, [captureId]);
      if (t === null && captureId) {
        // a refund need not carry custom_id: its capture does
        const c = await reader.lookupCapture(captureId);
        if (c) t = await targetOf(refs, c.customId, [c.id, c.orderId]);
      }
      if (t === 'mismatch') return refuse('mismatch', 'its custom_id does not name the invoice Settle created the order for');
      if (!t) return park('no invoice for the refunded capture');
      return {
        outcome: 'steps',
        steps: [{ kind: 'invoice', role: role('refund'), tenantId: t.tenantId, invoiceId: t.invoiceId, command: { type: 'RecordRefund', data: { refundId: refund.id, providerRefundId: refund.id, amount: refund.amount, reason: refund.noteToPayer, actor } } }],
      };
    }
    default:
      return { outcome: 'unhandled' };
  }
}

/**
 * The facts of a capture, for the invoice: the order is the payment and the capture its charge,
 * so the buyer's return, its retry and the CAPTURE webhook all record one payment.
 */
export function captureSteps(c: CaptureOutcome, tenantId: string, invoiceId: string, role: string, actorId: string): Step[] {
  const steps: Step[] = [{ kind: 'learn', provider: 'paypal', ref: c.captureId, tenantId, targetType: 'invoice', targetId: invoiceId }];
  if (c.outcome === 'pending') return steps; // PAYMENT.CAPTURE.COMPLETED or DENIED follows
  const completed = c.outcome === 'completed';
  steps.push({
    kind: 'invoice',
    role: `${role}:${c.outcome}`,
    tenantId,
    invoiceId,
    command: {
      type: 'RecordPaymentAttempt',
      data: {
        attemptId: completed ? c.orderId : `${c.captureId}:denied`,
        provider: 'paypal',
        providerPaymentId: c.orderId,
        providerChargeId: c.captureId,
        amount: c.amount,
        outcome: completed ? 'succeeded' : 'failed',
        errorCode: completed ? null : 'capture_denied',
        declineCode: completed ? null : c.declineCode,
        message: completed ? null : (c.reason ?? 'The capture was declined'),
        occurredAt: c.occurredAt,
        actor: { kind: 'provider', id: actorId },
      },
    },
  });
  return steps;
}
