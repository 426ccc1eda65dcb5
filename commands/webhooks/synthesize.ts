/**
 * Provider objects as the webhook events that would have reported their current state, for
 * reconciliation: the synthesised event goes through the same translation, inbox, processor and
 * projections as a delivered webhook. Its id is `recon_<object id>_<state>`, so a second
 * reconciliation of an unchanged object is the same inbox row (a duplicate), and the facts it
 * carries are deduplicated by the aggregates like any redelivered webhook's.
 *
 * Only the current state is known: a payment intent that failed twice and then succeeded is one
 * success (the failed charges are listed separately and recorded through their intent).
 */
import type { ProviderObject, StripeLedgerKind } from '../../domain/ports/providerLedger';
import { isJsonObject, jsonAt, jsonText, type JsonObject } from '../../domain/shared/json';
import type { StripeEventEnvelope } from './stripe';

/** A provider object as listed: untrusted JSON, read field by field. */
type Obj = JsonObject;

const PI_TYPES: Record<string, string> = {
  succeeded: 'payment_intent.succeeded',
  canceled: 'payment_intent.canceled',
  processing: 'payment_intent.processing',
  requires_action: 'payment_intent.requires_action',
  requires_capture: 'payment_intent.amount_capturable_updated',
};

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The Stripe events (usually one) that report this object's current state; none when there is nothing to report. */
export function stripeEnvelopes(kind: StripeLedgerKind, object: ProviderObject, accountId: string | null, now: Date): StripeEventEnvelope[] {
  const o: Obj = object;
  if (typeof o.id !== 'string') return [];
  const created = num(o.created) ?? Math.floor(now.getTime() / 1000);
  const env = (type: string, state: string, at: number | null): StripeEventEnvelope => ({
    id: `recon_${jsonText(o.id)}_${state}`,
    type,
    created: at ?? created,
    livemode: o.livemode === true,
    ...(accountId ? { account: accountId } : {}),
    data: { object: o },
  });
  switch (kind) {
    case 'payment_intent': {
      const charge = o.latest_charge && typeof o.latest_charge === 'object' ? (o.latest_charge as Obj) : null;
      const at = num(charge?.created) ?? created;
      if (o.status === 'requires_payment_method' && o.last_payment_error) {
        const failedCharge = jsonAt(o.last_payment_error, 'charge');
        return [env('payment_intent.payment_failed', `failed_${typeof failedCharge === 'string' ? failedCharge : 'payment'}`, at)];
      }
      const type = PI_TYPES[String(o.status)];
      return type ? [env(type, String(o.status), at)] : [];
    }
    case 'charge':
      if (o.status === 'succeeded') return [env('charge.succeeded', 'succeeded', null)];
      if (o.status === 'failed') return [env('charge.failed', 'failed', null)];
      return [];
    case 'refund':
      return o.status === 'succeeded' ? [env('refund.updated', 'succeeded', null)] : [];
    case 'dispute': {
      const out = [env('charge.dispute.created', 'created', null)];
      if (o.status === 'won' || o.status === 'lost') out.push(env('charge.dispute.closed', o.status, null));
      return out;
    }
    case 'invoice': {
      const t: Obj = isJsonObject(o.status_transitions) ? o.status_transitions : {};
      if (o.status === 'paid') return [env('invoice.paid', 'paid', num(t.paid_at))];
      if (o.status === 'open') return [env('invoice.finalized', 'open', num(t.finalized_at))];
      if (o.status === 'void') return [env('invoice.voided', 'void', num(t.voided_at))];
      if (o.status === 'uncollectible') return [env('invoice.marked_uncollectible', 'uncollectible', num(t.marked_uncollectible_at))];
      return [];
    }
    case 'subscription': {
      const item = jsonAt(o.items, 'data', 0);
      const periodEnd = num(jsonAt(item, 'current_period_end')) ?? num(o.current_period_end) ?? 0;
      if (o.status === 'canceled' || o.status === 'incomplete_expired') return [env('customer.subscription.deleted', o.status, num(o.ended_at) ?? num(o.canceled_at))];
      // one event per billing period: a renewal is a new state, not a replay of the last one
      if (['active', 'trialing', 'past_due'].includes(String(o.status))) return [env('customer.subscription.updated', `${jsonText(o.status)}_${periodEnd}`, null)];
      return [];
    }
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/** Whether the object carries money Settle would have to account for (so an unattributable one needs a human). */
export function stripeMoneyMoved(kind: StripeLedgerKind, object: ProviderObject): boolean {
  const o: Obj = object;
  switch (kind) {
    case 'payment_intent':
      return o.status === 'succeeded';
    case 'charge':
      return o.status === 'succeeded';
    case 'refund':
      return o.status === 'succeeded';
    case 'dispute':
      return true;
    case 'invoice':
      return o.status === 'paid' && (num(o.amount_paid) ?? 0) > 0;
    case 'subscription':
      return false;
    default:
      return false;
  }
}

export interface PayPalEnvelope {
  readonly id: string;
  readonly event_type: string;
  readonly create_time: string;
  readonly resource_type: string;
  readonly resource: Obj;
}

const CAPTURED = new Set(['COMPLETED', 'PARTIALLY_REFUNDED', 'REFUNDED']);
const DENIED = new Set(['DECLINED', 'FAILED']);

/**
 * The PayPal events that report an order's captures and refunds changed at or after `since`
 * (PAYMENT.CAPTURE.COMPLETED / DENIED, PAYMENT.CAPTURE.REFUNDED), each resource given the
 * purchase unit's custom_id and the order id when the order's rendering leaves them out.
 */
export function payPalEnvelopes(order: ProviderObject, since: Date): PayPalEnvelope[] {
  const o: Obj = order;
  const out: PayPalEnvelope[] = [];
  const changed = (r: Obj) => {
    const t = Date.parse(jsonText(r.update_time ?? r.create_time));
    return Number.isNaN(t) || t >= since.getTime();
  };
  for (const unit of Array.isArray(o.purchase_units) ? (o.purchase_units as Obj[]) : []) {
    const captures = jsonAt(unit, 'payments', 'captures');
    const refunds = jsonAt(unit, 'payments', 'refunds');
    for (const c of (Array.isArray(captures) ? captures : []).filter(isJsonObject).filter(changed)) {
      const status = String(c.status);
      const type = CAPTURED.has(status) ? 'PAYMENT.CAPTURE.COMPLETED' : DENIED.has(status) ? 'PAYMENT.CAPTURE.DENIED' : null;
      if (!type) continue; // pending: its outcome is still to come
      const resource = { ...c, custom_id: c.custom_id ?? unit.custom_id, supplementary_data: { related_ids: { order_id: o.id, ...(isJsonObject(jsonAt(c, 'supplementary_data', 'related_ids')) ? (jsonAt(c, 'supplementary_data', 'related_ids') as Obj) : {}) } } };
      out.push({ id: `recon_${jsonText(c.id)}_${CAPTURED.has(status) ? 'COMPLETED' : 'DENIED'}`, event_type: type, create_time: jsonText(c.update_time ?? c.create_time), resource_type: 'capture', resource });
    }
    for (const r of (Array.isArray(refunds) ? refunds : []).filter(isJsonObject).filter(changed)) {
      if (r.status !== 'COMPLETED') continue;
      out.push({ id: `recon_${jsonText(r.id)}_COMPLETED`, event_type: 'PAYMENT.CAPTURE.REFUNDED', create_time: jsonText(r.update_time ?? r.create_time), resource_type: 'refund', resource: { ...r, custom_id: r.custom_id ?? unit.custom_id } });
    }
  }
  return out;
}
