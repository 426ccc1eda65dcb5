/**
 * Plays the PayPal facts of a history the way they happen: the tenant's payer opens a payment
 * session through the API (`POST /v1/invoices/{id}/payment-sessions` {method: 'paypal'}), approves
 * the order at PayPal (the simulator), PayPal sends `CHECKOUT.ORDER.APPROVED` and Settle captures
 * (declined when the history says so); the merchant refunds at PayPal (driver/paypalDashboard.ts).
 * Every webhook PayPal sends for these (`PAYMENT.CAPTURE.COMPLETED` / `DENIED`, one
 * `PAYMENT.CAPTURE.REFUNDED` per refund, and the approval again) is then delivered late,
 * duplicated, shuffled and concurrently as the history says: Settle re-reads every object from
 * PayPal's API, so whatever arrives when, it must converge on PayPal's truth.
 *
 * Sessions are played one after another: the simulator's "decline the next capture" is global.
 */
import type { PayPalSimulator, PayPalWebhookEvent } from '../../simulators/paypal';
import { toPayPalValue } from '../model/currencies';
import type { History } from '../model/histories';
import type { PayPalCaptureFact } from '../model/invoices';
import { PayPalDashboard } from './paypalDashboard';
import { until, type Settle } from './service';
import type { Played } from './run';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */

/** The service env that points it at the simulator. */
export function paypalEnv(sim: PayPalSimulator): Record<string, string> {
  return { PAYPAL_API_BASE: sim.url, PAYPAL_CLIENT_ID: sim.clientId, PAYPAL_CLIENT_SECRET: sim.clientSecret, PAYPAL_WEBHOOK_ID: sim.webhookId };
}

/** Plays the history's PayPal facts; fills `p.paypalOrders` (history name -> PayPal order id); returns the problems. */
export async function playPayPal(settle: Settle, sim: PayPalSimulator, h: History, p: Played): Promise<string[]> {
  const problems: string[] = [];
  const dashboard = new PayPalDashboard(sim);
  const hook = `${settle.url}/webhooks/paypal`;
  const late: PayPalWebhookEvent[] = [];
  const captures = new Map<string, { captureId: string; currency: string }>();
  for (const f of h.facts) {
    if (f.kind === 'paypalCapture') {
      const orderId = await openAndCapture(settle, sim, p, f, hook, late);
      p.paypalOrders.set(f.order, orderId);
      const captureId = String(sim.order(orderId)?.purchase_units?.[0]?.payments?.captures?.[0]?.id ?? '');
      captures.set(f.order, { captureId, currency: f.currency });
      late.push(f.outcome === 'completed' ? sim.events.captureCompleted(captureId) : sim.events.captureDenied(captureId));
    } else if (f.kind === 'paypalRefund') {
      const c = captures.get(f.order)!;
      const refundId = await dashboard.refundValue(c.captureId, toPayPalValue(f.amount, c.currency), c.currency, `refund-${f.refund}`);
      late.push(sim.events.captureRefunded(refundId));
    }
  }
  // every event possibly twice, all shuffled, several at a time
  const slots: Array<{ e: PayPalWebhookEvent; key: number }> = [];
  late.forEach((e, i) => {
    slots.push({ e, key: h.shuffle[(i * 5 + 1) % h.shuffle.length]! + i * 1e-9 });
    if (h.duplicate[(i * 3 + 2) % h.duplicate.length]) slots.push({ e, key: h.shuffle[(i * 11 + 7) % h.shuffle.length]! + i * 1e-9 + 1e-12 });
  });
  const list = slots.sort((a, b) => a.key - b.key).map((s) => s.e);
  for (let i = 0; i < list.length; i += h.concurrency) {
    const chunk = list.slice(i, i + h.concurrency);
    const results = await Promise.all(chunk.map((e) => sim.sendWebhook(hook, e)));
    results.forEach((r, j) => {
      if (r.status !== 200) problems.push(`PayPal delivery ${chunk[j]!.event_type} ${chunk[j]!.id}: ${r.status} ${r.body}`);
    });
  }
  return problems;
}

/** A payment session, the payer's approval and Settle's capture of it (waited for at PayPal); returns the order id. */
async function openAndCapture(settle: Settle, sim: PayPalSimulator, p: Played, f: PayPalCaptureFact, hook: string, late: PayPalWebhookEvent[]): Promise<string> {
  const { tenant, invoiceId } = p.invoiceIds.get(f.invoiceKey)!;
  const s = await p.keys.get(tenant)!.post<any>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' });
  if (s.status !== 201) throw new Error(`PayPal payment session for ${f.invoiceKey}: ${s.status} ${JSON.stringify(s.body)}`);
  const orderId = String(s.body.reference);
  sim.approveOrder(orderId);
  if (f.outcome === 'denied') sim.declineNextCapture();
  const approved = sim.events.orderApproved(orderId);
  const r = await sim.sendWebhook(hook, approved);
  if (r.status !== 200) throw new Error(`CHECKOUT.ORDER.APPROVED ${orderId}: ${r.status} ${r.body}`);
  late.push(approved); // PayPal retries it too
  const captured = await until(async () => sim.order(orderId)?.purchase_units?.[0]?.payments?.captures?.length ?? 0, (n) => n > 0, 30_000);
  if (captured === 0) throw new Error(`Settle did not capture the approved PayPal order ${orderId} for ${f.invoiceKey} within 30 s`);
  // Settle records the capture's outcome from its answer; the next session must see the invoice open or paid
  await settle.settled({ timeoutMs: 30_000 });
  return orderId;
}
