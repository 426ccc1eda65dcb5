/**
 * Security issue #17, items 12 and 16: what the payer (no API key, a signed link) sees.
 *  - 12: the payer page and its live stream say a fraud, block-list or lost/stolen decline
 *    generically (and never the provider's own message); staff in the console keep the detail.
 *  - 16: the success URL Settle gives Stripe Checkout (recorded on the wire, in front of
 *    stripe-mock) resolves to a 200 page: the signed payer page with the live status when payer
 *    links are on; without a payer link key, /pay/stripe/return, which shows no invoice data.
 * The service runs in-process on the real PostgreSQL (DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import { ConsoleClient, openSse } from '../support/console';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, type TestService } from '../support/service';
import { deliver, stripeEvent } from '../support/stripeEvents';
import { eventually } from '../support/events';
import { ADMIN_KEY, client } from '../support/api';
import { payerLinkPath } from '../../http/payerLinks';
import { failureSentence } from '../../http/console/declines';
import { CONNECT_SECRET, PLATFORM_SECRET, RecordingProxy, invoiceBody, linkConnectedAccount, stripeMockBase, tenantWithKey, type Recorded } from './security.support';

jest.setTimeout(120_000);

const PAYER_SECRET = 'payer-link-secret-for-the-security-suite-0123';
const ACCOUNT = 'acct_1PayerPageTenant';

/** Decline codes whose detail is for staff only (Stripe: "present these as a generic decline"). */
const FRAUD_CODES = ['fraudulent', 'stolen_card', 'lost_card', 'pickup_card', 'merchant_blacklist', 'restricted_card', 'security_violation', 'do_not_honor'];
const REVEALING = /stolen|lost|fraud|block list|blacklist|suspect|security reason|pick ?up|restricted/i;

describe('security: what the payer sees', () => {
  let svc: TestService;
  const proxy = new RecordingProxy(new URL(stripeMockBase()));
  const schema = `sec_p_${randomBytes(5).toString('hex')}`;
  let api: Awaited<ReturnType<typeof tenantWithKey>>['api'];
  let apiKey: string;
  const env = (extra: Record<string, string | undefined> = {}) => ({
    DATABASE_URL: databaseUrl(),
    DATABASE_SCHEMA: schema,
    ADMIN_API_KEY: ADMIN_KEY,
    KAFKA_BROKERS: undefined,
    STRIPE_SECRET_KEY: 'sk_test_123',
    STRIPE_API_BASE: proxy.url,
    STRIPE_WEBHOOK_SECRET: PLATFORM_SECRET,
    STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET,
    PAYER_LINK_SECRET: PAYER_SECRET,
    PUBLIC_BASE_URL: 'https://pay.settle.example',
    RATE_LIMIT_PUBLIC_BURST: '1000',
    LOG_LEVEL: 'warn',
    ...extra,
  });

  beforeAll(async () => {
    await proxy.start();
    svc = await startTestService(env());
    ({ api, apiKey } = await tenantWithKey(svc.url, 'payer'));
    await linkConnectedAccount(svc, 'payer', ACCOUNT);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await proxy.stop();
    await dropSchema(schema);
  });

  /** A new invoice, once the read model the payer page reads has it. */
  async function newInvoice(a: typeof api, customer: string, amount: number): Promise<string> {
    const r = await a.post<{ invoiceId: string }>('/v1/invoices', invoiceBody(customer, `${customer}@example.com`, amount));
    expect(r.status).toBe(201);
    await eventually(async () => (await a.get(`/v1/invoices/${r.body.invoiceId}`)).status === 200);
    return r.body.invoiceId;
  }

  const link = (invoiceId: string) => payerLinkPath(PAYER_SECRET, { tenantId: 'payer', invoiceId, expires: Math.floor(Date.now() / 1000) + 600 });

  async function invoiceDeclinedWith(declineCode: string, message: string): Promise<string> {
    const r = await api.post<{ invoiceId: string }>('/v1/invoices', invoiceBody(`c-${declineCode}`, `${declineCode}@example.com`, 5000));
    expect(r.status).toBe(201);
    const invoiceId = r.body.invoiceId;
    const e = stripeEvent('payment_intent.payment_failed', (o, ev) => {
      ev.account = ACCOUNT;
      o.id = `pi_${declineCode}_${invoiceId.slice(-8)}`;
      o.metadata = { tenant_id: 'payer', invoice_id: invoiceId };
      o.amount = 5000;
      o.amount_received = 0;
      o.currency = 'eur';
      o.latest_charge = `ch_${declineCode}_${invoiceId.slice(-8)}`;
      o.last_payment_error.charge = o.latest_charge;
      o.last_payment_error.decline_code = declineCode;
      o.last_payment_error.message = message;
    });
    expect((await deliver(`${svc.url}/webhooks/stripe/connect`, e, CONNECT_SECRET)).status).toBe(200);
    await eventually(async () => (await api.get<{ data: unknown[] }>(`/v1/payments?payable_id=${invoiceId}`)).body.data.length === 1);
    return invoiceId;
  }

  describe('item 12: decline reasons', () => {
    test.each(FRAUD_CODES)('%s: the payer page and its stream say a generic decline; the console keeps the detail', async (code) => {
      const invoiceId = await invoiceDeclinedWith(code, `Issuer says: card ${code.replace(/_/g, ' ')} (reported stolen / suspected fraud)`);
      const path = link(invoiceId);
      const page = await fetch(`${svc.url}${path}`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('The payment was declined. You can try another card or payment method, or contact your bank.');
      expect(html).not.toMatch(REVEALING);
      expect(html).not.toContain(code);

      const [p, q] = path.split('?');
      const sse = await openSse(`${svc.url}${p}/live?${q}`);
      let e = await sse.next();
      while (e.event !== 'status') e = await sse.next();
      sse.close();
      expect(e.data).toContain('The payment was declined.');
      expect(e.data).not.toMatch(REVEALING);
      expect(e.data).not.toContain(code);

      // staff keep the detail
      const c = new ConsoleClient(svc.url);
      await c.signIn(apiKey);
      const staff = await c.get(`/admin/invoices/${invoiceId}`);
      expect(staff.status).toBe(200);
      expect(staff.text).toContain(failureSentence('card_declined', code, null)!);
    });

    test('a decline the payer can act on is said as such (insufficient funds), never with the provider message', async () => {
      const invoiceId = await invoiceDeclinedWith('insufficient_funds', 'Provider text that must not reach the payer');
      const html = await (await fetch(`${svc.url}${link(invoiceId)}`)).text();
      expect(html).toContain('The card has insufficient funds. You can try another card.');
      expect(html).not.toContain('Provider text that must not reach the payer');
    });
  });

  describe('item 16: the Stripe success URL', () => {
    const successUrls = (from: number) =>
      proxy.requests
        .slice(from)
        .filter((r: Recorded) => r.method === 'POST' && r.path === '/v1/checkout/sessions')
        .map((r) => new URLSearchParams(r.body).get('success_url')!);

    /** The success URL as Stripe will call it, asked of this service (its host is PUBLIC_BASE_URL). */
    const visit = (successUrl: string) => {
      const u = new URL(successUrl.replace('{CHECKOUT_SESSION_ID}', 'cs_test_a1B2c3D4e5F6'));
      expect(u.origin).toBe('https://pay.settle.example');
      return fetch(`${svc.url}${u.pathname}${u.search}`, { redirect: 'manual' });
    };

    test('from the payer page: the success URL is the signed payer page, 200 with the live status and a thank-you', async () => {
      const invoiceId = await newInvoice(api, 'c-return', 7000);
      const before = proxy.requests.length;
      const start = await fetch(`${svc.url}${link(invoiceId)}`, { method: 'POST', body: new URLSearchParams({ method: 'stripe_connect' }), redirect: 'manual' });
      expect(start.status).toBe(303);
      const [successUrl] = successUrls(before);
      expect(successUrl).toMatch(new RegExp(`^https://pay\\.settle\\.example/pay/invoices/payer/${invoiceId}\\?expires=\\d+&sig=[0-9a-f]{64}&session_id=\\{CHECKOUT_SESSION_ID\\}$`));
      const page = await visit(successUrl!);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('Your payment is being confirmed');
      expect(html).toContain('data-live="/pay/invoices/payer/');
      expect(html).toContain('€70.00');
    });

    test('from the API (POST /v1/invoices/{id}/payment-sessions): the same, a 200 page', async () => {
      const invoiceId = await newInvoice(api, 'c-return-api', 8000);
      const before = proxy.requests.length;
      expect((await api.post(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'stripe_connect' })).status).toBe(201);
      const [successUrl] = successUrls(before);
      expect((await visit(successUrl!)).status).toBe(200);
    });

    test('without a payer link key: /pay/stripe/return answers 200 and shows nothing of the invoice', async () => {
      await svc.shutdown('restart without PAYER_LINK_SECRET');
      svc = await startTestService(env({ PAYER_LINK_SECRET: undefined }));
      const again = client(svc.url, apiKey); // the new instance listens on another port
      const invoiceId = await newInvoice(again, 'c-nolink', 9100);
      const before = proxy.requests.length;
      expect((await again.post(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'stripe_connect' })).status).toBe(201);
      const [successUrl] = successUrls(before);
      expect(successUrl).toBe('https://pay.settle.example/pay/stripe/return?session_id={CHECKOUT_SESSION_ID}');
      const page = await visit(successUrl!);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('Your payment was submitted');
      expect(html).not.toContain(invoiceId);
      expect(html).not.toContain('91.00');
    });
  });
});
