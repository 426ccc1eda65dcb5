/**
 * Named regression (issue #15, defect 3b): PATCH /v1/departures/{id} accepted a capacity below the
 * seats already taken, leaving more confirmed bookings than seats. Now it is refused with a 409
 * problem (capacity-below-seats-taken, naming the seats taken) and the departure is unchanged; a
 * capacity equal to the seats taken is accepted. Black box: the built service on PostgreSQL
 * (DATABASE_URL) with in-process messaging. Values at their limits: 100-character tenant and
 * departure ids, JPY (no minor unit).
 */
import { newBooking, newDeparture } from '../driver/bookings';
import { expectStatus, startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('a departure capacity below the seats taken (PostgreSQL, in-process messaging)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test('is refused with a 409 problem naming the seats taken; the departure keeps its capacity', async () => {
    const tenant = await newTenant(settle, idOfLength('Tcap'));
    const departureId = await newDeparture(tenant, 'cap', 3);
    const price = { amount: 120_000, currency: 'JPY' };
    await newBooking(tenant, departureId, price, 'Ada');
    await newBooking(tenant, departureId, price, 'Grace');
    const departure = async () => (await tenant.api.get<any>(`/v1/departures/${departureId}`)).body;
    expect(await until(departure, (d) => d.seatsTaken === 2)).toMatchObject({ capacity: 3, seatsTaken: 2 });

    const below = await tenant.api.patch<any>(`/v1/departures/${departureId}`, { capacity: 1 });
    expect(below.status).toBe(409);
    expect(below.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(below.body).toMatchObject({ type: 'https://settle.dev/problems/capacity-below-seats-taken', status: 409, seatsTaken: 2 });
    expect(await departure()).toMatchObject({ capacity: 3, seatsTaken: 2 });

    const exact = await tenant.api.patch<any>(`/v1/departures/${departureId}`, { capacity: 2 });
    expectStatus(exact, 200, 'capacity equal to the seats taken');
    expect(exact.body).toMatchObject({ capacity: 2, seatsTaken: 2 });
    // full now: the next booking waits
    expect((await newBooking(tenant, departureId, price, 'Alan')).status).toBe('waitlisted');
  }, 60_000);
});
