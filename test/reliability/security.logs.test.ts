/**
 * No secrets or personal data in the logs. The in-process service (debug level: the most it
 * ever logs) with its pino lines captured takes a load of API calls and webhooks full of
 * secrets: admin and tenant keys in Authorization headers, keys returned at creation, wrong keys,
 * Stripe webhook signatures (good and forged), email addresses, card-like numbers in
 * descriptions, names and metadata, failing requests (401/404/422/400). Then every captured line
 * is searched for each secret.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../support/api';
import { dropSchema } from '../support/databases';
import type { TestService } from '../support/service';
import { deliver, sign, stripeEvent } from '../support/stripeEvents';
import { bookingBody, CONNECT_SECRET, invoiceBody, linkConnectedAccount, payInvoiceOnConnect, PLATFORM_SECRET, securityService, tenantWithKey } from './security.support';

const CARD = '4242424242424242';
const CARD_SPACED = '4000 0566 5566 5556';
// 16 digits, optionally grouped by spaces or dashes, not part of a longer token (a UUID's last group is hex-adjacent)
const SIXTEEN_DIGITS = /(?<![\w-])(?:\d[ -]?){15}\d(?![\w-])/;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/;

describe('security: nothing secret or personal reaches the logs', () => {
  let svc: TestService;
  const schema = `sec_l_${randomBytes(5).toString('hex')}`;
  const secrets: string[] = [ADMIN_KEY, PLATFORM_SECRET, CONNECT_SECRET, 'sk_test_123', CARD, CARD_SPACED];
  const emails: string[] = [];

  beforeAll(async () => {
    svc = await securityService(schema, 'trace', { PAYER_LINK_SECRET: 'payer-link-secret-of-the-logs-test-0123456789' });
    const admin = client(svc.url, ADMIN_KEY);
    const t = await tenantWithKey(svc.url, 'logs-t');
    secrets.push(t.apiKey);
    // a second key with an Idempotency-Key, then replayed (the key travels in two responses)
    const idem = { 'idempotency-key': 'log-key-1' };
    const k2 = await admin.post<{ apiKey: string }>('/v1/tenants/logs-t/api-keys', { label: `card ${CARD}` }, idem);
    secrets.push(k2.body.apiKey);
    await admin.post('/v1/tenants/logs-t/api-keys', { label: `card ${CARD}` }, idem);
    await linkConnectedAccount(svc, 'logs-t', 'acct_1LogsTenant');
    const api = t.api;

    for (let i = 0; i < 5; i++) {
      const email = `person.${i}+tag@customer-${i}.example.com`;
      emails.push(email);
      await api.post('/v1/departures', { departureId: `DEP-${i}`, name: `Trip paid with ${CARD}`, paymentScheduleId: null, capacity: 5 });
      await api.post('/v1/bookings', { ...bookingBody(`DEP-${i}`, email), guests: [{ firstName: `Card ${CARD_SPACED}`, lastName: email }] });
      const inv = await api.post<{ invoiceId: string }>('/v1/invoices', {
        ...invoiceBody(`cust-${i}`, email),
        lineItems: [{ description: `Card ${CARD} exp 12/34 cvc 123 for ${email}`, quantity: 1, unitAmount: 1000 + i }],
      });
      await api.post(`/v1/invoices/${inv.body.invoiceId}/payment-sessions`, { method: 'stripe_connect' });
      if (i < 2) {
        await payInvoiceOnConnect(svc, 'logs-t', 'acct_1LogsTenant', inv.body.invoiceId, 1000 + i);
        await api.post(`/v1/invoices/${inv.body.invoiceId}/refunds`, { amount: { amount: 100, currency: 'EUR' }, reason: `refund to ${email} card ${CARD}` });
      }
      // invalid requests echo what they got in problems: validation errors with the secret inside
      await api.post('/v1/invoices', { ...invoiceBody(`cust-${i}`, `not-an-email ${CARD}`), customer: { name: CARD, email: `${email}x@` } });
      await api.post('/v1/bookings', { ...bookingBody('NOPE', email), contact: { email, card: CARD } });
    }
    // wrong keys, key in the wrong header, key in the query string
    const wrongKey = `sk_settle_${randomBytes(24).toString('base64url')}`;
    secrets.push(wrongKey);
    await client(svc.url, wrongKey).get('/v1/invoices');
    await fetch(`${svc.url}/v1/invoices`, { headers: { authorization: `Basic ${Buffer.from(`u:${t.apiKey}`).toString('base64')}` } });
    await fetch(`${svc.url}/v1/invoices`, { headers: { 'x-api-key': t.apiKey, cookie: `session=${t.apiKey}` } });
    await client(svc.url, t.apiKey, { 'settle-tenant': 'someone-else' }).get('/v1/invoices/inv_missing');
    await client(svc.url, t.apiKey).post('/v1/invoices', '{"customerId": ', {});
    // webhooks: good signatures, forged signatures, tampered bodies, with personal data inside
    for (let i = 0; i < 3; i++) {
      const e = stripeEvent('payment_intent.payment_failed', (o, ev) => {
        ev.account = 'acct_1LogsTenant';
        o.metadata = { tenant_id: 'logs-t', invoice_id: `inv_missing_${i}`, card: CARD, email: emails[i] };
        o.receipt_email = emails[i];
        o.description = `card ${CARD} of ${emails[i]}`;
      });
      const payload = JSON.stringify(e);
      const good = sign(payload, CONNECT_SECRET);
      secrets.push(good.split(',').find((p) => p.startsWith('v1='))!.slice(3));
      await deliver(`${svc.url}/webhooks/stripe/connect`, e, CONNECT_SECRET, { signature: good });
      const forged = sign(payload, 'whsec_attacker_secret_value');
      secrets.push(forged.split(',').find((p) => p.startsWith('v1='))!.slice(3));
      await deliver(`${svc.url}/webhooks/stripe/connect`, e, CONNECT_SECRET, { signature: forged });
      await deliver(`${svc.url}/webhooks/stripe`, payload.replace('payment_failed', 'succeeded'), PLATFORM_SECRET, { signature: sign(payload, PLATFORM_SECRET) });
    }
    // payer routes: a signed payer link (page, live stream, a tampered copy) and a PayPal return
    // carry credentials in the query string
    const linked = await api.post<{ invoiceId: string }>('/v1/invoices', invoiceBody('cust-link', 'payer@example.com'));
    for (let i = 0; i < 100 && (await api.get(`/v1/invoices/${linked.body.invoiceId}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
    const link = new URL((await api.post<{ url: string }>(`/v1/invoices/${linked.body.invoiceId}/payer-link`, {})).body.url);
    const sig = link.searchParams.get('sig')!;
    secrets.push(sig, `sig=${sig.slice(0, 10)}`, `expires=${link.searchParams.get('expires')}`);
    expect((await fetch(`${svc.url}${link.pathname}${link.search}`)).status).toBe(200);
    const live = new AbortController();
    const stream = await fetch(`${svc.url}${link.pathname}/live${link.search}`, { signal: live.signal });
    expect(stream.status).toBe(200);
    live.abort();
    expect((await fetch(`${svc.url}${link.pathname}${link.search.replace(sig.slice(0, 4), 'AAAA')}`)).status).toBe(403);
    secrets.push('ORDERTOKENLOGS42', 'PAYERIDLOGS7');
    await fetch(`${svc.url}/pay/paypal/return?token=ORDERTOKENLOGS42&PayerID=PAYERIDLOGS7`);
    // let the asynchronous parts (projections, relays) log what they log
    await new Promise((r) => setTimeout(r, 1500));
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  const lines = () => svc.logs.map((l) => JSON.stringify(l));

  test('the load produced a substantial log (the search below searched something)', () => {
    expect(svc.logs.length).toBeGreaterThan(40);
    expect(lines().some((l) => l.includes('"url":"/v1/invoices"') || l.includes('/v1/invoices'))).toBe(true);
  });

  // reported separately below: a key sent in a header Settle does not use
  const withoutXApiKey = () => lines().map((l) => l.replace(/"x-api-key":"[^"]*"/g, '"x-api-key":"<checked separately>"'));

  test('no API key, admin key, webhook secret, webhook signature or Stripe key in any line', () => {
    const found: string[] = [];
    for (const line of withoutXApiKey()) for (const s of secrets) if (line.includes(s)) found.push(`${s.slice(0, 12)}… in ${line.slice(0, 300)}`);
    expect(found).toEqual([]);
    // and nothing that looks like a Settle key at all
    expect(withoutXApiKey().filter((l) => /sk_settle_[A-Za-z0-9_-]{20,}/.test(l)).map((l) => l.slice(0, 300))).toEqual([]);
  });

  test('payer routes are logged without their query string (payer-link sig and expiry, PayPal token and PayerID)', () => {
    const pay = svc.logs.filter((l) => typeof (l.req as { url?: string } | undefined)?.url === 'string' && (l.req as { url: string }).url.startsWith('/pay/'));
    expect(pay.length).toBeGreaterThanOrEqual(4);
    for (const l of pay) expect((l.req as { url: string }).url).toMatch(/^\/pay\/[^?]*(\?\[redacted\])?$/);
    expect(lines().filter((l) => /sig=|PayerID=|token=ORDER/.test(l)).map((l) => l.slice(0, 300))).toEqual([]);
  });

  test('a key a client sends in a header Settle does not read (X-Api-Key) is not logged either', () => {
    expect(lines().filter((l) => /"x-api-key":"(?!\[redacted\])/.test(l)).map((l) => /"x-api-key":"[^"]{0,14}/.exec(l)![0])).toEqual([]);
  });

  test('no email address in any line', () => {
    expect(lines().filter((l) => EMAIL.test(l)).map((l) => `${EMAIL.exec(l)![0]} in ${l.slice(0, 300)}`)).toEqual([]);
  });

  test('no 16-digit card number in any line', () => {
    expect(lines().filter((l) => SIXTEEN_DIGITS.test(l)).map((l) => `${SIXTEEN_DIGITS.exec(l)![0]} in ${l.slice(0, 300)}`)).toEqual([]);
  });
});
