/**
 * StripeBillingProvider against a real stripe-mock (the official one, which validates every
 * request against Stripe's OpenAPI spec and rejects unknown or malformed parameters). Between the
 * adapter and stripe-mock sits a small recording proxy: it proves what reaches the server (the
 * Idempotency-Key of every POST, the Stripe-Account header of Connect calls), counts requests to
 * prove what is retried and what is not, and can answer in stripe-mock's place with a canned
 * failure (429, 5xx, 402, a dropped connection) that stripe-mock itself cannot produce.
 *
 * STRIPE_API_BASE must point at stripe-mock: `npm test` starts one; by hand,
 *   export "$(scripts/services/stripe-mock.sh start /tmp/sm)"   ...   scripts/services/stripe-mock.sh stop /tmp/sm
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { ProviderError } from '../../domain/ports/billingProvider';
import {
  StripeBillingProvider,
  apiBaseOptions,
  billingCycleAnchorParam,
  feeFromBasisPoints,
  percentToBasisPoints,
  planChangeOutcome,
  stripeIdempotencyKey,
  toProviderError,
  toStripeAmount,
  type StripeProviderConfig,
} from './stripe';

const STRIPE_API_BASE = process.env.STRIPE_API_BASE;
/** The API version of stripe-mock v0.203.0's embedded spec (scripts/services/stripe-mock.sh). */
const STRIPE_MOCK_API_VERSION = '2026-08-26.dahlia';
const NOW = new Date('2026-11-02T10:00:00Z');
const NOW_S = NOW.getTime() / 1000;

// ---- the recording proxy ----------------------------------------------------------------------

interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly form: Record<string, string>;
}
type Canned = { status: number; body: unknown; headers?: Record<string, string> } | 'drop';
interface Injection {
  readonly when: (r: Recorded) => boolean;
  times: number;
  readonly reply: Canned;
}

class RecordingProxy {
  readonly requests: Recorded[] = [];
  private readonly injections: Injection[] = [];
  private server: http.Server | null = null;
  url = '';

  constructor(private readonly target: URL) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Answers the next `times` matching requests with `reply` instead of stripe-mock. */
  inject(when: (r: Recorded) => boolean, reply: Canned, times = 1): void {
    this.injections.push({ when, reply, times });
  }

  reset(): void {
    this.requests.length = 0;
    this.injections.length = 0;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://proxy');
      const params = req.method === 'GET' || req.method === 'DELETE' ? url.searchParams : new URLSearchParams(body.toString('utf8'));
      const rec: Recorded = { method: req.method ?? '', path: url.pathname, headers: req.headers, form: Object.fromEntries(params) };
      this.requests.push(rec);
      const inj = this.injections.find((i) => i.times > 0 && i.when(rec));
      if (inj) {
        inj.times--;
        if (inj.reply === 'drop') {
          req.socket.destroy();
          return;
        }
        res.writeHead(inj.reply.status, { 'content-type': 'application/json', 'request-id': 'req_injected', ...inj.reply.headers });
        res.end(JSON.stringify(inj.reply.body));
        return;
      }
      const up = http.request(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.target.host } },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: `proxy: ${err.message}` } }));
      });
      up.end(body);
    });
  }
}

const header = (r: Recorded, name: string): string | undefined => {
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};
const stripeError = (type: string, message: string, extra: Record<string, unknown> = {}) => ({ error: { type, message, ...extra } });

// ---- setup ------------------------------------------------------------------------------------

let proxy: RecordingProxy;
/** Idempotency keys the tests handed to the adapter: every POST must carry one of these (not the SDK's own). */
const givenKeys = new Set<string>();
let keySeq = 0;
const key = (label: string): string => {
  const k = `test|${label}|${++keySeq}`;
  givenKeys.add(k);
  return k;
};

function provider(overrides: Partial<StripeProviderConfig> = {}): StripeBillingProvider {
  return new StripeBillingProvider({
    secretKey: 'sk_test_123',
    apiBase: proxy.url,
    maxNetworkRetries: 2,
    publicBaseUrl: 'https://settle.example',
    now: () => NOW,
    ...overrides,
  });
}

async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderError) return err;
    throw new Error(`expected a ProviderError, got ${String(err)}`);
  }
  throw new Error('expected a ProviderError, the call succeeded');
}

beforeAll(async () => {
  if (!STRIPE_API_BASE) {
    throw new Error(
      'STRIPE_API_BASE is not set: these tests run against a real stripe-mock. Run them through `npm test` (scripts/test.sh starts stripe-mock), ' +
        'or start one yourself: export "$(scripts/services/stripe-mock.sh start /tmp/stripe-mock)" (stop it with scripts/services/stripe-mock.sh stop /tmp/stripe-mock).',
    );
  }
  proxy = new RecordingProxy(new URL(STRIPE_API_BASE));
  await proxy.start();
});

afterAll(async () => {
  await proxy?.stop();
});

beforeEach(() => proxy?.reset());

afterEach(() => {
  // Every POST that reached the server carried (the digest of) one of the idempotency keys the test gave the
  // adapter (an SDK-generated `stripe-node-retry-...` key would mean a call forgot its key).
  for (const r of proxy?.requests ?? []) {
    if (r.method !== 'POST') continue;
    const k = header(r, 'idempotency-key');
    expect({ path: r.path, key: k && [...givenKeys].some((g) => stripeIdempotencyKey(g) === k) ? 'given' : k }).toEqual({ path: r.path, key: 'given' });
  }
});

// ---- the port, request by request --------------------------------------------------------------

describe('StripeBillingProvider against stripe-mock', () => {
  test('createCheckoutSession: subscription mode, one price, metadata on the session and the subscription, expiry from the ttl', async () => {
    const k = key('checkout');
    const s = await provider().createCheckoutSession({
      idempotencyKey: k,
      tenantId: 'ten_1',
      customerId: 'cust_1',
      priceId: 'price_basic',
      metadata: { tenant_id: 'ten_1', customer_id: 'cust_1', plan_id: 'basic', checkout_attempt_id: 'att_1' },
      ttlSeconds: 3600,
    });
    expect(s.sessionId).toMatch(/^cs_/);
    expect(s.url).toMatch(/^https:\/\//);
    expect(s.expiresAt).toBeInstanceOf(Date);
    expect(proxy.requests).toHaveLength(1);
    const r = proxy.requests[0]!;
    expect([r.method, r.path]).toEqual(['POST', '/v1/checkout/sessions']);
    expect(header(r, 'idempotency-key')).toBe(stripeIdempotencyKey(k));
    expect(header(r, 'stripe-account')).toBeUndefined();
    expect(r.form).toEqual({
      mode: 'subscription',
      'line_items[0][price]': 'price_basic',
      'line_items[0][quantity]': '1',
      client_reference_id: 'cust_1',
      'metadata[tenant_id]': 'ten_1',
      'metadata[customer_id]': 'cust_1',
      'metadata[plan_id]': 'basic',
      'metadata[checkout_attempt_id]': 'att_1',
      'subscription_data[metadata][tenant_id]': 'ten_1',
      'subscription_data[metadata][customer_id]': 'cust_1',
      'subscription_data[metadata][plan_id]': 'basic',
      'subscription_data[metadata][checkout_attempt_id]': 'att_1',
      success_url: 'https://settle.example/checkout/success?session_id={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://settle.example/checkout/cancel',
      expires_at: String(NOW_S + 3600),
    });
  });

  test('createCheckoutSession: without a ttl Stripe decides; a configured ttl below 30 min is kept inside Stripe window', async () => {
    await provider().createCheckoutSession({ idempotencyKey: key('checkout'), tenantId: 't', customerId: 'c', priceId: 'price_1', metadata: {} });
    expect(proxy.requests[0]!.form.expires_at).toBeUndefined();
    // tenant and customer always travel, even when the caller's metadata forgot them
    expect(proxy.requests[0]!.form['metadata[tenant_id]']).toBe('t');
    expect(proxy.requests[0]!.form['subscription_data[metadata][customer_id]']).toBe('c');
    await provider({ checkoutSessionTtlSeconds: 1800 }).createCheckoutSession({ idempotencyKey: key('checkout'), tenantId: 't', customerId: 'c', priceId: 'price_1', metadata: {} });
    expect(proxy.requests[1]!.form.expires_at).toBe(String(NOW_S + 1860));
  });

  test('changeSubscriptionPlan: reads the subscription item, updates it with proration, payment behaviour and anchor, then reads the payment', async () => {
    const k = key('plan-change');
    const result = await provider({ apiVersion: STRIPE_MOCK_API_VERSION }).changeSubscriptionPlan({
      idempotencyKey: k,
      providerSubscriptionId: 'sub_123',
      priceId: 'price_annual',
      prorationBehavior: 'always_invoice',
      paymentBehavior: 'pending_if_incomplete',
      billingCycleAnchor: 'now',
    });
    const [get, update, ...rest] = proxy.requests;
    expect([get!.method, get!.path]).toEqual(['GET', '/v1/subscriptions/sub_123']);
    expect(header(get!, 'idempotency-key')).toBeUndefined();
    expect([update!.method, update!.path]).toEqual(['POST', '/v1/subscriptions/sub_123']);
    expect(header(update!, 'idempotency-key')).toBe(stripeIdempotencyKey(k));
    expect(update!.form).toEqual({
      'items[0][id]': expect.stringMatching(/^si_/),
      'items[0][price]': 'price_annual',
      proration_behavior: 'always_invoice',
      payment_behavior: 'pending_if_incomplete',
      billing_cycle_anchor: 'now',
      'expand[0]': 'latest_invoice.payments',
    });
    // stripe-mock generates a draft invoice whose payment names no payment intent: pending
    expect(rest).toHaveLength(0);
    // (stripe-mock's subscription carries fixture periods that need not be ordered: a period only when it is one)
    expect(result).toMatchObject({ outcome: 'pending', providerInvoiceId: expect.stringMatching(/^in_/), declineCode: null, message: null });
  });

  test('changeSubscriptionPlan: an unpaid invoice sends it to the payment intent, whose failed payment is the decline', async () => {
    // stripe-mock cannot produce an invoice payment that names its intent: this one update answer is canned
    proxy.inject((r) => r.method === 'POST', {
      status: 200,
      body: {
        id: 'sub_123',
        object: 'subscription',
        latest_invoice: { id: 'in_open', object: 'invoice', status: 'open', payments: { object: 'list', data: [{ id: 'inpay_1', is_default: true, payment: { type: 'payment_intent', payment_intent: 'pi_abc' } }] } },
      },
    });
    const result = await provider({ apiVersion: STRIPE_MOCK_API_VERSION }).changeSubscriptionPlan({
      idempotencyKey: key('plan-change'),
      providerSubscriptionId: 'sub_123',
      priceId: 'price_annual',
      prorationBehavior: 'always_invoice',
      paymentBehavior: 'pending_if_incomplete',
      billingCycleAnchor: 'now',
    });
    expect(proxy.requests.map((r) => [r.method, r.path])).toEqual([
      ['GET', '/v1/subscriptions/sub_123'],
      ['POST', '/v1/subscriptions/sub_123'],
      ['GET', '/v1/payment_intents/pi_abc'],
    ]);
    // stripe-mock's payment intent fixture: requires_payment_method, with an error that has no code or message
    expect(result).toEqual({ outcome: 'declined', providerInvoiceId: 'in_open', declineCode: null, message: expect.stringMatching(/payment/), period: null });
  });

  test('changeSubscriptionPlan with billingCycleAnchor unchanged', async () => {
    await provider({ apiVersion: STRIPE_MOCK_API_VERSION }).changeSubscriptionPlan({
      idempotencyKey: key('plan-change'),
      providerSubscriptionId: 'sub_123',
      priceId: 'price_gold',
      prorationBehavior: 'always_invoice',
      paymentBehavior: 'pending_if_incomplete',
      billingCycleAnchor: 'unchanged',
    });
    expect(proxy.requests[1]!.form.billing_cycle_anchor).toBe('unchanged');
  });

  test('changeSubscriptionPlan at the SDK API version sends billing_cycle_anchor as an object (stripe-mock v0.203.0 predates it)', async () => {
    // Tripwire: when stripe-mock's spec reaches 2026-09-30.endive this request validates, and the
    // apiVersion pin in the tests above can go.
    const err = await providerError(
      provider().changeSubscriptionPlan({
        idempotencyKey: key('plan-change'),
        providerSubscriptionId: 'sub_123',
        priceId: 'price_annual',
        prorationBehavior: 'always_invoice',
        paymentBehavior: 'pending_if_incomplete',
        billingCycleAnchor: 'now',
      }),
    );
    expect(proxy.requests[1]!.form['billing_cycle_anchor[type]']).toBe('now');
    expect(header(proxy.requests[1]!, 'stripe-version')).toBe(Stripe.API_VERSION);
    expect(err.kind).toBe('invalid');
    expect(err.message).toMatch(/billing_cycle_anchor.*not a string/);
  });

  test('changeSubscriptionPlan: a decline answered as a 402 card error is the declined outcome', async () => {
    proxy.inject((r) => r.method === 'POST', {
      status: 402,
      body: stripeError('card_error', 'Your card has insufficient funds.', { code: 'card_declined', decline_code: 'insufficient_funds' }),
    });
    const result = await provider({ apiVersion: STRIPE_MOCK_API_VERSION }).changeSubscriptionPlan({
      idempotencyKey: key('plan-change'),
      providerSubscriptionId: 'sub_123',
      priceId: 'price_annual',
      prorationBehavior: 'always_invoice',
      paymentBehavior: 'pending_if_incomplete',
      billingCycleAnchor: 'now',
    });
    expect(result).toEqual({ outcome: 'declined', providerInvoiceId: null, declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' });
    expect(proxy.requests).toHaveLength(2);
  });

  test('changeSubscriptionPlan: a paid proration invoice is captured without reading the payment', async () => {
    proxy.inject((r) => r.method === 'POST', {
      status: 200,
      body: {
        id: 'sub_123',
        object: 'subscription',
        // the period Stripe restarted at its time of the change (billing_cycle_anchor=now)
        items: { object: 'list', data: [{ id: 'si_1', object: 'subscription_item', current_period_start: 1_796_083_200, current_period_end: 1_827_619_200 }] },
        latest_invoice: { id: 'in_paid', object: 'invoice', status: 'paid', payments: { object: 'list', data: [] } },
      },
    });
    const result = await provider({ apiVersion: STRIPE_MOCK_API_VERSION }).changeSubscriptionPlan({
      idempotencyKey: key('plan-change'),
      providerSubscriptionId: 'sub_123',
      priceId: 'price_annual',
      prorationBehavior: 'always_invoice',
      paymentBehavior: 'pending_if_incomplete',
      billingCycleAnchor: 'now',
    });
    expect(result).toEqual({ outcome: 'captured', providerInvoiceId: 'in_paid', declineCode: null, message: null, period: { start: '2026-12-01T00:00:00.000Z', end: '2027-12-01T00:00:00.000Z' } });
    expect(proxy.requests.map((r) => r.method)).toEqual(['GET', 'POST']);
  });

  test('cancelSubscription: at period end updates cancel_at_period_end, now cancels', async () => {
    const p = provider();
    const k1 = key('cancel-end');
    await p.cancelSubscription({ idempotencyKey: k1, providerSubscriptionId: 'sub_123', atPeriodEnd: true });
    const k2 = key('cancel-now');
    await p.cancelSubscription({ idempotencyKey: k2, providerSubscriptionId: 'sub_123', atPeriodEnd: false });
    const [end, now] = proxy.requests;
    expect([end!.method, end!.path, end!.form, header(end!, 'idempotency-key')]).toEqual(['POST', '/v1/subscriptions/sub_123', { cancel_at_period_end: 'true' }, stripeIdempotencyKey(k1)]);
    expect([now!.method, now!.path, header(now!, 'idempotency-key')]).toEqual(['DELETE', '/v1/subscriptions/sub_123', stripeIdempotencyKey(k2)]);
  });

  test('voidInvoice', async () => {
    const k = key('void');
    await provider().voidInvoice({ idempotencyKey: k, providerInvoiceId: 'in_123' });
    const r = proxy.requests[0]!;
    expect([r.method, r.path, header(r, 'idempotency-key')]).toEqual(['POST', '/v1/invoices/in_123/void', stripeIdempotencyKey(k)]);
  });

  test('createProduct carries the tenant', async () => {
    const k = key('product');
    const { productId } = await provider().createProduct({ idempotencyKey: k, tenantId: 'ten_1', name: 'Gold coaching' });
    expect(productId).toMatch(/^prod_/);
    expect(proxy.requests[0]!.form).toEqual({ name: 'Gold coaching', 'metadata[tenant_id]': 'ten_1' });
    expect(header(proxy.requests[0]!, 'idempotency-key')).toBe(stripeIdempotencyKey(k));
  });

  test('createPrice: recurring, integer unit_amount, lower-case currency', async () => {
    const p = provider();
    const { priceId } = await p.createPrice({ idempotencyKey: key('price'), productId: 'prod_1', amount: { amount: 1999, currency: 'EUR' }, interval: 'month' });
    expect(priceId).toMatch(/^price_/);
    await p.createPrice({ idempotencyKey: key('price'), productId: 'prod_1', amount: { amount: 5000, currency: 'JPY' }, interval: 'year' });
    await p.createPrice({ idempotencyKey: key('price'), productId: 'prod_1', amount: { amount: 5000, currency: 'ISK' }, interval: 'month' });
    expect(proxy.requests.map((r) => r.form)).toEqual([
      { product: 'prod_1', currency: 'eur', unit_amount: '1999', 'recurring[interval]': 'month' },
      { product: 'prod_1', currency: 'jpy', unit_amount: '5000', 'recurring[interval]': 'year' },
      // ISK: ISO 4217 has no minor unit, Stripe counts it with two decimals
      { product: 'prod_1', currency: 'isk', unit_amount: '500000', 'recurring[interval]': 'month' },
    ]);
  });

  test('createPrice carries tenant_id and plan_id metadata, so a subscription object names the plan of its price', async () => {
    await provider().createPrice({ idempotencyKey: key('price'), productId: 'prod_1', amount: { amount: 1999, currency: 'EUR' }, interval: 'month', metadata: { tenant_id: 'ten_1', plan_id: 'pro' } });
    expect(proxy.requests[0]!.form).toMatchObject({ 'metadata[tenant_id]': 'ten_1', 'metadata[plan_id]': 'pro' });
  });

  test('expireCheckoutSession: POST /v1/checkout/sessions/{id}/expire with the idempotency key', async () => {
    const k = key('expire');
    await provider().expireCheckoutSession({ idempotencyKey: k, sessionId: 'cs_test_123' });
    const r = proxy.requests[0]!;
    expect([r.method, r.path, header(r, 'idempotency-key')]).toEqual(['POST', '/v1/checkout/sessions/cs_test_123/expire', stripeIdempotencyKey(k)]);
  });

  test('archivePrice sets active=false (prices are immutable: archive and create)', async () => {
    const k = key('archive');
    await provider().archivePrice({ idempotencyKey: k, priceId: 'price_old' });
    const r = proxy.requests[0]!;
    expect([r.method, r.path, r.form, header(r, 'idempotency-key')]).toEqual(['POST', '/v1/prices/price_old', { active: 'false' }, stripeIdempotencyKey(k)]);
  });

  test('refund: by payment intent on the platform, by charge for legacy payments, on the connected account when accountId is set', async () => {
    const p = provider();
    const base = { provider: 'stripe' as const, providerChargeId: 'ch_1', amount: { amount: 2500, currency: 'USD' } };
    const r1 = await p.refund({ ...base, idempotencyKey: key('refund'), providerPaymentId: 'pi_1', accountId: null });
    expect(r1.providerRefundId).toMatch(/^re_/);
    await p.refund({ ...base, idempotencyKey: key('refund'), providerPaymentId: 'ch_legacy', providerChargeId: null, accountId: null });
    await p.refund({ ...base, idempotencyKey: key('refund'), providerPaymentId: 'pi_2', accountId: 'acct_coach1' });
    expect(proxy.requests.map((r) => [r.path, r.form, header(r, 'stripe-account')])).toEqual([
      ['/v1/refunds', { payment_intent: 'pi_1', amount: '2500' }, undefined],
      ['/v1/refunds', { charge: 'ch_legacy', amount: '2500' }, undefined],
      ['/v1/refunds', { payment_intent: 'pi_2', amount: '2500' }, 'acct_coach1'],
    ]);
  });

  test('refund refuses, before any request, what Stripe must not see', async () => {
    const p = provider();
    const base = { idempotencyKey: key('refund'), provider: 'stripe' as const, providerPaymentId: 'pi_1', providerChargeId: null, amount: { amount: 100, currency: 'USD' }, accountId: null };
    expect((await providerError(p.refund({ ...base, provider: 'paypal' }))).code).toBe('wrong_provider');
    // an empty account id would otherwise send the refund to the platform account
    expect((await providerError(p.refund({ ...base, accountId: '' }))).code).toBe('account_id_invalid');
    expect((await providerError(p.refund({ ...base, accountId: 'coach-1' }))).code).toBe('account_id_invalid');
    expect((await providerError(p.refund({ ...base, amount: { amount: 1.5, currency: 'USD' } }))).code).toBe('amount_invalid');
    expect((await providerError(p.refund({ ...base, providerPaymentId: 'PAYID-1' }))).code).toBe('refund_target_invalid');
    expect(proxy.requests).toHaveLength(0);
  });
});

// ---- Stripe Connect --------------------------------------------------------------------------

describe('Connect: invoice payment on the tenant connected account', () => {
  const base = { accountId: 'acct_coach1', tenantId: 'ten_1', invoiceId: 'inv_42', customerId: 'cust_7', currency: 'EUR' };

  test('a payment-mode Checkout Session on the connected account, fee and routing metadata on the session and the payment', async () => {
    const k = key('invoice-pay');
    const s = await provider().createInvoicePaymentSession({
      ...base,
      idempotencyKey: k,
      lineItems: [
        { name: 'Session pack', unitAmount: 4000, quantity: 2 },
        { name: 'Workbook', unitAmount: 1500, quantity: 1 },
      ],
      applicationFeeAmount: 475,
      metadata: { source: 'portal', invoice_id: 'spoofed' },
      ttlSeconds: 7200,
    });
    expect(s).toEqual({
      sessionId: expect.stringMatching(/^cs_/),
      url: expect.stringMatching(/^https:/),
      expiresAt: expect.any(Date),
      accountId: 'acct_coach1',
      amount: { amount: 9500, currency: 'EUR' },
      applicationFee: { amount: 475, currency: 'EUR' },
    });
    const r = proxy.requests[0]!;
    expect([r.method, r.path]).toEqual(['POST', '/v1/checkout/sessions']);
    expect(header(r, 'stripe-account')).toBe('acct_coach1');
    expect(header(r, 'idempotency-key')).toBe(stripeIdempotencyKey(k));
    expect(header(r, 'authorization')).toBe('Bearer sk_test_123'); // the platform key, never a per-tenant one
    expect(r.form).toEqual({
      mode: 'payment',
      'line_items[0][quantity]': '2',
      'line_items[0][price_data][currency]': 'eur',
      'line_items[0][price_data][unit_amount]': '4000',
      'line_items[0][price_data][product_data][name]': 'Session pack',
      'line_items[1][quantity]': '1',
      'line_items[1][price_data][currency]': 'eur',
      'line_items[1][price_data][unit_amount]': '1500',
      'line_items[1][price_data][product_data][name]': 'Workbook',
      client_reference_id: 'inv_42',
      'metadata[source]': 'portal',
      'metadata[invoice_id]': 'inv_42',
      'metadata[tenant_id]': 'ten_1',
      'metadata[customer_id]': 'cust_7',
      'payment_intent_data[metadata][source]': 'portal',
      'payment_intent_data[metadata][invoice_id]': 'inv_42',
      'payment_intent_data[metadata][tenant_id]': 'ten_1',
      'payment_intent_data[metadata][customer_id]': 'cust_7',
      'payment_intent_data[application_fee_amount]': '475',
      success_url: 'https://settle.example/checkout/success?session_id={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://settle.example/checkout/cancel',
      expires_at: String(NOW_S + 7200),
    });
  });

  test('a single amount, and the default fee from connectApplicationFeePercent rounded down', async () => {
    const s = await provider({ connectApplicationFeePercent: 2.5 }).createInvoicePaymentSession({ ...base, idempotencyKey: key('invoice-pay'), amount: 12345 });
    expect(s.applicationFee).toEqual({ amount: 308, currency: 'EUR' }); // 308.625 -> 308
    const f = proxy.requests[0]!.form;
    expect(f['line_items[0][price_data][product_data][name]']).toBe('Invoice inv_42');
    expect(f['line_items[0][price_data][unit_amount]']).toBe('12345');
    expect(f['payment_intent_data[application_fee_amount]']).toBe('308');
    // no fee configured and none asked for: no application_fee_amount at all
    await provider().createInvoicePaymentSession({ ...base, idempotencyKey: key('invoice-pay'), amount: 12345 });
    expect(proxy.requests[1]!.form['payment_intent_data[application_fee_amount]']).toBeUndefined();
  });

  test('refused before any request: no or a malformed account, a fee above the amount, lines and amount together', async () => {
    const p = provider();
    const k = key('invoice-pay');
    expect((await providerError(p.createInvoicePaymentSession({ ...base, idempotencyKey: k, accountId: '', amount: 100 }))).code).toBe('account_id_invalid');
    expect((await providerError(p.createInvoicePaymentSession({ ...base, idempotencyKey: k, amount: 100, applicationFeeAmount: 101 }))).code).toBe('application_fee_invalid');
    expect((await providerError(p.createInvoicePaymentSession({ ...base, idempotencyKey: k, amount: 100, lineItems: [] }))).code).toBe('line_items_invalid');
    expect((await providerError(p.createInvoicePaymentSession({ ...base, idempotencyKey: k, amount: 0 }))).code).toBe('amount_invalid');
    expect((await providerError(p.createInvoicePaymentSession({ ...base, idempotencyKey: k, amount: 100, currency: 'XYZ' }))).code).toBe('currency_invalid');
    expect(proxy.requests).toHaveLength(0);
  });

  test('retrievals for reconciliation: on the platform, or on the connected account; GETs carry no idempotency key', async () => {
    const p = provider();
    expect((await p.retrieveSubscription('sub_1')).id).toBe('sub_1');
    expect((await p.retrieveInvoice('in_1', 'acct_coach1')).id).toBe('in_1');
    expect((await p.retrievePaymentIntent('pi_1', 'acct_coach1')).id).toBe('pi_1');
    expect((await p.retrievePaymentIntent('pi_2', null)).id).toBe('pi_2');
    expect(proxy.requests.map((r) => [r.method, r.path, header(r, 'stripe-account') ?? null, header(r, 'idempotency-key') ?? null])).toEqual([
      ['GET', '/v1/subscriptions/sub_1', null, null],
      ['GET', '/v1/invoices/in_1', 'acct_coach1', null],
      ['GET', '/v1/payment_intents/pi_1', 'acct_coach1', null],
      ['GET', '/v1/payment_intents/pi_2', null, null],
    ]);
  });
});

// ---- failures and retries ------------------------------------------------------------------------

describe('failures become ProviderError; only rate limits and connection errors are retried', () => {
  const price = (p: StripeBillingProvider, k = key('price')) => p.createPrice({ idempotencyKey: k, productId: 'prod_1', amount: { amount: 1000, currency: 'USD' }, interval: 'month' });
  const changePlan = (p: StripeBillingProvider, prorationBehavior: string) =>
    p.changeSubscriptionPlan({
      idempotencyKey: key('plan-change'),
      providerSubscriptionId: 'sub_123',
      priceId: 'price_1',
      prorationBehavior: prorationBehavior as 'always_invoice',
      paymentBehavior: 'pending_if_incomplete',
      billingCycleAnchor: 'now',
    });

  test('a parameter stripe-mock rejects is invalid, sent once', async () => {
    const err = await providerError(changePlan(provider({ apiVersion: STRIPE_MOCK_API_VERSION }), 'sometimes'));
    expect(err.kind).toBe('invalid');
    expect(err.message).toMatch(/proration_behavior/);
    expect(proxy.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  test('a key stripe-mock does not accept is auth, sent once', async () => {
    const err = await providerError(provider({ secretKey: 'sk_live_123' }).retrieveSubscription('sub_1'));
    expect(err.kind).toBe('auth');
    expect(proxy.requests).toHaveLength(1);
  });

  test('429 is retried with the same idempotency key until it passes', async () => {
    proxy.inject((r) => r.path === '/v1/prices', { status: 429, body: stripeError('invalid_request_error', 'Too many requests', { code: 'rate_limit' }) }, 2);
    const k = key('price');
    const { priceId } = await price(provider(), k);
    expect(priceId).toMatch(/^price_/);
    expect(proxy.requests.map((r) => header(r, 'idempotency-key'))).toEqual([k, k, k].map(stripeIdempotencyKey));
  });

  test('429 beyond maxNetworkRetries is retryable', async () => {
    proxy.inject(() => true, { status: 429, body: stripeError('invalid_request_error', 'Too many requests', { code: 'rate_limit' }) }, 10);
    const err = await providerError(price(provider({ maxNetworkRetries: 1 })));
    expect([err.kind, err.code]).toEqual(['retryable', 'rate_limit']);
    expect(proxy.requests).toHaveLength(2);
  });

  test('a dropped connection is retried with the same idempotency key', async () => {
    proxy.inject(() => true, 'drop', 2);
    const k = key('price');
    await price(provider(), k);
    expect(proxy.requests.map((r) => header(r, 'idempotency-key'))).toEqual([k, k, k].map(stripeIdempotencyKey));
  });

  test('connection errors beyond the retries are retryable', async () => {
    const err = await providerError(price(provider({ apiBase: 'http://127.0.0.1:1', maxNetworkRetries: 1 })));
    expect([err.kind, err.code]).toEqual(['retryable', 'connection_error']);
  });

  test.each([
    [500, 'api_error', 'retryable', {}],
    [503, 'api_error', 'retryable', { 'stripe-should-retry': 'true' }],
    [409, 'idempotency_error', 'retryable', {}],
    [402, 'card_error', 'declined', {}],
    [401, 'invalid_request_error', 'auth', {}],
    [403, 'invalid_request_error', 'auth', {}],
    [404, 'invalid_request_error', 'invalid', {}],
    [400, 'idempotency_error', 'invalid', {}],
    [429, 'invalid_request_error', 'retryable', { 'stripe-should-retry': 'false' }],
  ])('HTTP %i (%s) is %s and is not retried', async (status, type, kind, headers) => {
    proxy.inject(() => true, { status, body: stripeError(type, `injected ${status}`), headers }, 10);
    const err = await providerError(price(provider()));
    expect(err.kind).toBe(kind);
    expect(err).toBeInstanceOf(ProviderError);
    expect(proxy.requests).toHaveLength(1);
  });

  test('every idempotency key, an overlong one too, is sent as its fixed-length digest, within Stripe 255 characters', async () => {
    const long = key(`x${'y'.repeat(300)}`);
    await price(provider(), long);
    const sent = header(proxy.requests[0]!, 'idempotency-key')!;
    expect(sent).toBe(stripeIdempotencyKey(long));
    expect(sent).toMatch(/^settle1_[0-9a-f]{64}$/);
  });
});

// ---- pure mappings -----------------------------------------------------------------------------

describe('toProviderError on the SDK own error classes', () => {
  const E = Stripe.errors;
  test.each<[string, Stripe.errors.StripeError, [string, string, string | null]]>([
    ['card declined', new E.StripeCardError({ message: 'Your card has insufficient funds.', type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', statusCode: 402 }), ['declined', 'card_declined', 'insufficient_funds']],
    ['expired card', new E.StripeCardError({ message: 'Your card has expired.', type: 'card_error', code: 'expired_card', statusCode: 402 }), ['declined', 'expired_card', null]],
    ['card processing error stays declined (a same-key retry replays it)', new E.StripeCardError({ message: 'processing', type: 'card_error', code: 'processing_error' }), ['declined', 'processing_error', null]],
    ['authentication required', new E.StripeCardError({ message: 'auth', type: 'card_error', code: 'authentication_required', decline_code: 'authentication_required' }), ['needs_action', 'authentication_required', 'authentication_required']],
    ['payment intent requires action', new E.StripeInvalidRequestError({ message: 'action', type: 'invalid_request_error', code: 'payment_intent_action_required' }), ['needs_action', 'payment_intent_action_required', null]],
    ['error carrying a requires_action intent', new E.StripeCardError({ message: '3ds', type: 'card_error', code: 'card_declined', payment_intent: { status: 'requires_action' } as never }), ['needs_action', 'card_declined', null]],
    ['rate limit', new E.StripeRateLimitError({ message: 'slow down', type: 'invalid_request_error', code: 'rate_limit', statusCode: 429 }), ['retryable', 'rate_limit', null]],
    ['connection', new E.StripeConnectionError({ message: 'An error occurred with our connection to Stripe.' }), ['retryable', 'connection_error', null]],
    ['api 500', new E.StripeAPIError({ message: 'boom', type: 'api_error', statusCode: 500 }), ['retryable', 'http_500', null]],
    ['authentication', new E.StripeAuthenticationError({ message: 'Invalid API Key provided', type: 'invalid_request_error', statusCode: 401 }), ['auth', 'authentication_failed', null]],
    ['permission', new E.StripePermissionError({ message: 'no', type: 'invalid_request_error', statusCode: 403 }), ['auth', 'permission_denied', null]],
    ['invalid request', new E.StripeInvalidRequestError({ message: 'No such price', type: 'invalid_request_error', code: 'resource_missing', statusCode: 404 }), ['invalid', 'resource_missing', null]],
    ['idempotency misuse', new E.StripeIdempotencyError({ message: 'Keys for idempotent requests can only be used with the same parameters', type: 'idempotency_error', statusCode: 400 }), ['invalid', 'idempotency_error', null]],
  ])('%s', (_name, err, [kind, code, declineCode]) => {
    const e = toProviderError(err);
    expect(e).toBeInstanceOf(ProviderError);
    expect([e.kind, e.code, e.declineCode]).toEqual([kind, code, declineCode]);
    expect(e.message).toBe(err.message);
  });

  test('a ProviderError passes through; an error that is not Stripe is not disguised', () => {
    const pe = new ProviderError('invalid', 'x');
    expect(toProviderError(pe)).toBe(pe);
    const bug = new TypeError('undefined is not a function');
    expect(() => toProviderError(bug)).toThrow(bug);
  });
});

describe('plan change outcome from the invoice and its payment intent', () => {
  const invoice = (status: string) => ({ id: 'in_1', status }) as never;
  const pi = (status: string, last_payment_error: unknown = null) => ({ status, last_payment_error }) as never;
  test.each([
    ['invoice paid', invoice('paid'), null, { outcome: 'captured', providerInvoiceId: 'in_1', declineCode: null, message: null }],
    ['intent succeeded', invoice('open'), pi('succeeded'), { outcome: 'captured', providerInvoiceId: 'in_1', declineCode: null, message: null }],
    [
      'intent needs a new payment method after a decline',
      invoice('open'),
      pi('requires_payment_method', { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' }),
      { outcome: 'declined', providerInvoiceId: 'in_1', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
    ],
    ['decline without a decline code keeps the error code', invoice('open'), pi('requires_payment_method', { code: 'expired_card', message: 'Your card has expired.' }), { outcome: 'declined', providerInvoiceId: 'in_1', declineCode: 'expired_card', message: 'Your card has expired.' }],
    ['intent requires action (3-D Secure)', invoice('open'), pi('requires_action'), { outcome: 'pending', providerInvoiceId: 'in_1', declineCode: null, message: null }],
    ['intent processing', invoice('open'), pi('processing'), { outcome: 'pending', providerInvoiceId: 'in_1', declineCode: null, message: null }],
    ['no invoice', null, null, { outcome: 'pending', providerInvoiceId: null, declineCode: null, message: null }],
  ])('%s', (_name, inv, intent, expected) => {
    expect(planChangeOutcome(inv, intent)).toEqual(expected);
  });
});

describe('helpers', () => {
  test('apiBase becomes host, port and protocol', () => {
    expect(apiBaseOptions('http://127.0.0.1:12111')).toEqual({ host: '127.0.0.1', port: 12111, protocol: 'http' });
    expect(apiBaseOptions('https://api.stripe.com')).toEqual({ host: 'api.stripe.com', port: 443, protocol: 'https' });
    expect(apiBaseOptions('http://[::1]:8080/')).toEqual({ host: '::1', port: 8080, protocol: 'http' });
    expect(apiBaseOptions(undefined)).toEqual({});
    expect(() => apiBaseOptions('http://h/v1')).toThrow(RangeError);
    expect(() => apiBaseOptions('ftp://h')).toThrow(RangeError);
  });

  test('Stripe minor units: same as ISO 4217 except ISK and MGA; refused when not exact or not charged by Stripe', () => {
    expect(toStripeAmount(1999, 'USD')).toBe(1999);
    expect(toStripeAmount(500, 'JPY')).toBe(500);
    expect(toStripeAmount(1230, 'KWD')).toBe(1230);
    expect(toStripeAmount(500, 'ISK')).toBe(50000);
    expect(toStripeAmount(1500, 'MGA')).toBe(15);
    expect(() => toStripeAmount(1550, 'MGA')).toThrow(ProviderError);
    expect(() => toStripeAmount(1000, 'IQD')).toThrow(/does not charge/);
    expect(() => toStripeAmount(-1, 'USD')).toThrow(ProviderError);
    expect(() => toStripeAmount(0.5, 'USD')).toThrow(ProviderError);
  });

  test('fees in integer arithmetic, rounded down', () => {
    expect(percentToBasisPoints(2.5)).toBe(250);
    expect(percentToBasisPoints(0.07)).toBe(7);
    expect(() => percentToBasisPoints(2.555)).toThrow(RangeError);
    expect(() => percentToBasisPoints(101)).toThrow(RangeError);
    expect(feeFromBasisPoints(12345, 250)).toBe(308);
    expect(feeFromBasisPoints(10 ** 15, 10_000)).toBe(10 ** 15);
  });

  test('billing_cycle_anchor encoding follows the API version', () => {
    expect(billingCycleAnchorParam('now', '2026-08-26.dahlia')).toBe('now');
    expect(billingCycleAnchorParam('unchanged', '2026-09-30.endive')).toEqual({ type: 'unchanged' });
    expect(billingCycleAnchorParam('now', Stripe.API_VERSION)).toEqual({ type: 'now' });
  });
});
