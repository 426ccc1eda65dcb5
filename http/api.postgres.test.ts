/**
 * The REST command API over HTTP against a real PostgreSQL server (DATABASE_URL), one schema
 * per run: authentication, tenant isolation, validation problems, idempotency keys, bookings.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { startTestService, type TestService } from '../test/support/service';

describe('REST command API (PostgreSQL)', () => {
  let svc: TestService;
  const schema = `api_${randomBytes(5).toString('hex')}`;
  let admin: ReturnType<typeof client>;
  let acme: ReturnType<typeof client>;
  let globex: ReturnType<typeof client>;

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined });
    admin = client(svc.url, ADMIN_KEY);
    for (const t of ['acme', 'globex']) expect((await admin.post('/v1/tenants', { tenantId: t, name: t.toUpperCase() })).status).toBe(201);
    const k1 = await admin.post<{ apiKey: string }>('/v1/tenants/acme/api-keys', { label: 'server' });
    const k2 = await admin.post<{ apiKey: string }>('/v1/tenants/globex/api-keys', {});
    acme = client(svc.url, k1.body.apiKey);
    globex = client(svc.url, k2.body.apiKey);
    expect((await acme.post('/v1/departures', { departureId: 'ICE-JUN', name: 'Iceland in June', paymentScheduleId: 'sched-ice', capacity: 1000 })).status).toBe(201);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  const booking = (over: Record<string, unknown> = {}) => ({
    departureId: 'ICE-JUN',
    contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
    guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
    price: { amount: 250000, currency: 'EUR' },
    ...over,
  });

  describe('authentication and tenants', () => {
    test('no key, an unknown key and a revoked key get 401 problem+json', async () => {
      for (const c of [client(svc.url), client(svc.url, 'sk_settle_nope')]) {
        const r = await c.get('/v1/bookings/x');
        expect(r.status).toBe(401);
        expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
        expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/unauthorized', status: 401 });
      }
      const k = await admin.post<{ apiKey: string; keyId: string; prefix: string }>('/v1/tenants/acme/api-keys', { label: 'temp' });
      expect(k.body.apiKey).toMatch(/^sk_settle_/);
      expect(k.body.apiKey.startsWith(k.body.prefix)).toBe(true);
      const temp = client(svc.url, k.body.apiKey);
      expect((await temp.get('/v1/departures/ICE-JUN')).status).toBe(200);
      expect((await admin.del(`/v1/tenants/acme/api-keys/${k.body.keyId}`)).status).toBe(204);
      expect((await temp.get('/v1/departures/ICE-JUN')).status).toBe(401);
    });

    test('keys are stored hashed: the plaintext is nowhere in the database', async () => {
      const k = await admin.post<{ apiKey: string }>('/v1/tenants/globex/api-keys', {});
      const { rows } = await svc.runtime.db.query<{ n: string }>(`SELECT count(*) AS n FROM api_keys WHERE key_hash = $1 OR prefix = $1`, [k.body.apiKey]);
      expect(Number(rows[0]!.n)).toBe(0);
    });

    test('tenant keys cannot use admin endpoints; admin calls need a tenant to act for', async () => {
      expect((await acme.post('/v1/tenants', { tenantId: 'evil', name: 'x' })).status).toBe(403);
      const r = await admin.get('/v1/departures/ICE-JUN');
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/tenant-required' });
      expect((await client(svc.url, ADMIN_KEY, { 'settle-tenant': 'acme' }).get('/v1/departures/ICE-JUN')).status).toBe(200);
      expect((await client(svc.url, ADMIN_KEY, { 'settle-tenant': 'nobody' }).get('/v1/departures/ICE-JUN')).status).toBe(404);
    });

    test("another tenant's booking or departure answers 404, for reads and commands", async () => {
      const b = await acme.post<{ bookingId: string; position: string }>('/v1/bookings', booking());
      expect(b.status).toBe(201);
      expect((await globex.get(`/v1/bookings/${b.body.bookingId}`)).status).toBe(404);
      expect((await globex.post(`/v1/bookings/${b.body.bookingId}/cancel`, { reason: 'x' })).status).toBe(404);
      expect((await globex.get('/v1/departures/ICE-JUN')).status).toBe(404);
      expect((await globex.post('/v1/bookings', booking())).status).toBe(422);
      expect((await acme.get(`/v1/bookings/${b.body.bookingId}?min_position=${b.body.position}`)).body).toMatchObject({ status: 'requested', stage: 'requested' });
    });
  });

  describe('validation', () => {
    test('malformed JSON is a 400 problem', async () => {
      const r = await acme.post('/v1/bookings', '{"departureId": ');
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/malformed-json' });
    });
    test('a non-JSON body is a 415', async () => {
      const r = await acme.post('/v1/bookings', 'departureId=ICE-JUN', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(r.status).toBe(415);
    });
    test('invalid fields are a 422 listing every offending path', async () => {
      const r = await acme.post<{ errors: Array<{ path: string }> }>('/v1/bookings', booking({ guests: [], price: { amount: 12.5, currency: 'eur' }, contact: { firstName: 'A' } }));
      expect(r.status).toBe(422);
      expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/validation-error', status: 422 });
      const paths = r.body.errors.map((e) => e.path);
      expect(paths).toEqual(expect.arrayContaining(['body.guests', 'body.price.amount', 'body.price.currency', 'body.contact.lastName', 'body.contact.email']));
    });
    test('money is integer minor units with an ISO 4217 currency; JPY has no minor unit', async () => {
      expect((await acme.post('/v1/bookings', booking({ price: { amount: 2500.5, currency: 'EUR' } }))).status).toBe(422);
      expect((await acme.post('/v1/bookings', booking({ price: { amount: 2500, currency: 'XYZ' } }))).status).toBe(422);
      expect((await acme.post('/v1/bookings', booking({ price: { amount: '2500', currency: 'EUR' } }))).status).toBe(422);
      const yen = await acme.post('/v1/bookings', booking({ price: { amount: 38000, currency: 'JPY' } }));
      expect(yen.status).toBe(201);
      expect(yen.body).toMatchObject({ price: { amount: 38000, currency: 'JPY' } });
    });
    test('unknown fields are refused rather than ignored', async () => {
      const r = await acme.post<{ errors: Array<{ path: string }> }>('/v1/bookings', booking({ amount: 5 }));
      expect(r.status).toBe(422);
    });
  });

  describe('bookings', () => {
    test('a request answers with the booking, its stream revision and global position', async () => {
      const r = await acme.post<Record<string, unknown> & { bookingId: string; position: string }>('/v1/bookings', booking({ guests: [{ firstName: 'Ada', lastName: 'Lovelace' }, { firstName: 'Charles', lastName: 'Babbage' }] }));
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({
        status: 'requested',
        guests: [
          { firstName: 'Ada', isClient: true },
          { firstName: 'Charles', isClient: false },
        ],
        paymentScheduleId: 'sched-ice',
        revision: '0',
      });
      expect(r.body.position).toMatch(/^\d+\/\d+$/);
      expect(r.headers.get('settle-position')).toBe(r.body.position);
      expect(r.headers.get('location')).toBe(`/v1/bookings/${r.body.bookingId}`);
    });

    test('a full departure waitlists; an inquire departure produces an inquiry', async () => {
      await acme.post('/v1/departures', { departureId: 'TINY', name: 'Tiny', paymentScheduleId: null, capacity: 1 });
      expect((await acme.post('/v1/bookings', booking({ departureId: 'TINY' }))).body).toMatchObject({ status: 'requested' });
      expect((await acme.post('/v1/bookings', booking({ departureId: 'TINY' }))).body).toMatchObject({ status: 'waitlisted' });
      const patched = await acme.patch('/v1/departures/TINY', { inquireToBook: true });
      expect(patched.body).toMatchObject({ inquireToBook: true, seatsTaken: 1 });
      expect((await acme.post('/v1/bookings', booking({ departureId: 'TINY' }))).body).toMatchObject({ status: 'inquiry' });
    });

    test('cancel before payment frees the seat; refunds of an unpaid booking are a 409 refusal; retrying a CRM stage with none failed is a 409', async () => {
      await acme.post('/v1/departures', { departureId: 'ONE', name: 'One seat', paymentScheduleId: null, capacity: 1 });
      const b = await acme.post<{ bookingId: string }>('/v1/bookings', booking({ departureId: 'ONE' }));
      const refund = await acme.post(`/v1/bookings/${b.body.bookingId}/refunds`, { amount: { amount: 100, currency: 'EUR' } });
      expect(refund.status).toBe(409);
      expect(refund.body).toMatchObject({ type: 'https://settle.dev/problems/booking-not-paid', code: 'booking_not_paid' });
      const retry = await acme.post(`/v1/bookings/${b.body.bookingId}/crm-retry`, { requestedBy: 'ops' });
      expect(retry.status).toBe(409);
      const c = await acme.post(`/v1/bookings/${b.body.bookingId}/cancel`, { reason: 'changed plans' });
      expect(c.status).toBe(200);
      expect(c.body).toMatchObject({ status: 'cancelled' });
      expect((await acme.get('/v1/departures/ONE')).body).toMatchObject({ seatsTaken: 0 });
      expect((await acme.post('/v1/bookings', booking({ departureId: 'ONE' }))).body).toMatchObject({ status: 'requested' });
    });
  });

  describe('Idempotency-Key', () => {
    test('the same key and body replays the first response without running the command again', async () => {
      const key = `k-${randomBytes(4).toString('hex')}`;
      const first = await acme.post<{ bookingId: string }>('/v1/bookings', booking(), { 'idempotency-key': key });
      const again = await acme.post<{ bookingId: string }>('/v1/bookings', booking(), { 'idempotency-key': key });
      expect(first.status).toBe(201);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      const streams = await svc.runtime.db.query(`SELECT 1 FROM streams WHERE stream_id LIKE 'booking-acme.%'`);
      const before = streams.rows.length;
      await acme.post('/v1/bookings', booking(), { 'idempotency-key': key });
      expect((await svc.runtime.db.query(`SELECT 1 FROM streams WHERE stream_id LIKE 'booking-acme.%'`)).rows.length).toBe(before);
    });

    test('the same key with a different body is a 422', async () => {
      const key = `k-${randomBytes(4).toString('hex')}`;
      await acme.post('/v1/bookings', booking(), { 'idempotency-key': key });
      const r = await acme.post('/v1/bookings', booking({ price: { amount: 1, currency: 'EUR' } }), { 'idempotency-key': key });
      expect(r.status).toBe(422);
      expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/idempotency-key-reused' });
    });

    test('a refusal is replayed too, and keys are per tenant', async () => {
      const key = `k-${randomBytes(4).toString('hex')}`;
      const bad = await acme.post('/v1/bookings', booking({ departureId: 'NOPE' }), { 'idempotency-key': key });
      expect(bad.status).toBe(422);
      const replay = await acme.post('/v1/bookings', booking({ departureId: 'NOPE' }), { 'idempotency-key': key });
      expect(replay.status).toBe(422);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.headers.get('content-type')).toMatch(/problem\+json/);
      // the same key used by another tenant is that tenant's own key
      await globex.post('/v1/departures', { departureId: 'NOPE', name: 'Now exists for globex', paymentScheduleId: null, capacity: 5 });
      expect((await globex.post('/v1/bookings', booking({ departureId: 'NOPE' }), { 'idempotency-key': key })).status).toBe(201);
    });

    test('concurrent requests with one key run the command once', async () => {
      const key = `k-${randomBytes(4).toString('hex')}`;
      const results = await Promise.all(Array.from({ length: 8 }, () => acme.post<{ bookingId?: string }>('/v1/bookings', booking(), { 'idempotency-key': key })));
      const ok = results.filter((r) => r.status === 201);
      const busy = results.filter((r) => r.status === 409);
      expect(ok.length + busy.length).toBe(8);
      expect(new Set(ok.map((r) => r.body.bookingId)).size).toBe(1);
      for (const b of busy) expect(b.headers.get('retry-after')).toBe('1');
    });

    test('keys are kept at least 24 hours', async () => {
      const key = `k-${randomBytes(4).toString('hex')}`;
      await acme.post('/v1/bookings', booking(), { 'idempotency-key': key });
      await svc.runtime.db.query(`UPDATE idempotency_keys SET created_at = clock_timestamp() - interval '23 hours' WHERE idempotency_key = $1`, [key]);
      await svc.runtime.idempotency.prune(1);
      expect((await acme.post('/v1/bookings', booking(), { 'idempotency-key': key })).headers.get('idempotent-replayed')).toBe('true');
    });
  });

  test('GET /openapi.json is an OpenAPI 3.1 document generated from the request schemas', async () => {
    const r = await client(svc.url).get<{ openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required: string[] } }> } }>> }>('/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    const schema = r.body.paths['/v1/bookings']!.post!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['departureId', 'contact', 'guests', 'price']));
    expect(r.body.paths['/v1/bookings/{bookingId}/refunds']).toBeDefined();
  });
});
