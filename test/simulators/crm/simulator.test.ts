/**
 * The CRM simulator's own behaviour, checked with plain fetch: the API the CRM client relies on
 * (auth, strict validation, deduplication, idempotent payments, 404) and the test hooks (latency,
 * seeded error rate, down, hang, failNext, counters, request log).
 */
import { startCrmSimulator, type CrmSimulator } from '.';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
let sim: CrmSimulator;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${sim.apiKey}`, 'Content-Type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const payload = (over: Record<string, unknown> = {}) => ({
  external_reference: 'bk_1',
  'contact.firstname': 'Ada',
  'contact.lastname': 'Lovelace',
  'contact.emailaddress1': 'ada@example.com',
  'contact.primaryphone': '+44 20 7946 0000',
  'p15_bookings.p15_tripdepartures_bookingsid': 'dep-1',
  'p15_bookings.p15_waitlisted': false,
  p15_guests: [
    { 'contact.firstname': 'Ada', 'contact.lastname': 'Lovelace', 'contact.emailaddress1': 'ada@example.com', isClient: true },
    { 'contact.firstname': 'Charles', 'contact.lastname': 'Babbage', isClient: false },
  ],
  'p15_invoices.p15_paymentscheduleid': 'ps-1',
  amount: '1234.50',
  currency: 'EUR',
  returnallids: true,
  ...over,
});

const create = (over: Record<string, unknown> = {}) => call('POST', '/contact-bookings', payload(over));
const pay = (id: string, over: Record<string, unknown> = {}) => call('POST', `/contact-bookings/${id}/payments`, { external_reference: 'bk_1', payment_id: 'pi_1', amount: '1234.50', currency: 'EUR', ...over });
const fieldsOf = (body: any): string[] => body.errors.map((e: { field: string }) => e.field);

beforeAll(async () => {
  sim = await startCrmSimulator({ apiKey: 'crm_test_key' });
});
afterAll(() => sim.close());
beforeEach(() => sim.reset());

describe('auth and transport', () => {
  it('wants the bearer API key', async () => {
    const none = await call('POST', '/contact-bookings', payload(), { Authorization: '' });
    expect([none.status, none.body]).toEqual([401, { error: 'unauthorized', message: 'missing bearer API key' }]);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="crm"');
    const wrong = await call('POST', '/contact-bookings', payload(), { Authorization: 'Bearer nope' });
    expect([wrong.status, wrong.body.message]).toEqual([401, 'invalid API key']);
    expect(sim.apiKey).toBe('crm_test_key');
    expect(sim.createCount).toBe(0);
  });

  it('wants JSON: 415 for another content type, 400 for malformed JSON or a non-object', async () => {
    expect((await call('POST', '/contact-bookings', 'a=b', { 'Content-Type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    const bad = await call('POST', '/contact-bookings', '{"external_reference":', {});
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid_json']);
    expect((await call('POST', '/contact-bookings', [1, 2])).status).toBe(400);
  });

  it('answers 404 for anything else', async () => {
    expect((await call('GET', '/contact-bookings')).status).toBe(404);
    expect((await call('POST', '/bookings', {})).status).toBe(404);
  });
});

describe('POST /contact-bookings', () => {
  it('creates a contact booking: 201 with all ids', async () => {
    const res = await create();
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      external_reference: 'bk_1',
      ids: {
        contactid: expect.any(String),
        p15_bookingsid: res.body.id,
        p15_invoicesid: expect.any(String),
        'p15_guests.1.contactid': expect.any(String),
        'p15_guests.1.p15_guestsid': expect.any(String),
        'p15_guests.2.contactid': expect.any(String),
        'p15_guests.2.p15_guestsid': expect.any(String),
      },
    });
    expect(res.body.ids['p15_guests.1.contactid']).toBe(res.body.ids.contactid); // the client is the contact
    expect(sim.booking('bk_1')).toMatchObject({
      id: res.body.id,
      externalReference: 'bk_1',
      contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
      departureId: 'dep-1',
      paymentScheduleId: 'ps-1',
      waitlisted: false,
      guests: [
        { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', isClient: true },
        { firstName: 'Charles', lastName: 'Babbage', email: null, isClient: false },
      ],
      amount: { amount: 123450, currency: 'EUR' },
      payments: [],
    });
    expect(sim.booking(res.body.id)!.externalReference).toBe('bk_1');
    expect(sim.createCount).toBe(1);
  });

  it('without returnallids answers only the booking id', async () => {
    const res = await create({ returnallids: undefined });
    expect(res.body).toEqual({ id: expect.any(String), external_reference: 'bk_1' });
  });

  it('deduplicates on external_reference: 200 with the same ids, nothing created', async () => {
    const first = await create();
    const second = await create({ 'contact.firstname': 'Someone else' });
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body).toEqual(first.body);
    expect([sim.createCount, sim.duplicateCount, sim.bookings().length]).toEqual([1, 1, 1]);
    expect(sim.requests('createContactBooking').map((r) => r.outcome)).toEqual(['created', 'duplicate']);
    const other = await create({ external_reference: 'bk_2' });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
  });

  it('lists every missing required field', async () => {
    const res = await call('POST', '/contact-bookings', {});
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('validation_failed');
    expect(fieldsOf(res.body).sort()).toEqual(
      [
        'amount',
        'contact.emailaddress1',
        'contact.firstname',
        'contact.lastname',
        'contact.primaryphone',
        'currency',
        'external_reference',
        'p15_bookings.p15_tripdepartures_bookingsid',
        'p15_guests',
        'p15_invoices.p15_paymentscheduleid',
      ].sort(),
    );
    expect(sim.createCount).toBe(0);
  });

  it.each([
    [{ amount: 1234.5 }, 'amount', /decimal string/],
    [{ amount: '1234.5' }, 'amount', /exactly 2 decimals/],
    [{ amount: '-1.00' }, 'amount', /exactly 2 decimals/],
    [{ amount: '500.00', currency: 'JPY' }, 'amount', /no decimals/],
    [{ amount: '1.50', currency: 'KWD' }, 'amount', /exactly 3 decimals/],
    [{ currency: 'EURO' }, 'currency', /at most 3/],
    [{ currency: 'XYZ' }, 'currency', /ISO 4217/],
    [{ 'contact.emailaddress1': 'ada' }, 'contact.emailaddress1', /email/],
    [{ 'contact.firstname': '  ' }, 'contact.firstname', /empty/],
    [{ 'p15_bookings.p15_waitlisted': 'no' }, 'p15_bookings.p15_waitlisted', /true or false/],
    [{ p15_guests: [] }, 'p15_guests', /at least one/],
    [{ p15_guests: {} }, 'p15_guests', /list/],
    [{ p15_guests: [{ 'contact.firstname': 'A', 'contact.lastname': 'B', isClient: false }] }, 'p15_guests[0].isClient', /first guest must be the client/],
    [
      {
        p15_guests: [
          { 'contact.firstname': 'A', 'contact.lastname': 'B', isClient: true },
          { 'contact.firstname': 'C', 'contact.lastname': 'D', isClient: true },
        ],
      },
      'p15_guests[1].isClient',
      /only the first/,
    ],
    [{ p15_guests: [{ 'contact.firstname': 'A', isClient: true }] }, 'p15_guests[0].contact.lastname', /required/],
    [{ p15_guests: [{ 'contact.firstname': 'A', 'contact.lastname': 'B', isClient: true, age: 3 }] }, 'p15_guests[0].age', /not a known field/],
    [{ 'contact.atlasobs_primaryphone': '1' }, 'contact.atlasobs_primaryphone', /not a known field/],
  ])('refuses %j (400, field %s)', async (over, field, message) => {
    const res = await create(over);
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual({ field, message: expect.stringMatching(message) });
    expect(sim.createCount).toBe(0);
  });

  it('takes the decimals of each currency', async () => {
    expect((await create({ external_reference: 'a', amount: '500', currency: 'JPY' })).status).toBe(201);
    expect((await create({ external_reference: 'b', amount: '1.500', currency: 'KWD' })).status).toBe(201);
    expect((await create({ external_reference: 'c', amount: '0.00', currency: 'EUR' })).status).toBe(201);
    expect(sim.bookings().map((b) => b.amount)).toEqual([
      { amount: 500, currency: 'JPY' },
      { amount: 1500, currency: 'KWD' },
      { amount: 0, currency: 'EUR' },
    ]);
  });
});

describe('POST /contact-bookings/{id}/payments', () => {
  it('associates a payment once: 201, then 200 with the same id', async () => {
    const { body: booking } = await create();
    const first = await pay(booking.id);
    const again = await pay(booking.id);
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(first.body).toEqual({ id: expect.any(String), booking_id: booking.id, payment_id: 'pi_1', external_reference: 'bk_1' });
    expect(again.body).toEqual(first.body);
    expect(sim.associateCount).toBe(1);
    expect(sim.booking('bk_1')!.payments).toEqual([expect.objectContaining({ id: first.body.id, paymentId: 'pi_1', amount: { amount: 123450, currency: 'EUR' } })]);
    const second = await pay(booking.id, { payment_id: 'pi_2', amount: '10.00' });
    expect(second.status).toBe(201);
    expect(sim.payments()).toHaveLength(2);
  });

  it('404 for an unknown booking', async () => {
    const res = await pay('00000000-0000-0000-0000-000000000000');
    expect([res.status, res.body.error]).toEqual([404, 'not_found']);
  });

  it('409 when the payment id is reused with another amount or on another booking, or the reference does not match', async () => {
    const { body: a } = await create();
    const { body: b } = await create({ external_reference: 'bk_2' });
    await pay(a.id);
    const otherAmount = await pay(a.id, { amount: '1.00' });
    const otherBooking = await pay(b.id, { external_reference: 'bk_2' });
    const wrongRef = await pay(b.id, { payment_id: 'pi_9' });
    expect([otherAmount.status, otherAmount.body.error]).toEqual([409, 'payment_id_reused']);
    expect([otherBooking.status, otherBooking.body.error]).toEqual([409, 'payment_id_reused']);
    expect([wrongRef.status, wrongRef.body.error]).toEqual([409, 'external_reference_mismatch']);
    expect(sim.associateCount).toBe(1);
  });

  it('validates the payment: required fields, decimals, the booking’s currency', async () => {
    const { body: booking } = await create();
    const empty = await call('POST', `/contact-bookings/${booking.id}/payments`, {});
    expect(fieldsOf(empty.body).sort()).toEqual(['amount', 'currency', 'external_reference', 'payment_id']);
    const usd = await pay(booking.id, { currency: 'USD' });
    expect([usd.status, usd.body.errors]).toEqual([400, [{ field: 'currency', message: "must be the booking's currency (EUR)" }]]);
    const float = await pay(booking.id, { amount: 1234.5 });
    expect(float.status).toBe(400);
    expect(sim.associateCount).toBe(0);
  });
});

describe('behaviour hooks', () => {
  it('down: every request 503, nothing happens', async () => {
    sim.down = true;
    const res = await create();
    expect([res.status, res.body.error]).toEqual([503, 'unavailable']);
    expect(sim.createCount).toBe(0);
    sim.down = false;
    expect((await create()).status).toBe(201);
  });

  it('hang: never answers (the caller times out), and close() still returns promptly', async () => {
    const local = await startCrmSimulator({ hang: true });
    const started = Date.now();
    await expect(fetch(`${local.url}/contact-bookings`, { method: 'POST', signal: AbortSignal.timeout(150) })).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(local.requests()[0]).toMatchObject({ status: null, outcome: 'hung' });
    const pending = fetch(`${local.url}/contact-bookings`, { method: 'POST' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await local.close();
    expect(await pending).toHaveProperty('name', 'TypeError'); // fetch failed: the hung request is dropped, not left open
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('latencyMs delays every answer', async () => {
    sim.latencyMs = 120;
    const started = Date.now();
    expect((await create()).status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('failNext: the next n requests fail as given, then the CRM works', async () => {
    sim.failNext(2, 502);
    expect((await create()).status).toBe(502);
    expect((await create()).status).toBe(502);
    expect((await create()).status).toBe(201);
    expect(sim.requests().map((r) => r.outcome)).toEqual(['injected', 'injected', 'created']);
    expect(sim.createCount).toBe(1);
  });

  it('failNext by operation, and "after": the CRM acts, then the answer is lost', async () => {
    const { body: booking } = await create();
    sim.failNext(1, 500, { operation: 'associatePayment', when: 'after' });
    expect((await create({ external_reference: 'bk_2' })).status).toBe(201); // not an associatePayment
    expect((await pay(booking.id)).status).toBe(500);
    expect(sim.associateCount).toBe(1); // it did happen
    const retried = await pay(booking.id);
    expect([retried.status, retried.body.id]).toEqual([200, sim.payments()[0]!.id]);
  });

  it('failNext by external reference: only that booking\'s request fails, whatever comes first', async () => {
    sim.failNext(1, 503, { operation: 'createContactBooking', externalReference: 'bk_target', when: 'after' });
    expect((await create({ external_reference: 'bk_other' })).status).toBe(201);
    expect((await create({ external_reference: 'bk_target' })).status).toBe(503);
    expect(sim.booking('bk_target')).toBeDefined(); // created, only the answer was lost
    const again = await create({ external_reference: 'bk_target' });
    expect([again.status, again.body.id]).toEqual([200, sim.booking('bk_target')!.id]);
    expect([sim.createCount, sim.duplicateCount]).toEqual([2, 1]);
  });

  it('failNext(n, "hang") never answers those requests', async () => {
    sim.failNext(1, 'hang');
    await expect(fetch(`${sim.url}/contact-bookings`, { method: 'POST', signal: AbortSignal.timeout(100) })).rejects.toThrow();
    expect((await create()).status).toBe(201);
  });

  it('errorRate fails a deterministic share of requests for a seed, without effect', async () => {
    const statuses = async (s: CrmSimulator, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${s.url}/contact-bookings`, { method: 'POST', headers: { Authorization: `Bearer ${s.apiKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify(payload({ external_reference: `r${i}` })) });
        out.push(res.status);
      }
      return out;
    };
    const a = await startCrmSimulator({ errorRate: 0.5, seed: 42 });
    const b = await startCrmSimulator({ errorRate: 0.5, seed: 42, errorStatus: 500 });
    try {
      const first = await statuses(a, 40);
      expect(await statuses(b, 40)).toEqual(first);
      const failed = first.filter((s) => s === 500).length;
      expect(failed).toBeGreaterThan(8);
      expect(failed).toBeLessThan(32);
      expect(a.createCount).toBe(40 - failed);
      a.reset(); // back to the seed
      expect(await statuses(a, 40)).toEqual(first);
      a.configure({ errorRate: 0 });
      expect((await statuses(a, 5)).every((s) => s === 201 || s === 200)).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses nonsense behaviour', () => {
    expect(() => sim.configure({ errorRate: 2 })).toThrow(RangeError);
    expect(() => (sim.latencyMs = -1)).toThrow(RangeError);
    expect(() => sim.failNext(0, 500)).toThrow(RangeError);
    expect(() => sim.failNext(1, 200)).toThrow(RangeError);
  });
});

describe('request log and counters', () => {
  it('records method, path, headers, raw and parsed body, status and outcome', async () => {
    await create();
    await call('POST', '/contact-bookings', payload(), { Authorization: 'Bearer x' });
    const [ok, unauthorized] = sim.requests();
    expect(ok).toMatchObject({ method: 'POST', path: '/contact-bookings', operation: 'createContactBooking', status: 201, outcome: 'created', body: payload() });
    expect(JSON.parse(ok!.rawBody)).toEqual(payload());
    expect(ok!.headers.authorization).toBe('Bearer crm_test_key');
    expect(unauthorized).toMatchObject({ status: 401, outcome: 'unauthorized' });
    expect(sim.requests('associatePayment')).toEqual([]);
    sim.clearRequests();
    expect(sim.requests()).toEqual([]);
    expect(sim.createCount).toBe(1);
  });

  it('reset forgets everything and restores the start behaviour', async () => {
    const local = await startCrmSimulator({ latencyMs: 5 });
    try {
      local.configure({ latencyMs: 50, down: true });
      local.failNext(3, 500);
      local.reset();
      expect([local.latencyMs, local.down, local.createCount, local.bookings(), local.requests()]).toEqual([5, false, 0, [], []]);
    } finally {
      await local.close();
    }
  });
});
