/**
 * Named regression (issue #15, defect 6): an Idempotency-Key retry whose JSON body differed only in
 * whitespace or key order (as another JSON library, or the same one after a restart, writes it)
 * was refused as "a different body". Now the body is compared as canonical JSON: such a retry
 * replays the first answer (same status and body, `Idempotent-Replayed: true`) and creates
 * nothing; a body with another value is refused with 422 idempotency-key-reused. Black box: the
 * built service on PostgreSQL (DATABASE_URL) with in-process messaging. Values at their limits:
 * 100-character tenant and departure ids, KWD (three decimals).
 */
import { newDeparture } from '../driver/bookings';
import { startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('Idempotency-Key retries with the same JSON written differently (PostgreSQL, in-process messaging)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test('whitespace and key order: replayed, one booking; another value: 422', async () => {
    const tenant = await newTenant(settle, idOfLength('Tidem'));
    const departureId = await newDeparture(tenant, 'idem', 10);
    const body = {
      departureId,
      contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
      guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
      price: { amount: 1_500, currency: 'KWD' },
    };
    const compact = JSON.stringify(body);
    // the same JSON value: keys in another order at every level, other whitespace
    const reordered = `{\n  "price" : { "currency":"KWD",  "amount": 1500 },\n\t"guests":[ {"lastName":"Lovelace","firstName":"Ada"} ],\n  "contact": {"phone":"+44 20 7946 0000","email":"ada@example.com","lastName":"Lovelace","firstName":"Ada"},\n  "departureId": ${JSON.stringify(departureId)}\n}\n`;
    expect(JSON.parse(reordered)).toEqual(body);
    const key = idOfLength('idem-', 255);

    const first = await tenant.api.post<any>('/v1/bookings', compact, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await tenant.api.post<any>('/v1/bookings', reordered, { 'idempotency-key': key });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);

    const onDeparture = async () => ((await tenant.api.get<any>('/v1/bookings?limit=100')).body.data as any[]).filter((b) => b.departureId === departureId);
    await until(onDeparture, (l) => l.length > 0);
    expect(await onDeparture()).toEqual([expect.objectContaining({ bookingId: first.body.bookingId })]);

    const other = await tenant.api.post<any>('/v1/bookings', { ...body, price: { amount: 1_510, currency: 'KWD' } }, { 'idempotency-key': key });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(other.body).toMatchObject({ type: expect.stringMatching(/idempotency-key-reused$/), status: 422 });
  }, 60_000);
});
