/**
 * Every active ISO 4217 currency, end to end through the built service (embedded default,
 * in-process messaging, one start): the same amount of minor units is issued in each currency and
 * must read the same in the API (integer minor units), on the console invoice page and on the
 * payer page (/pay/...), with the ISO 4217 exponent: 1234567 minor units are ¥1,234,567,
 * €12,345.67, IQD 1,234.567 and CLF 123.4567.
 *
 * The oracle is ISO 4217 data only: the list of codes and their exponents come from the ISO table
 * (domain/shared/currencies.ts, data transcribed from SIX's List One, no product logic), and the
 * expected display string is built here by plain digit arithmetic; a handful of well-known
 * exponents are also written out literally below, so a wrong table entry for them fails too.
 *
 * Invoices can only be issued in a currency one of their payment methods charges in: Stripe takes
 * neither IQD nor LYD (three decimals) nor the four-decimal CLF and UYW, PayPal none of them. For
 * those the API must refuse the invoice with a precise 422 naming the currency, and the amount is
 * checked on a booking instead (API and console booking page), which any currency may price.
 */
import { randomBytes } from 'node:crypto';
import { ISO_4217, CURRENCY_CODES } from '../../../domain/shared/currencies';
import { ADMIN_KEY, expectStatus, startSettle, type Settle } from '../driver/service';
import { ConsoleClient } from '../../support/console';
import { client } from '../../support/api';

jest.setTimeout(300_000);

const AMOUNT = 1_234_567;
const PAYER_SECRET = 'payer-link-secret-for-every-currency-0123456';

/** Written out from ISO 4217 List One, independently of the table the service uses. */
const KNOWN: Record<string, { exponent: number; shown: string }> = {
  JPY: { exponent: 0, shown: '1,234,567' },
  KRW: { exponent: 0, shown: '1,234,567' },
  EUR: { exponent: 2, shown: '12,345.67' },
  HUF: { exponent: 2, shown: '12,345.67' }, // Intl's default: 0 digits
  IDR: { exponent: 2, shown: '12,345.67' }, // Intl's default: 0 digits
  LBP: { exponent: 2, shown: '12,345.67' }, // Intl's default: 0 digits
  LAK: { exponent: 2, shown: '12,345.67' }, // Intl's default: 0 digits
  MGA: { exponent: 2, shown: '12,345.67' }, // Intl's default: 0 digits
  KWD: { exponent: 3, shown: '1,234.567' },
  IQD: { exponent: 3, shown: '1,234.567' }, // Intl's default: 0 digits
  CLF: { exponent: 4, shown: '123.4567' },
};

/** Which of the invoice's payment methods charges in the currency (Stripe: up to two decimals plus BHD, JOD, KWD, OMR, TND). */
const STRIPE_THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);
const invoiceable = (code: string, exponent: number) => exponent <= 2 || STRIPE_THREE_DECIMAL.has(code);

/** `minor` with `exponent` decimals, the integer part grouped by thousands with commas. */
function shown(minor: number, exponent: number): string {
  const s = String(minor).padStart(exponent + 1, '0');
  const int = exponent === 0 ? s : s.slice(0, -exponent);
  const frac = exponent === 0 ? '' : `.${s.slice(-exponent)}`;
  return `${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${frac}`;
}

/** Runs `work` over `items`, a few at a time (the service is one process on a shared machine). */
async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>, width = 6): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** The number in the `<dd>` after `<dt>label</dt>` of a page, with the currency sign or code around it. */
function amountAfter(page: string, label: string, code: string): { text: string; number: string } {
  const m = new RegExp(`<dt>${label}</dt><dd>([^<]*)</dd>`).exec(page);
  if (!m) throw new Error(`no "${label}" on the page for ${code}`);
  const text = m[1]!;
  const n = /\d[\d,]*(?:\.\d+)?/.exec(text);
  if (!n) throw new Error(`no number in "${text}" for ${code}`);
  return { text, number: n[0] };
}

describe('every ISO 4217 currency reads the same in the API, the console and on the payer page', () => {
  let settle: Settle;
  let consoleClient: ConsoleClient;
  let api: ReturnType<typeof client>;
  const tenantId = `cur_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    settle = await startSettle({
      storage: 'embedded',
      messaging: 'in-process',
      env: { PAYER_LINK_SECRET: PAYER_SECRET, PUBLIC_BASE_URL: 'https://pay.settle.example', RATE_LIMIT_PUBLIC_BURST: '100000', RATE_LIMIT_API_BURST: '100000' },
    });
    const admin = client(settle.url, ADMIN_KEY);
    expectStatus(await admin.post('/v1/tenants', { tenantId, name: 'Every currency' }), 201, 'create tenant');
    const key = await admin.post<{ apiKey: string }>(`/v1/tenants/${tenantId}/api-keys`, {});
    expectStatus(key, 201, 'api key');
    api = settle.as(key.body.apiKey);
    consoleClient = new ConsoleClient(settle.url);
    const signedIn = await consoleClient.signIn(key.body.apiKey);
    expect(signedIn.status).toBe(303);
  });
  afterAll(async () => {
    await settle?.stop();
  });

  test('the oracle: the table has the ISO exponents written out above', () => {
    expect(CURRENCY_CODES.length).toBe(165);
    for (const [code, k] of Object.entries(KNOWN)) expect([code, ISO_4217[code as keyof typeof ISO_4217].exponent]).toEqual([code, k.exponent]);
    for (const [code, k] of Object.entries(KNOWN)) expect([code, shown(AMOUNT, k.exponent)]).toEqual([code, k.shown]);
  });

  test('an invoice of 1234567 minor units in each currency', async () => {
    const mismatches: string[] = [];
    const invoices: Array<{ code: (typeof CURRENCY_CODES)[number]; invoiceId: string }> = [];
    const refused: string[] = [];
    await inParallel(CURRENCY_CODES, async (code) => {
      const { exponent } = ISO_4217[code];
      const r = await api.post<{ invoiceId: string; total: { amount: number; currency: string } }>('/v1/invoices', {
        customerId: `c-${code}`,
        customer: { name: `Client ${code}`, email: `${code.toLowerCase()}@example.com` },
        currency: code,
        lineItems: [{ description: 'Session', quantity: 1, unitAmount: AMOUNT }],
        dueDate: '2030-12-31',
        allowedPaymentMethods: ['stripe_connect'],
      });
      if (!invoiceable(code, exponent)) {
        const body = r.body as unknown as { type?: string; detail?: string };
        if (r.status !== 422 || !String(body.detail).includes(code)) mismatches.push(`${code}: expected a 422 naming the currency, got ${r.status} ${JSON.stringify(r.body)}`);
        refused.push(code);
        return;
      }
      if (r.status !== 201) return void mismatches.push(`${code}: issue answered ${r.status} ${JSON.stringify(r.body)}`);
      invoices.push({ code, invoiceId: r.body.invoiceId });
    });
    expect(refused.sort()).toEqual(['CLF', 'IQD', 'LYD', 'UYW']);
    await settle.settled({ timeoutMs: 120_000 });

    await inParallel(invoices, async ({ code, invoiceId }) => {
      const { exponent } = ISO_4217[code];
      const expected = shown(AMOUNT, exponent);
      const fromApi = await api.get<{ total: { amount: number; currency: string } }>(`/v1/invoices/${invoiceId}`);
      if (fromApi.status !== 200 || fromApi.body.total.amount !== AMOUNT || fromApi.body.total.currency !== code) return void mismatches.push(`${code}: API ${fromApi.status} ${JSON.stringify(fromApi.body)}`);
      const page = await consoleClient.get(`/admin/invoices/${invoiceId}`);
      const onConsole = page.status === 200 ? amountAfter(page.text, 'Total', code) : null;
      const link = await api.post<{ url: string }>(`/v1/invoices/${invoiceId}/payer-link`, {});
      const payer = link.status === 201 ? await fetch(`${settle.url}${new URL(link.body.url).pathname}${new URL(link.body.url).search}`) : null;
      const payerText = payer ? await payer.text() : '';
      const onPayerPage = payer?.status === 200 ? amountAfter(payerText, 'Total', code) : null;
      if (onConsole?.number !== expected) mismatches.push(`${code}: console shows ${onConsole?.text ?? `HTTP ${page.status}`}, expected ${expected}`);
      if (onPayerPage?.number !== expected) mismatches.push(`${code}: payer page shows ${onPayerPage?.text ?? `HTTP ${payer?.status ?? link.status}`}, expected ${expected}`);
      if (onConsole && onPayerPage && onConsole.text !== onPayerPage.text) mismatches.push(`${code}: console "${onConsole.text}" and payer page "${onPayerPage.text}" differ`);
    });
    expect(mismatches).toEqual([]);
    expect(invoices).toHaveLength(CURRENCY_CODES.length - 4);
  });

  test('a booking in each currency no payment method takes for invoices (IQD, LYD, CLF, UYW)', async () => {
    const departureId = `dep-${randomBytes(4).toString('hex')}`;
    expectStatus(await api.post('/v1/departures', { departureId, name: 'Every currency', paymentScheduleId: 'sched-cur', capacity: 50 }), 201, 'create departure');
    const mismatches: string[] = [];
    for (const code of ['IQD', 'LYD', 'CLF', 'UYW'] as const) {
      const r = await api.post<{ bookingId: string }>('/v1/bookings', {
        departureId,
        contact: { firstName: 'Ada', lastName: code, email: `${code.toLowerCase()}@example.com`, phone: '+44 20 7946 0000' },
        guests: [{ firstName: 'Ada', lastName: code }],
        price: { amount: AMOUNT, currency: code },
      });
      expectStatus(r, 201, `booking in ${code}`);
      await settle.settled();
      const fromApi = await api.get<{ price: { amount: number; currency: string } }>(`/v1/bookings/${r.body.bookingId}`);
      expect(fromApi.body.price).toEqual({ amount: AMOUNT, currency: code });
      const page = await consoleClient.get(`/admin/bookings/${r.body.bookingId}`);
      expect(page.status).toBe(200);
      const onConsole = amountAfter(page.text, 'Price', code);
      if (onConsole.number !== shown(AMOUNT, ISO_4217[code].exponent)) mismatches.push(`${code}: console shows ${onConsole.text}`);
    }
    expect(mismatches).toEqual([]);
  });
});
