/**
 * The admin console and the payer page over HTTP against a real PostgreSQL (DATABASE_URL): sign-in
 * and out, wrong and revoked keys, CSRF, tenant isolation, signed payer links, live status (SSE).
 * Payments arrive as signed Stripe webhooks built from the fixtures.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ADMIN_KEY, client } from '../../test/support/api';
import { ConsoleClient, openSse } from '../../test/support/console';
import { databaseUrl, dropSchema } from '../../test/support/databases';
import { eventually } from '../../test/support/events';
import { deliverApplied, startTestService, type TestService, scrape } from '../../test/support/service';
import { stripeEvent, type StripeEvent } from '../../test/support/stripeEvents';
import { payerLinkPath } from '../payerLinks';
import { CONSOLE_CSP } from './routes';

const SECRET = 'whsec_console_test_secret';
const CONNECT_SECRET = 'whsec_console_connect_secret';
const PAYER_SECRET = 'payer-link-secret-for-the-console-tests-0123';

describe('admin console and payer page (PostgreSQL)', () => {
  let svc: TestService;
  /** Delivered and applied (queue first: a 200 means stored; the applier applies it right after). */
  const deliver = (url: string, event: StripeEvent, secret: string) => deliverApplied(svc, url, event, secret);
  const schema = `con_${randomBytes(5).toString('hex')}`;
  const keys: Record<string, string> = {};
  const ids: Record<string, string> = {};

  function pi(file: string, tenant: string, target: Record<string, string>, amount: number, piId: string): StripeEvent {
    return stripeEvent(file, (o) => {
      o.id = piId;
      o.metadata = { tenant_id: tenant, ...target };
      o.amount = amount;
      o.amount_received = file === 'payment_intent.succeeded' ? amount : 0;
      o.latest_charge = `ch_${piId}`;
      if (o.last_payment_error) o.last_payment_error.charge = `ch_${piId}`;
    });
  }

  async function invoice(tenant: string, customer: string, amount: number): Promise<string> {
    const r = await client(svc.url, keys[tenant]).post<{ invoiceId: string }>('/v1/invoices', {
      customerId: customer,
      customer: { name: customer, email: `${customer}@example.com` },
      currency: 'USD',
      lineItems: [{ description: 'Coaching <b>session</b>', quantity: 1, unitAmount: amount }],
      dueDate: '2026-12-31',
      allowedPaymentMethods: ['stripe_connect'],
    });
    expect(r.status).toBe(201);
    return r.body.invoiceId;
  }

  beforeAll(async () => {
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_WEBHOOK_SECRET: SECRET,
      STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET,
      PAYER_LINK_SECRET: PAYER_SECRET,
      LIVE_HEARTBEAT_SECONDS: '1',
      LOG_LEVEL: 'warn',
    });
    const admin = client(svc.url, ADMIN_KEY);
    for (const t of ['alpha', 'beta']) {
      await admin.post('/v1/tenants', { tenantId: t, name: t === 'alpha' ? 'Alpha <script>alert(1)</script>' : 'Beta' });
      keys[t] = (await admin.post<{ apiKey: string }>(`/v1/tenants/${t}/api-keys`, {})).body.apiKey;
      await client(svc.url, keys[t]).post('/v1/departures', { departureId: 'DEP', name: 'Trip', paymentScheduleId: 'sched', capacity: 10 });
      const b = await client(svc.url, keys[t]).post<{ bookingId: string }>('/v1/bookings', {
        departureId: 'DEP',
        contact: { firstName: 'Ada', lastName: '<script>x</script>', email: 'ada@example.com', phone: '+1 555 0100' },
        guests: [{ firstName: 'Ada', lastName: 'L' }],
        price: { amount: 5000, currency: 'USD' },
      });
      ids[`${t}Booking`] = b.body.bookingId;
      ids[`${t}Invoice`] = await invoice(t, `${t}-customer`, 1999);
    }
    const failed = await deliver(`${svc.url}/webhooks/stripe`, pi('payment_intent.payment_failed', 'alpha', { invoice_id: ids.alphaInvoice! }, 1999, `pi_fail_${ids.alphaInvoice}`), SECRET);
    expect(failed.status).toBe(200);
    await deliver(`${svc.url}/webhooks/stripe`, pi('payment_intent.payment_failed', 'beta', { invoice_id: ids.betaInvoice! }, 1999, `pi_fail_${ids.betaInvoice}`), SECRET);
    await eventually(async () => (await client(svc.url, keys.alpha).get<{ data: unknown[] }>('/v1/payments')).body.data.length === 1);
    await eventually(async () => (await client(svc.url, keys.beta).get<{ data: unknown[] }>('/v1/payments')).body.data.length === 1);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  describe('sign-in and sessions', () => {
    test('a tenant key opens a session: HttpOnly, SameSite=Strict cookie; the payments page shows the decline in words', async () => {
      const c = new ConsoleClient(svc.url);
      const r = await c.signIn(keys.alpha!);
      expect(r.status).toBe(303);
      expect(r.location).toBe('/admin/payments');
      const set = r.headers.getSetCookie().find((s) => s.startsWith('settle_console='))!;
      expect(set).toMatch(/HttpOnly/);
      expect(set).toMatch(/SameSite=Strict/);
      expect(set).not.toMatch(/Secure/); // plain HTTP here; Secure behind TLS
      const page = await c.get('/admin/payments');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(page.text).toContain('The card has insufficient funds.');
      expect(page.text).not.toContain('>insufficient_funds<');
      expect(page.text).toContain('$19.99');
      expect(page.text).toContain('https://docs.stripe.com/declines/codes#insufficient_funds');
      expect(page.text).toContain(`https://dashboard.stripe.com/test/payments/pi_fail_${ids.alphaInvoice}`);
      expect(page.text).toContain('Failed</span>');
    });

    test('a wrong key is refused with 401 and opens no session', async () => {
      const c = new ConsoleClient(svc.url);
      const r = await c.signIn('sk_settle_not_a_real_key_000000000000');
      expect(r.status).toBe(401);
      expect(r.text).toContain('That key is unknown or revoked.');
      expect(c.cookies.has('settle_console')).toBe(false);
      expect((await c.get('/admin/payments')).status).toBe(303);
    });

    test('sign-in without the form token (cross-site post) is 403 and opens no session', async () => {
      const c = new ConsoleClient(svc.url);
      const r = await c.post('/admin/sign-in', { key: keys.alpha! }, { accept: 'application/json' });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text)).toMatchObject({ type: 'https://settle.dev/problems/csrf-failed', status: 403 });
      expect(c.cookies.has('settle_console')).toBe(false);
    });

    test('sign-out ends the session on the server (the old cookie no longer works)', async () => {
      const c = new ConsoleClient(svc.url);
      await c.signIn(keys.alpha!);
      const old = c.cookieHeader();
      const out = await c.post('/admin/sign-out', { _csrf: await c.csrf() });
      expect(out.status).toBe(303);
      expect(out.location).toBe('/admin/sign-in');
      const replay = await fetch(`${svc.url}/admin/payments`, { headers: { cookie: old }, redirect: 'manual' });
      expect(replay.status).toBe(303);
      expect(replay.headers.get('location')).toMatch(/^\/admin\/sign-in/);
    });

    test('plain HTTP: the unprefixed cookies, scoped to their console path, cleared with the attributes they were set with', async () => {
      const c = new ConsoleClient(svc.url);
      const form = await c.get('/admin/sign-in');
      expect(form.headers.getSetCookie()).toEqual([expect.stringMatching(/^settle_console_signin=[^;]+; Path=\/admin\/sign-in; HttpOnly; SameSite=Strict; Max-Age=3600$/)]);
      const r = await c.post('/admin/sign-in', { _csrf: ConsoleClient.csrfOf(form.text), key: keys.alpha!, next: '/admin/payments' });
      const set = r.headers.getSetCookie();
      expect(set).toEqual([
        expect.stringMatching(/^settle_console=[^;]+; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=\d+$/),
        'settle_console_signin=; Path=/admin/sign-in; HttpOnly; SameSite=Strict; Max-Age=0',
      ]);
      const out = await c.post('/admin/sign-out', { _csrf: await c.csrf() });
      expect(out.headers.getSetCookie()).toEqual(['settle_console=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0']);
    });

    test('behind TLS (X-Forwarded-Proto from a trusted proxy): __Host- cookies, Secure, Path=/, no Domain; only the prefixed name is read; cleared alike', async () => {
      const tls = { 'x-forwarded-proto': 'https' };
      const c = new ConsoleClient(svc.url);
      const form = await c.get('/admin/sign-in', tls);
      expect(form.headers.getSetCookie()).toEqual([expect.stringMatching(/^__Host-settle_console_signin=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=3600$/)]);
      const r = await c.post('/admin/sign-in', { _csrf: ConsoleClient.csrfOf(form.text), key: keys.alpha!, next: '/admin/payments' }, tls);
      expect(r.status).toBe(303);
      const set = r.headers.getSetCookie();
      expect(set).toEqual([
        expect.stringMatching(/^__Host-settle_console=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=\d+$/),
        '__Host-settle_console_signin=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0',
      ]);
      expect(set.join('\n')).not.toMatch(/Domain=/i);
      expect((await c.get('/admin/payments', tls)).status).toBe(200);
      // the same token under the unprefixed name (plantable by a sibling host or a plain-http page) is not read over TLS
      const token = c.cookies.get('__Host-settle_console')!;
      const planted = await fetch(`${svc.url}/admin/payments`, { headers: { ...tls, cookie: `settle_console=${token}` }, redirect: 'manual' });
      expect(planted.status).toBe(303);
      expect(planted.headers.get('location')).toMatch(/^\/admin\/sign-in/);
      const out = await c.post('/admin/sign-out', { _csrf: ConsoleClient.csrfOf((await c.get('/admin/payments', tls)).text) }, tls);
      expect(out.status).toBe(303);
      expect(out.headers.getSetCookie()).toEqual(['__Host-settle_console=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0']);
      expect(c.cookies.has('__Host-settle_console')).toBe(false);
    });

    test('revoking the key ends its sessions', async () => {
      const admin = client(svc.url, ADMIN_KEY);
      const k = (await admin.post<{ apiKey: string; keyId: string }>('/v1/tenants/alpha/api-keys', { label: 'staff' })).body;
      const c = new ConsoleClient(svc.url);
      await c.signIn(k.apiKey);
      expect((await c.get('/admin/payments')).status).toBe(200);
      expect((await admin.del(`/v1/tenants/alpha/api-keys/${k.keyId}`)).status).toBeLessThan(300);
      const after = await c.get('/admin/payments');
      expect(after.status).toBe(303);
      expect(after.location).toMatch(/^\/admin\/sign-in/);
    });

    test('the admin key signs in, picks a tenant, and sees its names escaped', async () => {
      const c = new ConsoleClient(svc.url);
      const r = await c.signIn(ADMIN_KEY);
      expect(r.location).toBe('/admin/payments'); // the page it was sent from; without one, the overview
      const picker = await c.get('/admin/tenants');
      expect(picker.text).toContain('Alpha &lt;script&gt;alert(1)&lt;/script&gt;');
      expect(picker.text).not.toContain('<script>alert(1)');
      expect((await c.post('/admin/tenants', { _csrf: ConsoleClient.csrfOf(picker.text), tenantId: 'beta' })).status).toBe(303);
      const page = await c.get('/admin/payments');
      expect(page.text).toContain(`pi_fail_${ids.betaInvoice}`);
      expect(page.text).not.toContain(`pi_fail_${ids.alphaInvoice}`);
      expect((await c.get('/admin/system')).status).toBe(200);
    });

    test('tenant staff cannot open the system page (it shows every tenant)', async () => {
      const c = new ConsoleClient(svc.url);
      await c.signIn(keys.alpha!);
      expect((await c.get('/admin/system')).status).toBe(403);
    });
  });

  describe('CSRF and tenant isolation', () => {
    let c: ConsoleClient;
    beforeAll(async () => {
      c = new ConsoleClient(svc.url);
      await c.signIn(keys.alpha!);
    });

    test('a POST without the CSRF token, or with a wrong one, is a 403 problem and changes nothing', async () => {
      const missing = await c.post(`/admin/invoices/${ids.alphaInvoice}/payer-link`, {}, { accept: 'application/json' });
      expect(missing.status).toBe(403);
      expect(JSON.parse(missing.text)).toMatchObject({ type: 'https://settle.dev/problems/csrf-failed' });
      const wrong = await c.post(`/admin/bookings/${ids.alphaBooking}/crm-retry`, { _csrf: 'x'.repeat(43) }, { accept: 'application/json' });
      expect(wrong.status).toBe(403);
      const other = new ConsoleClient(svc.url);
      await other.signIn(keys.alpha!);
      // another session's token is not this session's
      expect((await c.post(`/admin/invoices/${ids.alphaInvoice}/payer-link`, { _csrf: await other.csrf() })).status).toBe(403);
      expect((await svc.runtime.eventStore.readStream(`booking-alpha.${ids.alphaBooking}`)).map((e) => e.type)).toEqual(['BookingRequested']);
    });

    test("tenant A's staff get 404 for tenant B's booking, invoice, payment and live streams, and cannot act on them", async () => {
      expect((await c.get(`/admin/bookings/${ids.betaBooking}`)).status).toBe(404);
      expect((await c.get(`/admin/invoices/${ids.betaInvoice}`)).status).toBe(404);
      const betaPayment = (await client(svc.url, keys.beta).get<{ data: Array<{ attemptId: string }> }>('/v1/payments')).body.data[0]!.attemptId;
      expect((await c.get(`/admin/payments/${betaPayment}`)).status).toBe(404);
      const csrf = await c.csrf();
      expect((await c.post(`/admin/bookings/${ids.betaBooking}/crm-retry`, { _csrf: csrf })).status).toBe(404);
      expect((await c.post(`/admin/invoices/${ids.betaInvoice}/payer-link`, { _csrf: csrf })).status).toBe(404);
      const sse = await openSse(`${svc.url}/admin/live/invoices/${ids.betaInvoice}`, { cookie: c.cookieHeader() });
      expect(sse.status).toBe(404);
      sse.close();
      const list = await c.get('/admin/payments');
      expect(list.text).not.toContain(ids.betaInvoice!);
      // and the ids are really there for their own tenant
      expect((await c.get(`/admin/bookings/${ids.alphaBooking}`)).status).toBe(200);
    });

    test('retrying a booking with nothing to retry is refused through the domain (no side path)', async () => {
      const r = await c.post(`/admin/bookings/${ids.alphaBooking}/crm-retry`, { _csrf: await c.csrf() }, { accept: 'application/json' });
      expect(r.status).toBe(409);
      expect(JSON.parse(r.text).message).toMatch(/no CRM stage of this booking has failed/);
    });

    test('a declined invoice payment offers a retry where it makes sense: a new payer link for the customer', async () => {
      const attempt = (await client(svc.url, keys.alpha).get<{ data: Array<{ attemptId: string }> }>('/v1/payments?status=failed')).body.data[0]!.attemptId;
      const page = await c.get(`/admin/payments/${attempt}`);
      expect(page.status).toBe(200);
      expect(page.text).toContain(`data-live="/admin/live/payments/${attempt}"`);
      expect(page.text).toContain('The card has insufficient funds.');
      expect(page.text).toContain('<code>insufficient_funds</code>');
      expect(page.text).toContain('Retry: send the customer a new payment link');
      const r = await c.post(`/admin/invoices/${ids.alphaInvoice}/payer-link`, { _csrf: ConsoleClient.csrfOf(page.text) });
      expect(r.status).toBe(201);
      expect(r.text).toMatch(new RegExp(`class="payer-link">http://localhost:3000/pay/invoices/alpha/${ids.alphaInvoice}\\?expires=\\d+&amp;sig=[0-9a-f]{64}<`));
      const sse = await openSse(`${svc.url}/admin/live/payments/${attempt}`, { cookie: c.cookieHeader() });
      let e = await sse.next();
      while (e.event !== 'status') e = await sse.next();
      expect(JSON.parse(e.data).state).toMatchObject({ attemptId: attempt, status: 'failed', declineCode: 'insufficient_funds' });
      sse.close();
    });

    test('bad filters are a 422, not a database error', async () => {
      expect((await c.get('/admin/payments?from=yesterday')).status).toBe(422);
      expect((await c.get('/admin/payments?status=lost')).status).toBe(422);
      expect((await c.get('/admin/payments?cursor=abc')).status).toBe(422);
    });

    test('filters: by status, provider, customer and date', async () => {
      expect((await c.get('/admin/payments?status=failed&provider=stripe&customer=alpha-customer')).text).toContain('The card has insufficient funds.');
      expect((await c.get('/admin/payments?status=succeeded')).text).toContain('No payment attempts match.');
      expect((await c.get('/admin/payments?customer=nobody')).text).toContain('No payment attempts match.');
      const today = new Date().toISOString().slice(0, 10);
      expect((await c.get(`/admin/payments?from=${today}&to=${today}`)).text).toContain('The card has insufficient funds.');
      expect((await c.get('/admin/payments?to=2020-01-01')).text).toContain('No payment attempts match.');
    });

    test('the invoice page shows the audit trail as a timeline with its causes', async () => {
      const page = await c.get(`/admin/invoices/${ids.alphaInvoice}`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('Invoice issued');
      expect(page.text).toContain('Payment attempt failed');
      expect(page.text).toMatch(/Caused by provider event <code>evt_/);
      expect(page.text).toContain('Coaching');
    });
  });

  describe('signed payer links', () => {
    let c: ConsoleClient;
    beforeAll(async () => {
      c = new ConsoleClient(svc.url);
      await c.signIn(keys.alpha!);
    });

    test('the console creates a link; it shows the invoice; a tampered or expired link is a 403 problem', async () => {
      const made = await c.post(`/admin/invoices/${ids.alphaInvoice}/payer-link`, { _csrf: await c.csrf() }, { accept: 'application/json' });
      expect(made.status).toBe(201);
      const url = new URL(JSON.parse(made.text).url as string);
      const path = `${url.pathname}${url.search}`;
      const ok = await fetch(`${svc.url}${path}`);
      expect(ok.status).toBe(200);
      const body = await ok.text();
      expect(body).toContain('Coaching &lt;b&gt;session&lt;/b&gt;');
      expect(body).toContain('$19.99');
      expect(body).toContain('The card has insufficient funds.');

      const tampered = path.replace(/sig=([0-9a-f])/, (_m, ch: string) => `sig=${ch === 'a' ? 'b' : 'a'}`);
      const t = await fetch(`${svc.url}${tampered}`);
      expect(t.status).toBe(403);
      expect(await t.json()).toMatchObject({ type: 'https://settle.dev/problems/payer-link-refused', reason: 'bad_signature' });
      const otherInvoice = await fetch(`${svc.url}${path.replace(ids.alphaInvoice!, ids.betaInvoice!)}`);
      expect(otherInvoice.status).toBe(403);

      const expired = payerLinkPath(PAYER_SECRET, { tenantId: 'alpha', invoiceId: ids.alphaInvoice!, expires: Math.floor(Date.now() / 1000) - 1 });
      const e = await fetch(`${svc.url}${expired}`);
      expect(e.status).toBe(403);
      expect(await e.json()).toMatchObject({ reason: 'expired' });
      expect((await fetch(`${svc.url}${path.replace(/sig=[0-9a-f]+/, '')}`)).status).toBe(403);
    });
  });

  test('the JSON API creates payer links too: tenant-scoped, open invoices only', async () => {
    const api = client(svc.url, keys.alpha);
    const r = await api.post<{ url: string; expiresAt: string }>(`/v1/invoices/${ids.alphaInvoice}/payer-link`, { ttlSeconds: 120 });
    expect(r.status).toBe(201);
    const u = new URL(r.body.url);
    expect(Date.parse(r.body.expiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
    expect((await fetch(`${svc.url}${u.pathname}${u.search}`)).status).toBe(200);
    expect((await api.post(`/v1/invoices/${ids.betaInvoice}/payer-link`, {})).status).toBe(404);
    expect((await api.post(`/v1/invoices/${ids.alphaInvoice}/payer-link`, { ttlSeconds: 1 })).status).toBe(422);
    const paid = await invoice('alpha', 'paid-customer', 700);
    await deliver(`${svc.url}/webhooks/stripe`, pi('payment_intent.succeeded', 'alpha', { invoice_id: paid }, 700, `pi_paid_${paid}`), SECRET);
    expect((await api.post(`/v1/invoices/${paid}/payer-link`, {})).body).toMatchObject({ status: 409, type: 'https://settle.dev/problems/invoice-not-open' });
  });

  test('the payer page starts a payment only with a known method, and only through a configured provider', async () => {
    const path = payerLinkPath(PAYER_SECRET, { tenantId: 'alpha', invoiceId: ids.alphaInvoice!, expires: Math.floor(Date.now() / 1000) + 600 });
    const post = (method: string, p = path) => fetch(`${svc.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `method=${method}`, redirect: 'manual' });
    expect((await post('bitcoin')).status).toBe(422);
    const none = await post('stripe_connect');
    expect(none.status).toBe(503);
    expect(await none.json()).toMatchObject({ type: 'https://settle.dev/problems/provider-unavailable' });
    expect((await post('stripe_connect', path.replace(/sig=(.)/, (_m, ch: string) => `sig=${ch === '0' ? '1' : '0'}`))).status).toBe(403);
  });

  describe('live status (server-sent events)', () => {
    test('a stream sends the current state, then the change when the projection commits it; closing it is counted', async () => {
      const c = new ConsoleClient(svc.url);
      await c.signIn(keys.alpha!);
      const invoiceId = await invoice('alpha', 'live-customer', 2500);
      await eventually(async () => (await c.get(`/admin/invoices/${invoiceId}`)).status === 200);
      const sse = await openSse(`${svc.url}/admin/live/invoices/${invoiceId}`, { cookie: c.cookieHeader() });
      expect(sse.status).toBe(200);
      let first = await sse.next();
      while (first.event !== 'status') first = await sse.next();
      expect(JSON.parse(first.data).state.invoice.status).toBe('open');
      const metrics = async () => (await scrape(svc)).match(/settle_live_streams\{kind="invoice"\} (\d+)/)?.[1];
      expect(await metrics()).toBe('1');

      await deliver(`${svc.url}/webhooks/stripe`, pi('payment_intent.succeeded', 'alpha', { invoice_id: invoiceId }, 2500, `pi_ok_${invoiceId}`), SECRET);
      // invoices and payment_history are two projections: each commit is pushed; wait for both
      const done = (e: { event: string | null; data: string }) => e.event === 'status' && JSON.parse(e.data).state.invoice.status === 'paid' && JSON.parse(e.data).state.latestPayment?.status === 'succeeded';
      const deadline = Date.now() + 15_000;
      let change = await sse.next();
      while (!done(change) && Date.now() < deadline) change = await sse.next();
      const view = JSON.parse(change.data);
      expect(view.html).toContain('Paid</span>');
      expect(view.state.latestPayment.status).toBe('succeeded');

      // reconnecting with the last event id: no resend of what the client has, only heartbeats
      const again = await openSse(`${svc.url}/admin/live/invoices/${invoiceId}`, { cookie: c.cookieHeader(), 'last-event-id': change.id! });
      const seen = [await again.next(3000), await again.next(3000)];
      expect(seen.every((e) => e.comment || e.event === null)).toBe(true);
      expect(seen.some((e) => e.comment)).toBe(true);
      again.close();
      sse.close();
      await eventually(async () => (await metrics()) === '0', 5000);
    });

    test('the payer page stream answers for a signed link only', async () => {
      const path = payerLinkPath(PAYER_SECRET, { tenantId: 'alpha', invoiceId: ids.alphaInvoice!, expires: Math.floor(Date.now() / 1000) + 600 });
      const [p, q] = path.split('?');
      const ok = await openSse(`${svc.url}${p}/live?${q}`);
      expect(ok.status).toBe(200);
      let e = await ok.next();
      while (e.event !== 'status') e = await ok.next();
      expect(JSON.parse(e.data).state).toMatchObject({ status: 'open', latestPayment: { status: 'failed' } });
      expect(e.data).not.toContain('pi_fail'); // no provider ids on the payer side
      ok.close();
      const bad = await openSse(`${svc.url}${p}/live?${q!.replace(/sig=(.)/, (_m, ch: string) => `sig=${ch === '0' ? '1' : '0'}`)}`);
      expect(bad.status).toBe(403);
      bad.close();
    });
  });

  test('sign-in is rate-limited per client', async () => {
    const small = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, RATE_LIMIT_PUBLIC_BURST: '2', RATE_LIMIT_PUBLIC_PER_SECOND: '0.01', PROJECTIONS_ENABLED: 'false', LOG_LEVEL: 'warn' });
    try {
      const c = new ConsoleClient(small.url);
      expect((await c.signIn('sk_settle_wrong_1')).status).toBe(401);
      expect((await c.signIn('sk_settle_wrong_2')).status).toBe(401);
      const limited = await c.signIn(keys.alpha!);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(c.cookies.has('settle_console')).toBe(false);
    } finally {
      await small.shutdown('test end');
    }
  });

  test("a Connect invoice payment links to the connected account's view of the payment", async () => {
    const account = stripeEvent('account.updated', (o, ev) => {
      o.id = 'acct_AlphaConsole1';
      ev.account = o.id;
    });
    expect((await client(svc.url, ADMIN_KEY).post('/v1/tenants/alpha/stripe-account', { accountId: 'acct_AlphaConsole1' })).status).toBeLessThan(300);
    expect((await deliver(`${svc.url}/webhooks/stripe/connect`, account, CONNECT_SECRET)).status).toBe(200);
    const c = new ConsoleClient(svc.url);
    await c.signIn(keys.alpha!);
    const page = await c.get('/admin/payments?status=failed');
    expect(page.text).toContain(`https://dashboard.stripe.com/acct_AlphaConsole1/test/payments/pi_fail_${ids.alphaInvoice}`);
    expect(page.text).toContain('https://dashboard.stripe.com/test/connect/accounts/acct_AlphaConsole1');
  });

  test('subscriptions: plan, status, access, dunning state and next retry', async () => {
    const customerId = 'cust-dunning';
    const sub = `sub_${customerId}`;
    const cus = `cus_${customerId}`;
    const md = { tenant_id: 'alpha', customer_id: customerId, plan_id: 'pro' };
    const inv = (file: string, id: string, reason: string, mutate: (o: Record<string, unknown>) => void = () => undefined) =>
      stripeEvent(file, (o) => {
        Object.assign(o, { id, customer: cus, subscription: sub, billing_reason: reason, currency: 'usd', amount_paid: 2000, amount_due: 2000, total: 2000 });
        o.parent = { type: 'subscription_details', subscription_details: { subscription: sub, metadata: md } };
        o.lines.data[0].period = { start: 1785600000, end: 1788278400 };
        mutate(o);
      });
    for (const e of [
      stripeEvent('checkout.session.completed', (o) => Object.assign(o, { mode: 'subscription', customer: cus, subscription: sub, payment_intent: null, metadata: md })),
      stripeEvent('customer.subscription.created', (o) => Object.assign(o, { id: sub, customer: cus, metadata: md })),
      inv('invoice.paid', `in_first_${customerId}`, 'subscription_create'),
      inv('invoice.payment_failed', `in_cycle_${customerId}`, 'subscription_cycle', (o) => (o.next_payment_attempt = 1788541200)),
    ])
      expect((await deliver(`${svc.url}/webhooks/stripe`, e, SECRET)).status).toBe(200);
    for (let i = 0; i < 5; i++) await svc.runtime.inboxRetrier.runOnce(true);
    const c = new ConsoleClient(svc.url);
    await c.signIn(keys.alpha!);
    await eventually(async () => (await c.get('/admin/subscriptions')).text.includes('Retrying payment'), 10_000);
    const row = /<tr><td>cust-dunning<\/td>.*?<\/tr>/s.exec((await c.get('/admin/subscriptions')).text)![0];
    expect(row).toContain('pro');
    expect(row).toContain('Past due</span>');
    expect(row).toContain('<td>Yes</td>'); // access kept while Stripe retries
    expect(row).toContain('Retrying payment');
    expect(row).toContain('2026-09-04 17:00 UTC'); // next_payment_attempt 1788541200
    // tenant B sees none of it
    const b = new ConsoleClient(svc.url);
    await b.signIn(keys.beta!);
    expect((await b.get('/admin/subscriptions')).text).not.toContain('cust-dunning');

    // the API stream of the subscription (checkout and dunning status) follows the retried payment
    const denied = await openSse(`${svc.url}/v1/customers/${customerId}/subscription/live`, { authorization: `Bearer ${keys.beta}` });
    expect(denied.status).toBe(404);
    denied.close();
    const sse = await openSse(`${svc.url}/v1/customers/${customerId}/subscription/live`, { authorization: `Bearer ${keys.alpha}` });
    expect(sse.status).toBe(200);
    let e = await sse.next();
    while (e.event !== 'status') e = await sse.next();
    expect(JSON.parse(e.data).state).toMatchObject({ customerId, status: 'past_due', accessActive: true });
    expect(JSON.parse(e.data).html).toBeUndefined();
    expect((await deliver(`${svc.url}/webhooks/stripe`, inv('invoice.paid', `in_cycle_${customerId}`, 'subscription_cycle'), SECRET)).status).toBe(200);
    let next = await sse.next();
    while (next.event !== 'status' || JSON.parse(next.data).state.status !== 'active') next = await sse.next();
    expect(JSON.parse(next.data).state.nextPaymentAttempt).toBeNull();
    sse.close();
  });

  test('system page (admin): projections with positions, lag and actions, outbox and keys per stage, consumer lag, dead letters, webhooks, reconciliation runs, each with its operator action', async () => {
    const c = new ConsoleClient(svc.url);
    await c.signIn(ADMIN_KEY);
    await c.post('/admin/tenants', { _csrf: ConsoleClient.csrfOf((await c.get('/admin/tenants')).text), tenantId: 'alpha' });
    const page = (await c.get('/admin/system')).text;
    for (const p of ['invoices', 'invoice_history', 'payment_history', 'bookings', 'subscriptions']) expect(page).toContain(`<tr data-projection="${p}"><td>${p}</td>`);
    expect(page).toMatch(/<dt>Backlog<\/dt><dd data-outbox="backlog">\d+ message\(s\)<\/dd>/);
    expect(page).toContain('<dd data-outbox="stuck">Moving</dd>');
    for (const stage of ['relay', 'consumer:finance-reporting']) expect(page).toMatch(new RegExp(`<tr data-stage="${stage}"><td>${stage}</td><td class="num">0</td><td class="num">0</td></tr>`));
    expect(page).toContain('In-process messaging: no Kafka consumers');
    expect(page).toMatch(/<h2 id="dead-letters">Dead letters<\/h2><p>None\.<\/p>/);
    expect(page).toMatch(/<tr data-inbox="processed"><td>Processed<\/td><td class="num">[1-9]\d*<\/td><\/tr>/);
    expect(page).toMatch(/<tr data-inbox="ignored"><td>Ignored<\/td><td class="num">\d+<\/td><\/tr>/);
    expect(page).toContain('<h2 id="reconciliation">Reconciliation runs</h2><p>No runs yet.</p>');
    const runbooks = [...page.matchAll(/data-runbook="([a-z-]+)"/g)].map((m) => m[1]);
    expect(runbooks).toEqual(['projection-lag', 'outbox-backlog-or-parked-key', 'consumer-lag', 'dead-lettered-event', 'parked-webhook', 'reconciliation-differences']);
    // each runbook anchor is a section of docs/operations.md
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/operations.md'), 'utf8');
    const anchors = [...doc.matchAll(/^### (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'));
    for (const a of runbooks) expect(anchors).toContain(a);

    // a projection's rebuild from the page: the same request as POST /v1/admin/projections/{name}/rebuild
    const csrf = ConsoleClient.csrfOf(page);
    expect((await c.post('/admin/system/projections/subscriptions/rebuild', { _csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await c.post('/admin/system/projections/nope/rebuild', { _csrf: csrf })).status).toBe(404);
    const rebuilt = await c.post('/admin/system/projections/subscriptions/rebuild', { _csrf: csrf });
    expect(rebuilt.location).toBe('/admin/system?done=rebuilding#projections');
    await eventually(async () => {
      const list = await client(svc.url, ADMIN_KEY).get<{ data: Array<{ name: string; generation: number }> }>('/v1/admin/projections');
      return (list.body.data.find((p) => p.name === 'subscriptions')?.generation ?? 0) > 1;
    }, 30_000);
    const tenantConsole = new ConsoleClient(svc.url);
    await tenantConsole.signIn(keys.alpha!);
    expect((await tenantConsole.post('/admin/system/projections/subscriptions/rebuild', { _csrf: await tenantConsole.csrf() })).status).toBe(403);
  });

  describe('overview', () => {
    const today = () => new Date().toISOString().slice(0, 10);
    const row = (...cells: Array<string | number>) => `<tr><th scope="row">${cells[0]}</th>${cells.slice(1).map((x) => `<td class="num">${x}</td>`).join('')}</tr>`;
    /** What the JSON API says (other tests add payments and invoices): today's attempts, open invoices. */
    async function fromApi(key: string, tenant?: string) {
      const api = client(svc.url, key, tenant ? { 'settle-tenant': tenant } : {});
      const pays = (await api.get<{ data: Array<{ status: string; occurredAt: string }> }>('/v1/payments?limit=200')).body.data.filter((p) => p.occurredAt.startsWith(today()));
      const invoices = (await api.get<{ data: Array<{ status: string }> }>('/v1/invoices?limit=200')).body.data;
      return {
        succeeded: pays.filter((p) => ['succeeded', 'refunded', 'disputed'].includes(p.status)).length,
        failed: pays.filter((p) => p.status === 'failed').length,
        open: invoices.filter((i) => i.status === 'open').length,
      };
    }

    test('the first page after sign-in for tenant staff: its own payments, declines in words, bookings and invoices, each chart with its table', async () => {
      const c = new ConsoleClient(svc.url);
      const form = await c.get('/admin/sign-in');
      const r = await c.post('/admin/sign-in', { _csrf: ConsoleClient.csrfOf(form.text), key: keys.alpha! });
      expect(r.location).toBe('/admin/overview');
      expect((await c.get('/admin')).location).toBe('/admin/overview');
      const page = await c.get('/admin/overview');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(page.text).toContain('aria-current="page">Overview</a>');
      expect(page.text).toContain('<option value="30" selected>Last 30 days</option>');
      expect(page.text).not.toContain('id="o-tenant"'); // staff cannot pick a tenant
      expect([...page.text.matchAll(/<svg class="chart" /g)].length).toBeGreaterThanOrEqual(4);
      expect(page.text).not.toMatch(/<script(?! src="\/assets\/console\.js")/);
      const alpha = await fromApi(keys.alpha!);
      expect(alpha.failed).toBeGreaterThanOrEqual(1);
      expect(page.text).toContain(row(today(), alpha.succeeded, alpha.failed)); // alpha's attempts today, not beta's
      expect(page.text).toMatch(/<tr><th scope="row">Insufficient funds<\/th><td>The card has insufficient funds\.<\/td><td class="num">[1-9]\d*<\/td><\/tr>/);
      expect(page.text).toContain(`<tr><th scope="row"><a href="/admin/invoices?status=open">Open</a></th><td class="num">${alpha.open}</td></tr>`);
      const requested = (await client(svc.url, keys.alpha).get<{ data: unknown[] }>('/v1/bookings?stage=requested&limit=200')).body.data.length;
      expect(page.text).toContain(`<tr><th scope="row"><a href="/admin/bookings?stage=requested">Requested</a></th><td class="num">${requested}</td></tr>`);
      expect(page.text).toMatch(/<h2 id="attention">Needs attention \(\d+\)<\/h2>/);
      // the tenant's name from data is escaped wherever it appears; nothing of beta
      expect(page.text).not.toContain(ids.betaInvoice!);
      expect((await c.get('/admin/overview?range=7')).text).toContain('<option value="7" selected>Last 7 days</option>');
      expect((await c.get('/admin/overview?range=14')).status).toBe(422);
      expect((await c.get('/admin/overview?tenant=beta')).status).toBe(404);
      expect((await c.get('/admin/overview?tenant=alpha')).status).toBe(200);
    });

    test('the admin sees every tenant, or one; items open after acting as that tenant', async () => {
      const c = new ConsoleClient(svc.url);
      const form = await c.get('/admin/sign-in');
      expect((await c.post('/admin/sign-in', { _csrf: ConsoleClient.csrfOf(form.text), key: ADMIN_KEY })).location).toBe('/admin/overview');
      const all = await c.get('/admin/overview');
      expect(all.text).toContain('<option value="" selected>All tenants</option>');
      expect(all.text).toContain('Alpha &lt;script&gt;alert(1)&lt;/script&gt; (alpha)');
      const [alpha, beta] = [await fromApi(ADMIN_KEY, 'alpha'), await fromApi(ADMIN_KEY, 'beta')];
      expect(all.text).toContain(row(today(), alpha.succeeded + beta.succeeded, alpha.failed + beta.failed));
      expect(all.text).toContain(`<tr><th scope="row">Open</th><td class="num">${alpha.open + beta.open}</td></tr>`); // no links: no tenant chosen
      const one = await c.get('/admin/overview?tenant=beta&range=90');
      expect(one.text).toContain('<option value="beta" selected>Beta (beta)</option>');
      expect(one.text).toContain(row(today(), beta.succeeded, beta.failed));
      expect(one.text).not.toContain('<a href="/admin/invoices?status=open">');
      await c.post('/admin/tenants', { _csrf: ConsoleClient.csrfOf(one.text), tenantId: 'beta' });
      const acting = await c.get('/admin/overview');
      expect(acting.text).toContain('<option value="beta" selected>Beta (beta)</option>');
      expect(acting.text).toContain(`<tr><th scope="row"><a href="/admin/invoices?status=open">Open</a></th><td class="num">${beta.open}</td></tr>`);
      expect((await c.get('/admin/overview?tenant=nobody')).status).toBe(404);
      expect((await c.get('/admin/overview?tenant=%3Cx%3E')).status).toBe(422);
    });
  });
});
