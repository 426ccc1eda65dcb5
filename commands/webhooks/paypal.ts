/**
 * PayPal event -> steps. Orders Settle creates carry `custom_id = "<tenant>|<invoice>"` on their
 * purchase unit; captures and refunds copy it, and what they do not carry is resolved through
 * the order and capture ids learned earlier. Amounts are PayPal decimal strings, converted to
 * integer minor units by the currency's exponent.
 */
import { parseDecimalAmount } from '../../domain/shared/money';
import type { RefResolver, Step, Translation } from './steps';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

export const PAYPAL_HANDLED_TYPES = new Set(['CHECKOUT.ORDER.APPROVED', 'PAYMENT.CAPTURE.COMPLETED', 'PAYMENT.CAPTURE.DENIED', 'PAYMENT.CAPTURE.REFUNDED', 'PAYMENT.CAPTURE.REVERSED']);

const SAFE = /^[A-Za-z0-9_-]{1,100}$/;

export function parseCustomId(customId: unknown): { tenantId: string; invoiceId: string } | null {
  if (typeof customId !== 'string') return null;
  const [tenantId, invoiceId, ...rest] = customId.split('|');
  if (rest.length > 0 || !tenantId || !invoiceId || !SAFE.test(tenantId) || !SAFE.test(invoiceId)) return null;
  return { tenantId, invoiceId };
}

export function customIdFor(tenantId: string, invoiceId: string): string {
  return `${tenantId}|${invoiceId}`;
}

async function target(refs: RefResolver, customIds: unknown[], keys: Array<string | null | undefined>): Promise<{ tenantId: string; invoiceId: string } | null> {
  for (const c of customIds) {
    const t = parseCustomId(c);
    if (t) return t;
  }
  for (const k of keys) {
    if (!k) continue;
    const r = await refs.lookup('paypal', k);
    if (r?.targetType === 'invoice') return { tenantId: r.tenantId, invoiceId: r.targetId };
  }
  return null;
}

function upLink(resource: Obj, rel: string): string | null {
  const links: Obj[] = Array.isArray(resource.links) ? resource.links : [];
  const href = links.find((l) => l.rel === rel)?.href;
  return typeof href === 'string' ? (href.split('/').pop() ?? null) : null;
}

export async function translatePayPalEvent(event: Obj, refs: RefResolver): Promise<Translation> {
  const type = String(event.event_type ?? '');
  if (!PAYPAL_HANDLED_TYPES.has(type)) return { outcome: 'unhandled' };
  const r: Obj = event.resource ?? {};
  const id = String(event.id);
  const role = (name: string) => `${id}#${name}`;
  const park = (why: string): Translation => ({ outcome: 'park', reason: `${type} ${r.id}: ${why}` });
  const actor = { kind: 'provider' as const, id };

  switch (type) {
    case 'CHECKOUT.ORDER.APPROVED': {
      const unit: Obj = r.purchase_units?.[0] ?? {};
      const t = await target(refs, [unit.custom_id], [r.id]);
      if (!t) return park('no invoice for this order');
      return {
        outcome: 'steps',
        steps: [
          { kind: 'learn', provider: 'paypal', ref: r.id, tenantId: t.tenantId, targetType: 'invoice', targetId: t.invoiceId },
          { kind: 'paypal_capture', role: role('capture'), orderId: r.id, tenantId: t.tenantId, invoiceId: t.invoiceId },
        ],
      };
    }
    case 'PAYMENT.CAPTURE.COMPLETED':
    case 'PAYMENT.CAPTURE.DENIED':
    case 'PAYMENT.CAPTURE.REVERSED': {
      const orderId: string | null = r.supplementary_data?.related_ids?.order_id ?? null;
      const t = await target(refs, [r.custom_id], [r.id, orderId]);
      if (!t) return park('no invoice for this capture');
      const amount = parseDecimalAmount(String(r.amount?.value), String(r.amount?.currency_code));
      const steps: Step[] = [{ kind: 'learn', provider: 'paypal', ref: r.id, tenantId: t.tenantId, targetType: 'invoice', targetId: t.invoiceId }];
      if (type === 'PAYMENT.CAPTURE.REVERSED') {
        const disputeId = `reversal-${r.id}`;
        steps.push(
          { kind: 'invoice', role: role('reversal'), tenantId: t.tenantId, invoiceId: t.invoiceId, command: { type: 'OpenDispute', data: { disputeId, providerDisputeId: r.id, amount, reason: 'paypal_reversal', actor } } },
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
            attemptId: completed ? (orderId ?? r.id) : `${r.id}:denied`,
            provider: 'paypal',
            providerPaymentId: orderId ?? r.id,
            providerChargeId: r.id,
            amount,
            outcome: completed ? 'succeeded' : 'failed',
            errorCode: completed ? null : 'capture_denied',
            declineCode: completed ? null : (r.processor_response?.response_code ?? r.status_details?.reason ?? null),
            message: completed ? null : (r.status_details?.reason ?? 'The capture was denied'),
            occurredAt: new Date(String(r.update_time ?? r.create_time ?? event.create_time)).toISOString(),
            actor,
          },
        },
      });
      return { outcome: 'steps', steps };
    }
    case 'PAYMENT.CAPTURE.REFUNDED': {
      const captureId = upLink(r, 'up');
      const t = await target(refs, [r.custom_id], [captureId]);
      if (!t) return park('no invoice for the refunded capture');
      const amount = parseDecimalAmount(String(r.amount?.value), String(r.amount?.currency_code));
      return {
        outcome: 'steps',
        steps: [{ kind: 'invoice', role: role('refund'), tenantId: t.tenantId, invoiceId: t.invoiceId, command: { type: 'RecordRefund', data: { refundId: r.id, providerRefundId: r.id, amount, reason: r.note_to_payer ?? null, actor } } }],
      };
    }
    default:
      return { outcome: 'unhandled' };
  }
}

/** What capturing an approved order produced, in provider-neutral terms. */
export interface CaptureOutcome {
  readonly outcome: 'completed' | 'pending' | 'declined';
  readonly orderId: string;
  readonly captureId: string;
  readonly amount: import('../../domain/shared/money').Money;
  readonly declineCode: string | null;
  readonly reason: string | null;
  readonly occurredAt: string;
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
