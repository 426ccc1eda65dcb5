/**
 * Hostile input against the real service on PostgreSQL. Every hostile request gets a precise 4xx
 * problem+json (or, for an unknown webhook event type, a 200 stored as `ignored` and counted), and
 * the event store, the outbox, the webhook inbox and every read model are byte-for-byte what they
 * were before (fingerprints taken after the projections caught up with the head of the log).
 * Webhook payments whose amount does not match are recorded as mismatches needing attention,
 * never as payments; hostile strings are stored verbatim and come back JSON-escaped.
 */
import { deliverApplied, scrape } from '../support/service';
import { sign, stripeEvent, type StripeEvent } from '../support/stripeEvents';
import { CONNECT_SECRET, SECRET, caughtUp, expectProblem, rawPost, snapshot, startHarness, type Harness, type Snapshot } from './hostile.support';

jest.setTimeout(60_000);

let h: Harness;
let platform: string;
let connectUrl: string;
let bookingId: string;
let invoiceId: string;
let failedAttemptId: string;
const now = () => Math.floor(Date.now() / 1000);

const bookingBody = (over: Record<string, unknown> = {}) => ({
  departureId: 'DEP',
  contact: { firstName: 'Ada', lastName: 'L', email: 'ada@example.com', phone: '+1 555 0100' },
  guests: [{ firstName: 'Ada', lastName: 'L' }],
  price: { amount: 2500, currency: 'USD' },
  ...over,
});
const invoiceBody = (over: Record<string, unknown> = {}) => ({
  customerId: 'client-1',
  customer: { name: 'Client', email: 'client@example.com' },
  currency: 'USD',
  lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: 5000 }],
  dueDate: '2026-12-31',
  allowedPaymentMethods: ['stripe_connect'],
  ...over,
});

/** payment_intent.<kind> for alpha's booking or invoice. */
function pi(kind: 'succeeded' | 'payment_failed', target: Record<string, string>, mutate: (o: StripeEvent['data']['object']) => void = () => undefined): StripeEvent {
  const id = `pi_h_${Math.random().toString(36).slice(2, 10)}`;
  return stripeEvent(`payment_intent.${kind}`, (o) => {
    o.id = id;
    o.metadata = { tenant_id: 'alpha', ...target };
    o.latest_charge = `ch_${id}`;
    if (o.last_payment_error) o.last_payment_error.charge = `ch_${id}`;
    mutate(o);
  });
}

async function unchanged(before: Snapshot): Promise<void> {
  expect(await snapshot(h.svc)).toEqual(before);
}

async function bookingEvents(id = bookingId): Promise<string[]> {
  return (await h.svc.runtime.eventStore.readStream(`booking-alpha.${id}`)).map((e) => e.type);
}

/** Delivered and applied (queue first): `body.status` is the inbox row's status. */
function deliver(url: string, event: StripeEvent | string, secret: string, opts: { timestamp?: number; signature?: string } = {}) {
  return deliverApplied(h.svc, url, event, secret, opts);
}

async function inboxRow(eventId: string) {
  const { rows } = await h.svc.runtime.db.query<{ status: string; last_error: string | null }>('SELECT status, last_error FROM webhook_inbox WHERE event_id = $1', [eventId]);
  return rows[0] ?? null;
}

beforeAll(async () => {
  h = await startHarness('rel_hostile');
  platform = `${h.svc.url}/webhooks/stripe`;
  connectUrl = `${h.svc.url}/webhooks/stripe/connect`;
  expect((await h.a.post('/v1/departures', { departureId: 'DEP', name: 'Trip', paymentScheduleId: 'sched', capacity: 100 })).status).toBe(201);
  const bk = await h.a.post<{ bookingId: string }>('/v1/bookings', bookingBody());
  expect(bk.status).toBe(201);
  bookingId = bk.body.bookingId;
  const inv = await h.a.post<{ invoiceId: string }>('/v1/invoices', invoiceBody());
  expect(inv.status).toBe(201);
  invoiceId = inv.body.invoiceId;
  expect((await h.a.post('/v1/plans', { planId: 'pl', name: 'Plan', amount: { amount: 1000, currency: 'USD' }, interval: 'month' })).status).toBe(201);
  expect((await h.a.post('/v1/customers/cust-a/checkout', { planId: 'pl' })).status).toBe(201);
  // one failed payment on alpha's invoice, so a payment attempt id exists for the cross-tenant checks
  expect((await deliver(platform, pi('payment_failed', { invoice_id: invoiceId }), SECRET)).status).toBe(200);
  await caughtUp(h.svc);
  const payments = await h.a.get<{ data: Array<{ attemptId: string }> }>(`/v1/payments?payable_id=${invoiceId}`);
  expect(payments.body.data.length).toBe(1);
  failedAttemptId = payments.body.data[0]!.attemptId;
});
afterAll(async () => {
  await h?.close();
});

describe('Stripe signatures: refused requests store nothing', () => {
  const good = () => pi('succeeded', { booking_id: bookingId }, (o) => (o.amount = o.amount_received = 2500));

  test('a forged signature (signed with another secret) is 400 invalid-signature', async () => {
    const before = await snapshot(h.svc);
    expectProblem(await deliver(platform, good(), 'whsec_attacker'), 400, 'invalid-signature');
    await unchanged(before);
  });

  test('a missing Stripe-Signature header is 400 missing-signature; a garbage header is 400 invalid-signature', async () => {
    const before = await snapshot(h.svc);
    const payload = JSON.stringify(good());
    expectProblem(await rawPost(platform, payload, { 'content-type': 'application/json' }), 400, 'missing-signature');
    expectProblem(await rawPost(platform, payload, { 'content-type': 'application/json', 'stripe-signature': 'garbage' }), 400, 'invalid-signature');
    expectProblem(await rawPost(platform, payload, { 'content-type': 'application/json', 'stripe-signature': `t=${now()},v1=` }), 400, 'invalid-signature');
    await unchanged(before);
  });

  test('an expired signature (timestamp 301 s and one day old) is 400 signature-expired', async () => {
    const before = await snapshot(h.svc);
    expectProblem(await deliver(platform, good(), SECRET, { timestamp: now() - 301 }), 400, 'signature-expired');
    expectProblem(await deliver(platform, good(), SECRET, { timestamp: now() - 86_400 }), 400, 'signature-expired');
    await unchanged(before);
  });

  test('a FUTURE-dated signature (t = now + 1 day) is accepted like stripe-node does; a replay of it is a duplicate, never a second fact', async () => {
    // Finding (documented behaviour, not refused): Settle inherits stripe-node's one-sided tolerance
    // check, so a signature dated in the future verifies until it is 300 s in the past.
    const e = stripeEvent('payment_intent.processing', (o) => (o.metadata = {}));
    e.type = 'customer.tax_id.updated'; // harmless, unhandled type: nothing may be applied
    const before = await snapshot(h.svc);
    const r = await deliver(platform, e, SECRET, { timestamp: now() + 86_400 });
    expect(r).toMatchObject({ status: 200, body: { id: e.id, status: 'ignored', duplicate: false } });
    const again = await deliver(platform, e, SECRET, { timestamp: now() + 86_400 });
    expect(again).toMatchObject({ status: 200, body: { id: e.id, status: 'ignored', duplicate: true } });
    const after = await snapshot(h.svc);
    expect(after).toEqual({ ...before, inbox: before.inbox + 1 });
  });

  test('an event signed with the Connect secret sent to the platform endpoint, and the reverse, are 400 invalid-signature', async () => {
    const before = await snapshot(h.svc);
    const platformEvent = good();
    expectProblem(await deliver(platform, platformEvent, CONNECT_SECRET), 400, 'invalid-signature');
    const connectEvent = stripeEvent('account.updated', (o, ev) => (ev.account = o.id));
    expectProblem(await deliver(connectUrl, connectEvent, SECRET), 400, 'invalid-signature');
    // correctly signed but on the wrong endpoint
    expectProblem(await deliver(platform, connectEvent, SECRET), 400, 'connect-event-on-platform-endpoint');
    expectProblem(await deliver(connectUrl, platformEvent, CONNECT_SECRET), 400, 'platform-event-on-connect-endpoint');
    await unchanged(before);
  });
});

describe('webhook bodies', () => {
  test('malformed JSON, correctly signed, is a precise 400 and stores nothing', async () => {
    const before = await snapshot(h.svc);
    for (const body of ['{"id": "evt_1", "type": ', 'not json at all', '']) {
      const r = await rawPost(platform, body, { 'content-type': 'application/json', 'stripe-signature': sign(body, SECRET) });
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json/);
      expect((r.body as { type: string }).type).toMatch(/\/(malformed-json|malformed-event|invalid-signature)$/);
    }
    await unchanged(before);
  });

  test('a 10 MB webhook body is 413 payload-too-large and stores nothing (platform and Connect)', async () => {
    const before = await snapshot(h.svc);
    const e = pi('succeeded', { booking_id: bookingId }, (o) => (o.description = 'x'.repeat(10 * 1024 * 1024)));
    expectProblem(await deliver(platform, e, SECRET), 413, 'payload-too-large');
    e.account = 'acct_x';
    expectProblem(await deliver(connectUrl, e, CONNECT_SECRET), 413, 'payload-too-large');
    await unchanged(before);
  });

  test('signed events missing or mistyping id/type/livemode are 400 and store nothing', async () => {
    const before = await snapshot(h.svc);
    const cases: Array<[unknown, string]> = [
      [{}, 'malformed-event'],
      [{ type: 'payment_intent.succeeded', livemode: false }, 'malformed-event'],
      [{ id: 42, type: 'payment_intent.succeeded', livemode: false }, 'malformed-event'],
      [{ id: 'evt_x', type: ['payment_intent.succeeded'], livemode: false }, 'malformed-event'],
      [{ id: 'evt_x', type: 'payment_intent.succeeded' }, 'livemode-mismatch'],
      [{ id: 'evt_x', type: 'payment_intent.succeeded', livemode: 'false' }, 'livemode-mismatch'],
    ];
    for (const [body, slug] of cases) expectProblem(await deliver(platform, JSON.stringify(body), SECRET), 400, slug);
    await unchanged(before);
  });

  test('an unknown event type is 200, stored as ignored and counted; no event, no read-model change', async () => {
    const e = stripeEvent('payment_intent.processing', (o) => (o.metadata = { tenant_id: 'alpha', booking_id: bookingId }));
    e.type = 'reliability.totally_unknown';
    const before = await snapshot(h.svc);
    expect(await deliver(platform, e, SECRET)).toMatchObject({ status: 200, body: { status: 'ignored', duplicate: false } });
    expect(await snapshot(h.svc)).toEqual({ ...before, inbox: before.inbox + 1 });
    expect(await inboxRow(e.id)).toMatchObject({ status: 'ignored' });
    const metrics = await scrape(h.svc);
    expect(metrics).toMatch(/settle_webhooks_unhandled_total\{endpoint="stripe",type="reliability.totally_unknown"\} 1\b/);
  });
});

describe('webhook amounts that do not match: a mismatch needing attention, never a payment', () => {
  test('a booking paid with the wrong amount or currency records BookingPaymentMismatch and needs attention', async () => {
    for (const [amount, currency] of [
      [2499, 'usd'],
      [2501, 'usd'],
      [2500, 'eur'],
      [0, 'usd'],
    ] as const) {
      const e = pi('succeeded', { booking_id: bookingId }, (o) => {
        o.amount = o.amount_received = amount;
        o.currency = currency;
      });
      expect(await deliver(platform, e, SECRET)).toMatchObject({ status: 200, body: { status: 'processed' } });
      const events = await h.svc.runtime.eventStore.readStream(`booking-alpha.${bookingId}`);
      const last = events[events.length - 1]!;
      expect(last.type).toBe('BookingPaymentMismatch');
      expect(last.data).toMatchObject({ providerPaymentId: e.data.object.id, amount: { amount, currency: currency.toUpperCase() }, expected: { amount: 2500, currency: 'USD' }, reason: 'amount_or_currency' });
    }
    expect(await bookingEvents()).not.toContain('BookingPaymentCompleted');
    await caughtUp(h.svc);
    const b = await h.a.get<{ status: string; needsAttention: boolean }>(`/v1/bookings/${bookingId}`);
    expect(b.body).toMatchObject({ status: 'requested', needsAttention: true });
  });

  test.each([
    ['negative', -2500],
    ['fractional', 2500.5],
    ['beyond 2^53', 2 ** 53 + 2],
    ['1e308', 1e308],
    ['a non-numeric string', 'abc'],
    ['null', null],
  ])('a booking payment with a %s amount is never a payment (refused or a mismatch)', async (_name, amount) => {
    const e = pi('succeeded', { booking_id: bookingId }, (o) => (o.amount = o.amount_received = amount));
    const before = await bookingEvents();
    const r = await deliver(platform, e, SECRET);
    expect(r.status).toBe(200);
    const after = await bookingEvents();
    expect(after).not.toContain('BookingPaymentCompleted');
    const added = after.slice(before.length);
    expect(added.every((t) => t === 'BookingPaymentMismatch')).toBe(true);
    if (added.length === 0) expect((await inboxRow(e.id))?.last_error ?? '').toMatch(/refused invalid_money/);
  });

  test('a booking payment whose amount is the right number as a STRING ("2500") is not a payment', async () => {
    // Stripe amounts are integers; a string is a malformed object and must not move money.
    const bk = await h.a.post<{ bookingId: string }>('/v1/bookings', bookingBody());
    const e = pi('succeeded', { booking_id: bk.body.bookingId }, (o) => (o.amount = o.amount_received = '2500'));
    expect((await deliver(platform, e, SECRET)).status).toBe(200);
    expect(await bookingEvents(bk.body.bookingId)).not.toContain('BookingPaymentCompleted');
  });

  test('a booking payment in a currency that does not exist is never a payment', async () => {
    const e = pi('succeeded', { booking_id: bookingId }, (o) => {
      o.amount = o.amount_received = 2500;
      o.currency = 'xyz';
    });
    const before = await bookingEvents();
    expect((await deliver(platform, e, SECRET)).status).toBe(200);
    const added = (await bookingEvents()).slice(before.length);
    expect(added.every((t) => t === 'BookingPaymentMismatch')).toBe(true);
  });

  test('an invoice paid with the wrong amount records PaymentAmountMismatch: invoice stays open, the attempt needs attention', async () => {
    const e = pi('succeeded', { invoice_id: invoiceId }, (o) => (o.amount = o.amount_received = 4999));
    expect(await deliver(platform, e, SECRET)).toMatchObject({ status: 200, body: { status: 'processed' } });
    const types = (await h.svc.runtime.eventStore.readStream(`invoice-alpha.${invoiceId}`)).map((x) => x.type);
    expect(types).toContain('PaymentAmountMismatch');
    expect(types).not.toContain('InvoicePaid');
    expect(types).not.toContain('PaymentSucceeded');
    await caughtUp(h.svc);
    const inv = await h.a.get<{ status: string; amountPaid: number }>(`/v1/invoices/${invoiceId}`);
    expect(inv.body).toMatchObject({ status: 'open', amountPaid: { amount: 0, currency: 'USD' } });
    const pays = await h.a.get<{ data: Array<{ providerPaymentId: string; needsAttention: string | null; amount: unknown }> }>(`/v1/payments?payable_id=${invoiceId}`);
    const row = pays.body.data.find((p) => p.providerPaymentId === e.data.object.id);
    expect(row?.needsAttention).toBe('amount mismatch: expected 5000 USD');
    // the finance-facing paid total did not move
    const hist = await h.a.get<{ entries: Array<{ type: string }> }>(`/v1/invoices/${invoiceId}/history`);
    expect(hist.body.entries.map((x) => x.type)).toContain('PaymentAmountMismatch');
  });

  test('sanity: the exact amount does pay the booking (the checks above can fail)', async () => {
    const bk = await h.a.post<{ bookingId: string }>('/v1/bookings', bookingBody());
    const e = pi('succeeded', { booking_id: bk.body.bookingId }, (o) => (o.amount = o.amount_received = 2500));
    expect((await deliver(platform, e, SECRET)).status).toBe(200);
    expect(await bookingEvents(bk.body.bookingId)).toContain('BookingPaymentCompleted');
  });
});

describe('API: hostile bodies are precise 4xx problems and write nothing', () => {
  test('malformed JSON is 400 malformed-json; a non-JSON content type is 415', async () => {
    const before = await snapshot(h.svc);
    for (const body of ['{"departureId": ', '{departureId: "x"}', "{'a':1}", '[1,2', '\u0000']) {
      const r = await h.a.post('/v1/bookings', body);
      expectProblem(r, 400, 'malformed-json');
    }
    expectProblem(await h.a.post('/v1/bookings', JSON.stringify(bookingBody()), { 'content-type': 'text/plain' }), 415, 'unsupported-media-type');
    await unchanged(before);
  });

  test('a 10 MB body is 413 payload-too-large', async () => {
    const before = await snapshot(h.svc);
    const big = bookingBody({ paymentScheduleId: 'x'.repeat(10 * 1024 * 1024) });
    expectProblem(await h.a.post('/v1/bookings', big), 413, 'payload-too-large');
    expectProblem(await h.a.post('/v1/invoices', invoiceBody({ number: 'y'.repeat(10 * 1024 * 1024) })), 413, 'payload-too-large');
    await unchanged(before);
  });

  test('missing and mistyped fields are 422 validation-error naming each path', async () => {
    const before = await snapshot(h.svc);
    expectProblem(await h.a.post('/v1/bookings', {}), 422, 'validation-error', ['body.departureId', 'body.contact', 'body.guests', 'body.price']);
    expectProblem(await h.a.post('/v1/bookings', bookingBody({ guests: [] })), 422, 'validation-error', ['body.guests']);
    expectProblem(await h.a.post('/v1/bookings', bookingBody({ departureId: 42 })), 422, 'validation-error', ['body.departureId']);
    expectProblem(await h.a.post('/v1/bookings', bookingBody({ contact: 'ada' })), 422, 'validation-error', ['body.contact']);
    expectProblem(await h.a.post('/v1/bookings', bookingBody({ extra: true })), 422, 'validation-error');
    expectProblem(await h.a.post('/v1/bookings', [bookingBody()]), 422, 'validation-error');
    // a top-level JSON scalar is refused by the strict JSON parser (400), not by the schema
    expectProblem(await h.a.post('/v1/bookings', 'null'), 400, 'malformed-json');
    expectProblem(await h.a.post('/v1/bookings', '"x"'), 400, 'malformed-json');
    expectProblem(await h.a.post('/v1/invoices', invoiceBody({ dueDate: 20261231 })), 422, 'validation-error', ['body.dueDate']);
    expectProblem(await h.a.post('/v1/invoices', invoiceBody({ lineItems: [{ description: 'x', quantity: '1', unitAmount: 1 }] })), 422, 'validation-error', ['body.lineItems.0.quantity']);
    expectProblem(await h.a.post('/v1/departures', { departureId: '../../etc', name: 'x', capacity: 1 }), 422, 'validation-error', ['body.departureId']);
    expectProblem(await h.a.patch('/v1/departures/DEP', { capacity: -1 }), 422, 'validation-error', ['body.capacity']);
    expectProblem(await h.a.post(`/v1/bookings/${bookingId}/cancel`, { reason: '' }), 422, 'validation-error', ['body.reason']);
    expectProblem(await h.a.post('/v1/customers/cust-a/subscription/cancel', { at: 'tomorrow' }), 422, 'validation-error', ['body.at']);
    await unchanged(before);
  });

  test.each([
    ['negative', -1],
    ['fractional', 12.5],
    ['beyond 2^53', 2 ** 53 + 2],
    ['1e308', 1e308],
    ['a numeric string', '2500'],
    ['a boolean', true],
    ['zero (must be above zero)', 0],
    ['above MAX_MINOR_UNITS', 10 ** 15 + 1],
  ])('a %s booking price is 422 at body.price.amount', async (_name, amount) => {
    const before = await snapshot(h.svc);
    expectProblem(await h.a.post('/v1/bookings', bookingBody({ price: { amount, currency: 'USD' } })), 422, 'validation-error', ['body.price.amount']);
    expectProblem(await h.a.post('/v1/invoices', invoiceBody({ lineItems: [{ description: 'x', quantity: 1, unitAmount: amount === 0 ? -5 : amount }] })), 422, 'validation-error', ['body.lineItems.0.unitAmount']);
    await unchanged(before);
  });

  test('numbers JSON cannot represent as finite (1e400) and huge integer literals are 422, not 5xx', async () => {
    const before = await snapshot(h.svc);
    for (const lit of ['1e400', '-1e400', '123456789012345678901234567890', '2500.0000000000000001e0']) {
      const raw = JSON.stringify(bookingBody({ price: { amount: 0, currency: 'USD' } })).replace('"amount":0', `"amount":${lit}`);
      const r = await h.a.post('/v1/bookings', raw);
      if (lit.startsWith('2500.0')) {
        // parses to exactly 2500: a valid amount; the request is accepted (201), which is correct JSON semantics
        expect(r.status).toBe(201);
        continue;
      }
      expectProblem(r, 422, 'validation-error', ['body.price.amount']);
    }
    // the one accepted booking is the only change
    const after = await snapshot(h.svc);
    expect(after.events).toBeGreaterThan(before.events);
  });

  test.each([['usd'], ['XYZ'], ['US'], ['USDD'], ['XAU'], [''], [840]])('currency %p is 422 at body.price.currency / body.currency', async (currency) => {
    const before = await snapshot(h.svc);
    expectProblem(await h.a.post('/v1/bookings', bookingBody({ price: { amount: 100, currency } })), 422, 'validation-error', ['body.price.currency']);
    expectProblem(await h.a.post('/v1/invoices', invoiceBody({ currency })), 422, 'validation-error', ['body.currency']);
    expectProblem(await h.a.post('/v1/plans', { planId: 'pz', name: 'P', amount: { amount: 100, currency }, interval: 'month' }), 422, 'validation-error', ['body.amount.currency']);
    await unchanged(before);
  });
});

describe('hostile strings are stored verbatim and returned JSON-escaped, never executed', () => {
  const HOSTILE = `Robert'); DROP TABLE events; -- <script>alert("x")</script> \u0007\u001b[31m\t\r\n\u2028\u2029 ' OR '1'='1 \\ 🤖 𝄞`;

  test('an invoice customer name and line item round-trip through the command, the invoice view and the history', async () => {
    const r = await h.a.post<{ invoiceId: string; customer: { name: string } }>('/v1/invoices', invoiceBody({ customer: { name: HOSTILE, email: 'x@example.com' }, lineItems: [{ description: HOSTILE, quantity: 1, unitAmount: 100 }], number: `<b>N</b>` }));
    expect(r.status).toBe(201);
    expect(r.body.customer.name).toBe(HOSTILE);
    await caughtUp(h.svc);
    const inv = await h.a.get<{ customer: { name: string }; lineItems: Array<{ description: string }>; number: string }>(`/v1/invoices/${r.body.invoiceId}`);
    expect(inv.headers.get('content-type')).toMatch(/^application\/json/);
    expect(inv.body.customer.name).toBe(HOSTILE);
    expect(inv.body.lineItems[0]!.description).toBe(HOSTILE);
    expect(inv.body.number).toBe('<b>N</b>');
    const hist = await h.a.get<{ entries: Array<{ type: string; data: { customer?: { name: string } } }> }>(`/v1/invoices/${r.body.invoiceId}/history`);
    expect(hist.body.entries[0]!.data.customer?.name).toBe(HOSTILE);
    // the events table still exists and still has rows
    expect(Number((await h.svc.runtime.db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n)).toBeGreaterThan(0);
  });

  test('the raw JSON answer escapes control characters and never contains raw HTML-breaking bytes unescaped', async () => {
    const r = await h.a.post<{ invoiceId: string }>('/v1/invoices', invoiceBody({ customer: { name: HOSTILE, email: 'x@example.com' } }));
    await caughtUp(h.svc);
    const res = await h.a.get(`/v1/invoices/${r.body.invoiceId}`);
    expect(res.status).toBe(200);
    // re-read the raw bytes
    const raw = JSON.stringify(res.body);
    expect(raw).toContain('\\u0007');
    expect(raw).toContain('\\u001b');
    expect(JSON.parse(raw).customer.name).toBe(HOSTILE);
  });

  /** The error Settle logged for a 5xx (for the report), or ''. */
  const loggedError = (from: number) =>
    h.svc.logs
      .slice(from)
      .filter((l) => Number(l.level) >= 50)
      .map((l) => String((l.err as { message?: string } | undefined)?.message ?? l.msg))
      .join(' | ');

  test('a NUL character in a name is either stored verbatim or a 422, never a 5xx, and never a partial write', async () => {
    const before = await snapshot(h.svc);
    const mark = h.svc.logs.length;
    const r = await h.a.post<{ invoiceId: string; customer: { name: string } }>('/v1/invoices', invoiceBody({ customer: { name: 'nul\u0000name', email: 'x@example.com' } }));
    if (r.status !== 201) await unchanged(before);
    expect({ status: r.status === 201 || r.status === 422 ? '201 or 422' : r.status, error: r.status >= 500 ? loggedError(mark) : '' }).toEqual({ status: '201 or 422', error: '' });
    if (r.status === 422) expectProblem(r, 422, 'validation-error');
    else {
      expect(r.body.customer.name).toBe('nul\u0000name');
      await caughtUp(h.svc);
      expect((await h.a.get<{ customer: { name: string } }>(`/v1/invoices/${r.body.invoiceId}`)).body.customer.name).toBe('nul\u0000name');
    }
  });

  test('a lone UTF-16 surrogate in a name is either stored or a 422, never a 5xx, and never a partial write', async () => {
    const before = await snapshot(h.svc);
    const mark = h.svc.logs.length;
    const raw = JSON.stringify(bookingBody()).replace('"firstName":"Ada"', '"firstName":"A\\ud800da"');
    const r = await h.a.post('/v1/bookings', raw);
    if (r.status !== 201) await unchanged(before);
    expect({ status: r.status === 201 || r.status === 422 ? '201 or 422' : r.status, error: r.status >= 500 ? loggedError(mark) : '' }).toEqual({ status: '201 or 422', error: '' });
  });

  test('a failure message with SQL, HTML and control characters round-trips through the payment history', async () => {
    const e = pi('payment_failed', { invoice_id: invoiceId }, (o) => {
      o.last_payment_error.message = HOSTILE;
      o.last_payment_error.decline_code = `<img src=x onerror=alert(1)>`;
    });
    expect(await deliver(platform, e, SECRET)).toMatchObject({ status: 200, body: { status: 'processed' } });
    await caughtUp(h.svc);
    const pays = await h.a.get<{ data: Array<{ providerPaymentId: string; message: string; declineCode: string; status: string }> }>(`/v1/payments?payable_id=${invoiceId}&status=failed`);
    const row = pays.body.data.find((p) => p.providerPaymentId === e.data.object.id);
    expect(row).toMatchObject({ status: 'failed', message: HOSTILE, declineCode: '<img src=x onerror=alert(1)>' });
    const hist = await h.a.get<{ entries: Array<{ type: string; data: { message?: string } }> }>(`/v1/invoices/${invoiceId}/history`);
    expect(hist.body.entries.filter((x) => x.type === 'PaymentAttemptFailed').map((x) => x.data.message)).toContain(HOSTILE);
  });

  test('a NUL character inside a SIGNED webhook is stored or refused with a 4xx, never a 5xx (Stripe would retry a 5xx for days)', async () => {
    const before = await snapshot(h.svc);
    const mark = h.svc.logs.length;
    const e = pi('payment_failed', { invoice_id: invoiceId }, (o) => (o.last_payment_error.message = 'nul\u0000inside'));
    const r = await deliver(platform, e, SECRET);
    if (r.status >= 400) await unchanged(before);
    expect({ status: r.status, error: r.status >= 500 ? loggedError(mark) : '' }).toEqual({ status: 200, error: '' });
  });
});

describe("another tenant's ids answer 404 on every resource endpoint and change nothing", () => {
  test('tenant beta cannot see or act on any of alpha\'s resources', async () => {
    const before = await snapshot(h.svc);
    const b = h.b;
    const money = { amount: 100, currency: 'USD' };
    const cases: Array<[Promise<{ status: number; body: unknown; headers: Headers }>, number, string]> = [
      [b.get('/v1/departures/DEP'), 404, 'departure-not-found'],
      [b.patch('/v1/departures/DEP', { name: 'hijack' }), 404, 'departure-not-found'],
      [b.get(`/v1/bookings/${bookingId}`), 404, 'booking-not-found'],
      [b.post(`/v1/bookings/${bookingId}/cancel`, { reason: 'x' }), 404, 'booking-not-found'],
      [b.post(`/v1/bookings/${bookingId}/refunds`, { amount: money }), 404, 'booking-not-found'],
      [b.post(`/v1/bookings/${bookingId}/crm-retry`, { requestedBy: 'x' }), 404, 'booking-not-found'],
      [b.get('/v1/plans/pl'), 404, 'plan-not-found'],
      [b.post('/v1/plans/pl/price', { amount: money }), 404, 'plan-not-found'],
      [b.post('/v1/plans/pl/retire', {}), 404, 'plan-not-found'],
      [b.get('/v1/customers/cust-a/subscription'), 404, 'subscription-not-found'],
      [b.post('/v1/customers/cust-a/subscription/plan-change', { planId: 'pl' }), 404, 'subscription-not-found'],
      [b.post('/v1/customers/cust-a/subscription/cancel', { at: 'now' }), 404, 'subscription-not-found'],
      [b.get(`/v1/invoices/${invoiceId}`), 404, 'invoice-not-found'],
      [b.get(`/v1/invoices/${invoiceId}/history`), 404, 'invoice-not-found'],
      [b.post(`/v1/invoices/${invoiceId}/void`, { reason: 'x' }), 404, 'invoice-not-found'],
      [b.post(`/v1/invoices/${invoiceId}/refunds`, { amount: money }), 404, 'invoice-not-found'],
      [b.post(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'stripe_connect' }), 404, 'invoice-not-found'],
      [b.get(`/v1/payments/${failedAttemptId}`), 404, 'payment-not-found'],
      // a body reference to another tenant's departure
      [b.post('/v1/bookings', bookingBody()), 422, 'departure-not-found'],
    ];
    for (const [p, status, slug] of cases) expectProblem(await p, status, slug);
    // lists are tenant-scoped
    for (const path of ['/v1/invoices', '/v1/payments', '/v1/bookings']) {
      const r = await b.get<{ data: unknown[] }>(path);
      expect({ path, status: r.status, n: r.body.data.length }).toEqual({ path, status: 200, n: 0 });
    }
    await unchanged(before);
  });

  test("checkout for another tenant's plan id is refused and writes nothing", async () => {
    const before = await snapshot(h.svc);
    const r = await h.b.post('/v1/customers/cust-a/checkout', { planId: 'pl' });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect((r.body as { type: string }).type).toMatch(/plan-not-found$/);
    await unchanged(before);
  });
});
