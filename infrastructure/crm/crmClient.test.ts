/**
 * The CRM client against the local CRM simulator (test/simulators/crm): the exact payload, the
 * ids it returns, deduplication on the external reference, and the error vocabulary the saga
 * retries on (timeout, unavailable) or gives up on (rejected).
 */
import { startCrmSimulator, type CrmSimulator } from '../../test/simulators/crm';
import { CrmError as PortCrmError } from '../../domain/ports/crm';
import { CrmCallError, CrmClient, contactBookingPayload, DEFAULT_CRM_TIMEOUT_MS } from './crmClient';
import { CrmError, type CrmContactBookingRequest } from './port';

let sim: CrmSimulator;
let crm: CrmClient;
let seq = 0;

const request = (over: Partial<CrmContactBookingRequest> = {}): CrmContactBookingRequest => ({
  externalReference: `bk_${++seq}`,
  departureId: 'dep-2027-iceland-01',
  paymentScheduleId: 'ps-deposit-30',
  contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
  guests: [
    { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', isClient: true },
    { firstName: 'Charles', lastName: 'Babbage', isClient: false },
  ],
  amount: { amount: 123450, currency: 'EUR' },
  waitlisted: false,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<CrmCallError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CrmCallError);
    return err as CrmCallError;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  sim = await startCrmSimulator();
});
afterAll(() => sim.close());
beforeEach(() => {
  sim.reset();
  crm = new CrmClient({ baseUrl: sim.url, apiKey: sim.apiKey, timeoutMs: 2000 });
});

describe('createContactBooking', () => {
  it('sends the Peak15-style payload, authenticated, to POST /contact-bookings', async () => {
    const req = request({ externalReference: 'bk_payload' });
    const res = await crm.createContactBooking(req);

    const [sent] = sim.requests('createContactBooking');
    expect(sent).toMatchObject({ method: 'POST', path: '/contact-bookings', status: 201 });
    expect(sent!.headers.authorization).toBe(`Bearer ${sim.apiKey}`);
    expect(sent!.headers['content-type']).toMatch(/^application\/json/);
    expect(sent!.body).toEqual({
      external_reference: 'bk_payload',
      'contact.firstname': 'Ada',
      'contact.lastname': 'Lovelace',
      'contact.emailaddress1': 'ada@example.com',
      'contact.primaryphone': '+44 20 7946 0000',
      'p15_bookings.p15_tripdepartures_bookingsid': 'dep-2027-iceland-01',
      'p15_bookings.p15_waitlisted': false,
      p15_guests: [
        { 'contact.firstname': 'Ada', 'contact.lastname': 'Lovelace', 'contact.emailaddress1': 'ada@example.com', isClient: true },
        { 'contact.firstname': 'Charles', 'contact.lastname': 'Babbage', isClient: false },
      ],
      'p15_invoices.p15_paymentscheduleid': 'ps-deposit-30',
      amount: '1234.50',
      currency: 'EUR',
      returnallids: true,
    });

    const stored = sim.booking('bk_payload')!;
    expect(res).toEqual({ crmBookingId: stored.id, ids: stored.ids });
    expect(res.ids).toMatchObject({ p15_bookingsid: stored.id, contactid: expect.any(String), p15_invoicesid: expect.any(String), 'p15_guests.2.p15_guestsid': expect.any(String) });
    expect(stored.amount).toEqual({ amount: 123450, currency: 'EUR' });
  });

  it.each([
    [{ amount: 123450, currency: 'EUR' }, '1234.50'],
    [{ amount: 5, currency: 'EUR' }, '0.05'],
    [{ amount: 0, currency: 'USD' }, '0.00'],
    [{ amount: 500, currency: 'JPY' }, '500'],
    [{ amount: 1500, currency: 'KWD' }, '1.500'],
    [{ amount: 999_999_999_999_999, currency: 'EUR' }, '9999999999999.99'],
  ])('amount %j goes out as the decimal string %s (no floats)', async (amount, decimal) => {
    await crm.createContactBooking(request({ amount }));
    const sent = sim.requests('createContactBooking').at(-1)!;
    expect([sent.body.amount, sent.body.currency, sent.status]).toEqual([decimal, amount.currency, 201]);
    expect(sim.bookings()[0]!.amount).toEqual(amount);
  });

  it('sends waitlisted bookings as such', async () => {
    await crm.createContactBooking(request({ externalReference: 'bk_wait', waitlisted: true }));
    expect(sim.booking('bk_wait')!.waitlisted).toBe(true);
  });

  it('a second create with the same external reference returns the same ids and creates nothing', async () => {
    const req = request();
    const first = await crm.createContactBooking(req);
    const second = await crm.createContactBooking(req);
    expect(second).toEqual(first);
    expect(sim.requests('createContactBooking').map((r) => r.status)).toEqual([201, 200]);
    expect([sim.createCount, sim.duplicateCount, sim.bookings().length]).toEqual([1, 1, 1]);
  });

  it('the CRM created the booking but the answer was lost: the retry gets the same booking', async () => {
    sim.failNext(1, 502, { when: 'after' });
    const req = request();
    const err = await failure(crm.createContactBooking(req));
    expect([err.kind, err.status, err.retryable]).toEqual(['unavailable', 502, true]);
    const retried = await crm.createContactBooking(req);
    expect(retried.crmBookingId).toBe(sim.bookings()[0]!.id);
    expect(sim.createCount).toBe(1);
  });

  it('times out a CRM that never answers', async () => {
    crm = new CrmClient({ baseUrl: sim.url, apiKey: sim.apiKey, timeoutMs: 150 });
    sim.hang = true;
    const started = Date.now();
    const err = await failure(crm.createContactBooking(request()));
    expect(err).toBeInstanceOf(CrmError);
    expect([err.kind, err.status, err.retryable, err.operation]).toEqual(['timeout', null, true, 'createContactBooking']);
    expect(err.message).toMatch(/timed out after 150 ms/);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(sim.createCount).toBe(0);
  });

  it('a timeout against a slow CRM does not stop the CRM; the retry is deduplicated', async () => {
    crm = new CrmClient({ baseUrl: sim.url, apiKey: sim.apiKey, timeoutMs: 100 });
    sim.latencyMs = 300;
    const req = request();
    expect((await failure(crm.createContactBooking(req))).kind).toBe('timeout');
    await new Promise((r) => setTimeout(r, 400)); // the slow CRM finishes what it started
    expect(sim.createCount).toBe(1);
    sim.latencyMs = 0;
    const retried = await crm.createContactBooking(req);
    expect(retried.crmBookingId).toBe(sim.bookings()[0]!.id);
    expect([sim.createCount, sim.duplicateCount]).toEqual([1, 1]);
  });

  it.each([500, 502, 503, 504, 408, 429])('HTTP %i is unavailable (retry)', async (status) => {
    sim.failNext(1, status);
    const err = await failure(crm.createContactBooking(request()));
    expect([err.kind, err.status, err.retryable]).toEqual(['unavailable', status, true]);
    expect(err.body).toContain('simulated failure');
    expect(sim.createCount).toBe(0);
  });

  it('a CRM that is down is unavailable', async () => {
    sim.down = true;
    const err = await failure(crm.createContactBooking(request()));
    expect([err.kind, err.status]).toEqual(['unavailable', 503]);
  });

  it('no CRM listening is unavailable (connection refused)', async () => {
    const gone = await startCrmSimulator();
    await gone.close();
    const err = await failure(new CrmClient({ baseUrl: gone.url, apiKey: 'k' }).createContactBooking(request()));
    expect([err.kind, err.status, err.retryable]).toEqual(['unavailable', null, true]);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a wrong API key is rejected (401, not retried)', async () => {
    crm = new CrmClient({ baseUrl: sim.url, apiKey: 'wrong' });
    const err = await failure(crm.createContactBooking(request()));
    expect([err.kind, err.status, err.retryable]).toEqual(['rejected', 401, false]);
    expect(JSON.parse(err.body!)).toEqual({ error: 'unauthorized', message: 'invalid API key' });
  });

  it('a payload the CRM refuses is rejected with its status and field errors', async () => {
    const err = await failure(crm.createContactBooking(request({ contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'not-an-email', phone: '1' } })));
    expect([err.kind, err.status, err.retryable]).toEqual(['rejected', 400, false]);
    expect(JSON.parse(err.body!)).toMatchObject({ error: 'validation_failed', errors: [{ field: 'contact.emailaddress1', message: 'must be an email address' }] });
    expect(err.message).toMatch(/rejected: HTTP 400/);
  });

  it('any other 4xx is rejected', async () => {
    sim.failNext(1, 422);
    const err = await failure(crm.createContactBooking(request()));
    expect([err.kind, err.status]).toEqual(['rejected', 422]);
  });

  it('refuses, without sending, what the CRM could only refuse', async () => {
    const noGuests = await failure(crm.createContactBooking(request({ guests: [] })));
    const clientNotFirst = await failure(crm.createContactBooking(request({ guests: [{ firstName: 'A', lastName: 'B', isClient: false }] })));
    const floatAmount = await failure(crm.createContactBooking(request({ amount: { amount: 10.5, currency: 'EUR' } })));
    const badCurrency = await failure(crm.createContactBooking(request({ amount: { amount: 100, currency: 'EURO' } })));
    for (const e of [noGuests, clientNotFirst, floatAmount, badCurrency]) expect([e.kind, e.status, e.retryable]).toEqual(['rejected', null, false]);
    expect(floatAmount.message).toMatch(/integer of minor units/);
    expect(sim.requests()).toHaveLength(0);
  });

  it('an unreadable 2xx answer is unavailable (retrying is safe: creates are deduplicated)', async () => {
    const html = new CrmClient({ baseUrl: 'http://crm.invalid', apiKey: 'k', fetch: async () => new Response('<html>ok</html>', { status: 200 }) });
    const err = await failure(html.createContactBooking(request()));
    expect([err.kind, err.status]).toEqual(['unavailable', 200]);
    const noId = new CrmClient({ baseUrl: 'http://crm.invalid', apiKey: 'k', fetch: async () => Response.json({ ids: {} }, { status: 201 }) });
    expect((await failure(noId.createContactBooking(request()))).kind).toBe('unavailable');
  });

  it('an answer for another external reference is rejected', async () => {
    const wrong = new CrmClient({ baseUrl: 'http://crm.invalid', apiKey: 'k', fetch: async () => Response.json({ id: 'x', external_reference: 'someone-else' }, { status: 200 }) });
    expect((await failure(wrong.createContactBooking(request()))).kind).toBe('rejected');
  });
});

describe('associatePayment', () => {
  it('posts the payment to the booking and returns the CRM payment id; repeats are idempotent', async () => {
    const req = request({ externalReference: 'bk_pay' });
    const { crmBookingId } = await crm.createContactBooking(req);
    const payment = { crmBookingId, externalReference: 'bk_pay', paymentId: 'pi_123', amount: { amount: 123450, currency: 'EUR' } };
    const first = await crm.associatePayment(payment);
    const again = await crm.associatePayment(payment);

    const sent = sim.requests('associatePayment');
    expect(sent.map((r) => [r.path, r.status])).toEqual([
      [`/contact-bookings/${crmBookingId}/payments`, 201],
      [`/contact-bookings/${crmBookingId}/payments`, 200],
    ]);
    expect(sent[0]!.headers.authorization).toBe(`Bearer ${sim.apiKey}`);
    expect(sent[0]!.body).toEqual({ external_reference: 'bk_pay', payment_id: 'pi_123', amount: '1234.50', currency: 'EUR' });
    expect(again).toEqual(first);
    expect(first.crmPaymentId).toBe(sim.payments()[0]!.id);
    expect(sim.associateCount).toBe(1);
    expect(sim.booking(crmBookingId)!.payments).toHaveLength(1);
  });

  it('JPY goes out without decimals', async () => {
    const req = request({ amount: { amount: 50000, currency: 'JPY' } });
    const { crmBookingId } = await crm.createContactBooking(req);
    await crm.associatePayment({ crmBookingId, externalReference: req.externalReference, paymentId: 'pi_jpy', amount: { amount: 50000, currency: 'JPY' } });
    expect(sim.requests('associatePayment')[0]!.body).toMatchObject({ amount: '50000', currency: 'JPY' });
  });

  it('an unknown CRM booking is rejected with 404', async () => {
    const err = await failure(crm.associatePayment({ crmBookingId: 'nope', externalReference: 'bk_x', paymentId: 'pi_1', amount: { amount: 100, currency: 'EUR' } }));
    expect([err.kind, err.status, err.operation]).toEqual(['rejected', 404, 'associatePayment']);
  });

  it('a payment in another currency than the booking is rejected with 400', async () => {
    const req = request();
    const { crmBookingId } = await crm.createContactBooking(req);
    const err = await failure(crm.associatePayment({ crmBookingId, externalReference: req.externalReference, paymentId: 'pi_1', amount: { amount: 100, currency: 'USD' } }));
    expect([err.kind, err.status]).toEqual(['rejected', 400]);
  });

  it('times out and fails like createContactBooking', async () => {
    const req = request();
    const { crmBookingId } = await crm.createContactBooking(req);
    const payment = { crmBookingId, externalReference: req.externalReference, paymentId: 'pi_t', amount: req.amount };
    crm = new CrmClient({ baseUrl: sim.url, apiKey: sim.apiKey, timeoutMs: 100 });
    sim.failNext(1, 'hang', { operation: 'associatePayment' });
    expect((await failure(crm.associatePayment(payment))).kind).toBe('timeout');
    sim.failNext(1, 503, { operation: 'associatePayment', when: 'after' });
    expect((await failure(crm.associatePayment(payment))).kind).toBe('unavailable');
    await crm.associatePayment(payment);
    expect(sim.associateCount).toBe(1);
  });

  it('refuses an empty booking id without sending', async () => {
    const err = await failure(crm.associatePayment({ crmBookingId: '', externalReference: 'bk', paymentId: 'pi', amount: { amount: 1, currency: 'EUR' } }));
    expect([err.kind, err.status]).toEqual(['rejected', null]);
    expect(sim.requests()).toHaveLength(0);
  });
});

describe('the client', () => {
  it('throws the port’s CrmError class (the saga’s instanceof holds)', async () => {
    sim.down = true;
    const err = await failure(crm.createContactBooking(request()));
    expect(err).toBeInstanceOf(PortCrmError);
    expect(err.name).toBe('CrmError');
  });

  it('checks its configuration', () => {
    expect(() => new CrmClient({ baseUrl: 'not a url', apiKey: 'k' })).toThrow(RangeError);
    expect(() => new CrmClient({ baseUrl: 'ftp://crm', apiKey: 'k' })).toThrow(/http/);
    expect(() => new CrmClient({ baseUrl: 'http://crm', apiKey: '' })).toThrow(/apiKey/);
    expect(() => new CrmClient({ baseUrl: 'http://crm', apiKey: 'k', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(new CrmClient({ baseUrl: 'http://crm', apiKey: 'k' }).timeoutMs).toBe(DEFAULT_CRM_TIMEOUT_MS);
    expect(DEFAULT_CRM_TIMEOUT_MS).toBe(30_000);
  });

  it('tolerates a trailing slash on the base URL', async () => {
    crm = new CrmClient({ baseUrl: `${sim.url}/`, apiKey: sim.apiKey });
    await crm.createContactBooking(request());
    expect(sim.requests()[0]!.path).toBe('/contact-bookings');
  });

  it('builds the payload as a pure function', () => {
    expect(contactBookingPayload(request({ amount: { amount: 7, currency: 'JPY' } }))).toMatchObject({ amount: '7', currency: 'JPY', returnallids: true });
  });
});
