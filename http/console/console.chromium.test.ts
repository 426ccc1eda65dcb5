/**
 * The console end to end in real headless Chromium (Debian's `chromium`, installed by
 * scripts/chromium.sh from scripts/test.sh, driven by playwright-core with executablePath) against
 * the built service as a child process on the real PostgreSQL, with the CRM simulator. A declined
 * payment arrives as a signed Stripe webhook built from the fixtures; a booking fails its CRM sync
 * and is retried from the console. Screenshots go to test-artifacts/ (gitignored).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_KEY, client } from '../../test/support/api';
import { databaseUrl, dropSchema } from '../../test/support/databases';
import { eventually } from '../../test/support/events';
import { spawnService, type ServiceProcess } from '../../test/support/process';
import { deliver, stripeEvent, type StripeEvent } from '../../test/support/stripeEvents';
import { startCrmSimulator, type CrmSimulator } from '../../test/simulators/crm';
import { formatMoney } from './format';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');
const SECRET = 'whsec_console_browser_secret';

if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/test.sh installs it (scripts/chromium.sh)`);

describe('admin console in headless Chromium (PostgreSQL, CRM simulator)', () => {
  let svc: ServiceProcess;
  let crm: CrmSimulator;
  let browser: Browser;
  let page: Page;
  const schema = `ui_${randomBytes(5).toString('hex')}`;
  let apiKey: string;
  let bookingId: string;
  let invoiceId: string;

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  function pi(file: string, target: Record<string, string>, amount: number, piId: string): StripeEvent {
    return stripeEvent(file, (o) => {
      o.id = piId;
      o.metadata = { tenant_id: 'atlas', ...target };
      o.amount = amount;
      o.amount_received = file === 'payment_intent.succeeded' ? amount : 0;
      o.latest_charge = `ch_${piId}`;
      if (o.last_payment_error) o.last_payment_error.charge = `ch_${piId}`;
    });
  }

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    crm = await startCrmSimulator();
    svc = await spawnService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      STRIPE_WEBHOOK_SECRET: SECRET,
      CRM_BASE_URL: crm.url,
      CRM_API_KEY: crm.apiKey,
      CRM_MAX_ATTEMPTS: '1',
      CRM_TIMEOUT_MS: '2000',
      CRM_RETRY_BASE_MS: '50',
      CRM_RETRY_MAX_MS: '100',
      PAYER_LINK_SECRET: 'payer-link-secret-for-the-browser-test-0123',
      LIVE_HEARTBEAT_SECONDS: '5',
    });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'atlas', name: 'Atlas Trips' });
    apiKey = (await admin.post<{ apiKey: string }>('/v1/tenants/atlas/api-keys', { label: 'staff' })).body.apiKey;
    const api = client(svc.url, apiKey);
    await api.post('/v1/departures', { departureId: 'ICE-26', name: 'Iceland 2026', paymentScheduleId: 'sched-ice', capacity: 20 });

    // a booking paid by card whose CRM sync is rejected: it needs attention
    crm.failNext(1, 422, { operation: 'createContactBooking' });
    bookingId = (
      await api.post<{ bookingId: string }>('/v1/bookings', {
        departureId: 'ICE-26',
        contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
        guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
        price: { amount: 250000, currency: 'USD' },
      })
    ).body.bookingId;
    expect((await deliver(`${svc.url}/webhooks/stripe`, pi('payment_intent.succeeded', { booking_id: bookingId }, 250000, `pi_bk_${bookingId}`), SECRET)).status).toBe(200);
    await eventually(async () => (await api.get<{ stage: string }>(`/v1/bookings/${bookingId}`)).body.stage === 'needs_attention', 30_000);

    // an invoice whose card payment was declined for insufficient funds
    invoiceId = (
      await api.post<{ invoiceId: string }>('/v1/invoices', {
        customerId: 'cust-grace',
        customer: { name: 'Grace Hopper', email: 'grace@example.com' },
        currency: 'USD',
        lineItems: [{ description: 'Trip deposit', quantity: 1, unitAmount: 49900 }],
        dueDate: '2026-12-31',
        allowedPaymentMethods: ['stripe_connect'],
      })
    ).body.invoiceId;
    expect((await deliver(`${svc.url}/webhooks/stripe`, pi('payment_intent.payment_failed', { invoice_id: invoiceId }, 49900, `pi_dec_${invoiceId}`), SECRET)).status).toBe(200);
    await eventually(async () => (await api.get<{ data: unknown[] }>('/v1/payments?status=failed')).body.data.length === 1, 20_000);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });

  afterAll(async () => {
    await browser?.close();
    await svc?.kill('SIGTERM');
    await crm?.close();
    await dropSchema(schema);
  });

  test('sign in with a tenant key; the declined payment reads its reason in plain words', async () => {
    await page.goto(`${svc.url}/admin/payments`);
    await page.waitForURL(/\/admin\/sign-in/);
    // keyboard first: the skip link is the first stop
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement && document.activeElement.textContent')).toBe('Skip to content');
    await page.getByLabel('Admin key or tenant API key').fill(apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/admin\/payments$/);
    await page.getByLabel('Status').selectOption('failed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/status=failed/);
    const row = page.locator('tbody tr', { hasText: 'Invoice' });
    await expect(row.count()).resolves.toBe(1);
    expect(await row.locator('td.failure').textContent()).toBe('The card has insufficient funds.');
    expect(await row.locator('.badge').textContent()).toBe('Failed');
    expect(await row.locator('td.num').textContent()).toBe('$499.00');
    expect(await row.getByRole('link', { name: 'About this error' }).getAttribute('href')).toBe('https://docs.stripe.com/declines/codes#insufficient_funds');
    expect(await row.getByRole('link', { name: 'Provider dashboard' }).getAttribute('href')).toBe(`https://dashboard.stripe.com/test/payments/pi_dec_${invoiceId}`);
    await page.goto(`${svc.url}/admin/payments`);
    await shot('console-payments');
  });

  /** A figure's table as rows of cell texts (header cell first). */
  async function tableOf(figureId: string): Promise<string[][]> {
    return page.locator(`figure#${figureId} table.numbers tbody tr`).evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => (c.textContent ?? '').trim())));
  }

  test('the overview: SVG charts with their numbers as tables, matching the API; range selector; the attention list opens the booking', async () => {
    const api = client(svc.url, apiKey);
    const today = new Date().toISOString().slice(0, 10);
    // the finance ledger is fed by the payment messages (consumer group): wait until it has the booking's payment
    const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
    await eventually(async () => (await api.get<{ rows: unknown[] }>(`/v1/reports/finance?from=${from}&to=${today}`)).body.rows.length > 0, 30_000);
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    await page.goto(`${svc.url}/admin/overview`);
    expect(await page.locator('h1').textContent()).toBe('Overview');
    expect(await page.locator('nav[aria-label="Console"] a[aria-current="page"]').textContent()).toBe('Overview');
    // every chart is an image with a name, drawn, and followed by its table
    const charts = page.locator('figure svg.chart[role="img"]');
    expect(await charts.count()).toBeGreaterThanOrEqual(6);
    for (const id of ['payments-per-day', 'decline-reasons', 'finance-usd', 'bookings-by-stage', 'invoices-by-status']) {
      const box = await page.locator(`figure#${id} svg.chart`).boundingBox();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.height).toBeGreaterThan(20);
      expect(await page.locator(`figure#${id} table.numbers`).count()).toBe(1);
    }

    // invoices by status: the table against GET /v1/invoices
    const invoices = (await api.get<{ data: Array<{ status: string }> }>('/v1/invoices?limit=200')).body.data;
    const byStatus = Object.fromEntries((await tableOf('invoices-by-status')).map(([status, n]) => [status!.toLowerCase(), Number(n)]));
    expect(byStatus.open).toBe(invoices.filter((i) => i.status === 'open').length);
    expect(Object.values(byStatus).reduce((a, b) => a + b, 0)).toBe(invoices.length);
    // the bar of the open invoices carries the same number
    expect(await page.locator('figure#invoices-by-status svg rect title', { hasText: /^Open: / }).textContent()).toBe(`Open: ${byStatus.open}`);

    // collected per day (USD): the table against GET /v1/reports/finance, summed over providers
    const report = (await api.get<{ rows: Array<{ day: string; currency: string; grossCollected: number; refunds: number }> }>(`/v1/reports/finance?from=${from}&to=${today}`)).body.rows.filter((r) => r.currency === 'USD');
    const collected = new Map<string, number>();
    for (const r of report) collected.set(r.day, (collected.get(r.day) ?? 0) + r.grossCollected);
    const financeRows = await tableOf('finance-usd');
    expect(financeRows.map(([day, c]) => [day, c])).toEqual([...collected].sort().map(([day, n]) => [day, formatMoney({ amount: n, currency: 'USD' })]));
    expect(financeRows[0]![1]).toBe('$2,500.00');

    // payments per day against GET /v1/payments; the decline reason in plain words
    const pays = (await api.get<{ data: Array<{ status: string; occurredAt: string }> }>('/v1/payments?limit=200')).body.data.filter((p) => p.occurredAt.startsWith(today));
    expect(await tableOf('payments-per-day')).toContainEqual([today, String(pays.filter((p) => p.status === 'succeeded').length), String(pays.filter((p) => p.status === 'failed').length)]);
    expect(await tableOf('decline-reasons')).toContainEqual(['Insufficient funds', 'The card has insufficient funds.', '1']);
    await shot('console-overview');

    // the range selector is a plain form
    await page.getByRole('combobox', { name: 'Range' }).selectOption('7');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/\/admin\/overview\?range=7$/);
    expect(await page.locator('figure#payments-per-day svg rect.s0 > title').count()).toBe(7); // one succeeded bar per day (the legend's swatch has no title)

    // the attention list: one click to the booking that needs a human
    await page.locator('#attention-list').getByRole('link', { name: `Booking ${bookingId}` }).click();
    await page.waitForURL(new RegExp(`/admin/bookings/${bookingId}$`));
    expect(cspErrors).toEqual([]);
  });

  test('press retry on a booking that needs attention and watch the stage change live, without a reload', async () => {
    await page.goto(`${svc.url}/admin/bookings`);
    expect(await page.locator('tbody tr').first().getAttribute('data-booking')).toBe(bookingId);
    await page.getByRole('link', { name: bookingId }).click();
    await page.waitForURL(new RegExp(`/admin/bookings/${bookingId}$`));
    await expect(page.locator('.stage').getAttribute('data-stage')).resolves.toBe('needs_attention');
    expect(await page.locator('table', { hasText: 'CRM pipeline' }).textContent()).toContain('CRM createContactBooking rejected');
    await shot('console-booking-needs-attention');
    // a marker that a reload would wipe
    await page.evaluate('window.__settleMarker = 42');
    await page.getByRole('button', { name: 'Retry from the failed stage' }).click();
    await page.locator('.stage[data-stage="payment_associated"]').waitFor({ timeout: 30_000 });
    expect(await page.evaluate('window.__settleMarker')).toBe(42);
    expect(await page.locator('#action-result').textContent()).toMatch(/^Retry requested/);
    expect(Number(await page.locator('[data-live]').getAttribute('data-live-updates'))).toBeGreaterThanOrEqual(1);
    expect(crm.booking(bookingId)).toBeTruthy();
    await shot('console-booking-retried');
  });

  test("open an invoice's timeline", async () => {
    await page.goto(`${svc.url}/admin/invoices`);
    await page.locator('tbody tr').first().getByRole('link').click();
    await page.waitForURL(new RegExp(`/admin/invoices/${invoiceId}$`));
    const items = page.locator('ol.timeline > li');
    expect(await items.count()).toBeGreaterThanOrEqual(2);
    expect(await items.nth(0).textContent()).toContain('Invoice issued');
    const failed = items.filter({ hasText: 'Payment attempt failed' });
    expect(await failed.textContent()).toContain('The card has insufficient funds.');
    expect(await failed.textContent()).toMatch(/Caused by provider event evt_/);
    await shot('console-invoice-timeline');
  });

  test('a payer link opens the invoice with its live status; a tampered one is refused', async () => {
    await page.goto(`${svc.url}/admin/invoices/${invoiceId}`);
    await page.getByRole('button', { name: 'Create a payer link' }).click();
    const href = await page.locator('a.payer-link').getAttribute('href');
    const link = new URL(href!);
    const good = `${svc.url}${link.pathname}${link.search}`;
    const tampered = good.replace(/sig=([0-9a-f])/, (_m, ch: string) => `sig=${ch === 'f' ? 'e' : 'f'}`);
    const refused = await page.goto(tampered);
    expect(refused!.status()).toBe(403);
    expect(await page.textContent('body')).toContain('payer-link-refused');
    const shown = await page.goto(good);
    expect(shown!.status()).toBe(200);
    expect(await page.locator('h1').textContent()).toMatch(/^Invoice /);
    expect(await page.locator('.latest-payment').textContent()).toContain('The card has insufficient funds.');
    await shot('payer-invoice');
  });

  test('pages stay readable without JavaScript', async () => {
    const ctx = await browser.newContext({ javaScriptEnabled: false });
    const p = await ctx.newPage();
    await p.goto(`${svc.url}/admin/sign-in`);
    await p.getByLabel('Admin key or tenant API key').fill(apiKey);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL(/\/admin\/overview$/);
    expect(await p.locator('figure#invoices-by-status table.numbers').textContent()).toContain('Open');
    expect(await p.locator('figure#payments-per-day svg.chart').count()).toBe(1);
    await p.goto(`${svc.url}/admin/payments`);
    expect(await p.locator('tbody tr', { hasText: 'Invoice' }).locator('td.failure').textContent()).toBe('The card has insufficient funds.');
    await p.goto(`${svc.url}/admin/bookings?stage=payment_associated`);
    expect(await p.locator('tbody tr').count()).toBe(1);
    await p.goto(`${svc.url}/admin/bookings/${bookingId}`);
    expect(await p.locator('.stage').getAttribute('data-stage')).toBe('payment_associated');
    await p.goto(`${svc.url}/admin/invoices/${invoiceId}`);
    expect(await p.locator('ol.timeline > li').count()).toBeGreaterThanOrEqual(2);
    await ctx.close();
  });
});
