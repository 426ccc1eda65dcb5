/**
 * Acts at PayPal the way a merchant (or a Settle instance that crashed right after) does, over
 * PayPal's published REST API on the simulator: an OAuth client-credentials token, a capture of
 * an approved order, a refund of a capture. `refund` takes minor units of a two-decimal currency;
 * `refundValue` takes PayPal's own decimal string (any PayPal currency) and its request id.
 */
import type { PayPalSimulator } from '../../simulators/paypal';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

export class PayPalDashboard {
  private token: string | null = null;
  constructor(private readonly sim: PayPalSimulator) {}

  private async bearer(): Promise<string> {
    if (this.token) return this.token;
    const r = await fetch(`${this.sim.url}/v1/oauth2/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${this.sim.clientId}:${this.sim.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    if (r.status !== 200) throw new Error(`PayPal token: ${r.status} ${await r.text()}`);
    this.token = ((await r.json()) as Obj).access_token as string;
    return this.token;
  }

  private async post(path: string, requestId: string, body: Obj): Promise<Obj> {
    const r = await fetch(`${this.sim.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.bearer()}`, 'content-type': 'application/json', 'paypal-request-id': requestId, prefer: 'return=representation' },
      body: JSON.stringify(body),
    });
    const json = (await r.json()) as Obj;
    if (r.status >= 300) throw new Error(`PayPal ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  }

  /** Captures an approved order; returns the capture id. */
  async capture(orderId: string): Promise<string> {
    const o = await this.post(`/v2/checkout/orders/${orderId}/capture`, `capture-${orderId}`, {});
    return String(o.purchase_units[0].payments.captures[0].id);
  }

  /** Refunds part of a capture; returns the refund id. */
  async refund(captureId: string, minor: number, currency: string): Promise<string> {
    const r = await this.post(`/v2/payments/captures/${captureId}/refund`, `refund-${captureId}-${minor}`, { amount: { value: (minor / 100).toFixed(2), currency_code: currency } });
    return String(r.id);
  }

  /** Refunds `value` (PayPal's decimal string) of a capture with this PayPal-Request-Id; returns the refund id. */
  async refundValue(captureId: string, value: string, currency: string, requestId: string): Promise<string> {
    const r = await this.post(`/v2/payments/captures/${captureId}/refund`, requestId, { amount: { value, currency_code: currency } });
    return String(r.id);
  }
}
