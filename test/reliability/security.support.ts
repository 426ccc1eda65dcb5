/** Shared pieces of the security suites: a recording proxy for Stripe and tenant setup. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl } from '../support/databases';
import { deliverApplied, startTestService, type TestService } from '../support/service';
import { stripeEvent } from '../support/stripeEvents';

export const CONNECT_SECRET = 'whsec_connect_security_suite_0123456789';
export const PLATFORM_SECRET = 'whsec_platform_security_suite_0123456789';

export function stripeMockBase(): string {
  const base = process.env.STRIPE_API_BASE;
  if (!base) throw new Error('STRIPE_API_BASE is not set: run with stripe-mock (see /tmp/smock.env or `npm test`)');
  return base;
}

/**
 * The in-process service the security suites run against: its own schema of the real PostgreSQL,
 * in-process messaging, the admin key, stripe-mock as the Stripe API, both webhook secrets.
 */
export function securityService(schema: string, logLevel: string, extra: Record<string, string | undefined> = {}): Promise<TestService> {
  return startTestService({
    DATABASE_URL: databaseUrl(),
    DATABASE_SCHEMA: schema,
    ADMIN_API_KEY: ADMIN_KEY,
    KAFKA_BROKERS: undefined,
    STRIPE_SECRET_KEY: 'sk_test_123',
    STRIPE_API_BASE: stripeMockBase(),
    STRIPE_WEBHOOK_SECRET: PLATFORM_SECRET,
    STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET,
    LOG_LEVEL: logLevel,
    ...extra,
  });
}

export interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Forwards everything to stripe-mock and records each request (method, path, headers, body). */
export class RecordingProxy {
  readonly requests: Recorded[] = [];
  private server: http.Server | null = null;
  url = '';

  constructor(private readonly target: URL) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url ?? '/', 'http://proxy');
        this.requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, body: body.toString('utf8') });
        const up = http.request({ host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.target.host } }, (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        });
        up.on('error', (err) => {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { type: 'api_error', message: `proxy: ${err.message}` } }));
        });
        up.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export const header = (r: Recorded, name: string): string | undefined => {
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** Creates a tenant and returns its first API key and key id. */
export async function tenantWithKey(baseUrl: string, tenantId: string): Promise<{ apiKey: string; keyId: string; api: ReturnType<typeof client> }> {
  const admin = client(baseUrl, ADMIN_KEY);
  const t = await admin.post('/v1/tenants', { tenantId, name: `Tenant ${tenantId}` });
  if (t.status !== 201) throw new Error(`tenant ${tenantId}: ${t.status} ${JSON.stringify(t.body)}`);
  const k = await admin.post<{ apiKey: string; keyId: string }>(`/v1/tenants/${tenantId}/api-keys`, { label: 'server' });
  if (k.status !== 201) throw new Error(`key for ${tenantId}: ${k.status} ${JSON.stringify(k.body)}`);
  return { apiKey: k.body.apiKey, keyId: k.body.keyId, api: client(baseUrl, k.body.apiKey) };
}

/** Links a connected account to a tenant and lets Stripe (a signed account.updated) enable charges; resolves once that is applied. */
export async function linkConnectedAccount(svc: TestService, tenantId: string, accountId: string): Promise<void> {
  const admin = client(svc.url, ADMIN_KEY);
  const linked = await admin.post(`/v1/tenants/${tenantId}/stripe-account`, { accountId });
  if (linked.status !== 200) throw new Error(`link ${accountId}: ${linked.status} ${JSON.stringify(linked.body)}`);
  const updated = stripeEvent('account.updated', (o, ev) => {
    o.id = accountId;
    ev.account = accountId;
    o.charges_enabled = true;
    o.metadata = { tenant_id: tenantId };
  });
  const r = await deliverApplied(svc, `${svc.url}/webhooks/stripe/connect`, updated, CONNECT_SECRET);
  if (r.status !== 200 || (r.body as { status?: string }).status !== 'processed') throw new Error(`account.updated for ${accountId}: ${r.status} ${JSON.stringify(r.body)}`);
}

export const invoiceBody = (customerId: string, email: string, amount = 12000) => ({
  customerId,
  customer: { name: 'Client', email },
  currency: 'EUR',
  lineItems: [{ description: 'Session', quantity: 1, unitAmount: amount }],
  dueDate: '2026-12-31',
  allowedPaymentMethods: ['stripe_connect'],
});

export const bookingBody = (departureId: string, email: string, amount = 250000) => ({
  departureId,
  contact: { firstName: 'Ada', lastName: 'Lovelace', email, phone: '+44 20 7946 0000' },
  guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
  price: { amount, currency: 'EUR' },
});

/** Stripe (Connect) reports a succeeded payment of an invoice on the tenant's connected account; resolves once it is applied. */
export async function payInvoiceOnConnect(svc: TestService, tenantId: string, accountId: string, invoiceId: string, amount: number, currency = 'eur'): Promise<{ paymentIntentId: string; chargeId: string }> {
  const paymentIntentId = `pi_sec_${invoiceId.slice(-12)}`;
  const chargeId = `ch_sec_${invoiceId.slice(-12)}`;
  const e = stripeEvent('payment_intent.succeeded', (o, ev) => {
    ev.account = accountId;
    o.id = paymentIntentId;
    o.metadata = { tenant_id: tenantId, invoice_id: invoiceId };
    o.amount = amount;
    o.amount_received = amount;
    o.currency = currency;
    o.latest_charge = chargeId;
  });
  // queue first: waits for the applier, so `body.status` is the inbox row's applied status
  const r = await deliverApplied(svc, `${svc.url}/webhooks/stripe/connect`, e, CONNECT_SECRET);
  if (r.status !== 200 || (r.body as { status?: string }).status !== 'processed') throw new Error(`payment of ${invoiceId}: ${r.status} ${JSON.stringify(r.body)}`);
  return { paymentIntentId, chargeId };
}
