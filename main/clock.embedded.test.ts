/**
 * The Clock injected at the composition root decides business time: a booking requested through
 * the API while the clock stands at 2031-01-10 has its balance due 30 days after *that* instant,
 * and the read side decides "overdue" against the same clock. The service runs in-process on
 * its embedded default (PGlite in a temp DATA_DIR, in-process bus).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FixedClock } from '../domain/ports/clock';
import { ADMIN_KEY, client } from '../test/support/api';
import { eventually } from '../test/support/events';
import { startTestService, type TestService } from '../test/support/service';

describe('the injected clock', () => {
  const clock = new FixedClock('2031-01-10T12:00:00.000Z');
  let dir: string;
  let svc: TestService;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-clock-'));
    svc = await startTestService({ DATA_DIR: dir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined, ADMIN_API_KEY: ADMIN_KEY }, undefined, clock);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a booking's balance due instant is computed from the clock's now, not the wall clock", async () => {
    const admin = client(svc.url, ADMIN_KEY);
    expect((await admin.post('/v1/tenants', { tenantId: 'clock-t', name: 'Clock' })).status).toBe(201);
    const key = await admin.post<{ apiKey: string }>('/v1/tenants/clock-t/api-keys', {});
    const api = client(svc.url, key.body.apiKey);
    expect((await api.post('/v1/departures', { departureId: 'dep-clock', name: 'Clock tour', paymentScheduleId: 'sched', capacity: 5 })).status).toBe(201);
    const r = await api.post<{ bookingId: string; schedule?: { balanceDueAt: string } }>('/v1/bookings', {
      departureId: 'dep-clock',
      contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
      guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
      price: { amount: 100_000, currency: 'EUR' },
      schedule: { deposit: { percent: 20 }, balanceDueDays: 30 },
    });
    expect(r.status).toBe(201);
    let schedule: { balanceDueAt: string; overdue: boolean } | null = null;
    await eventually(async () => {
      const g = await api.get<{ schedule: { balanceDueAt: string; overdue: boolean } | null }>(`/v1/bookings/${r.body.bookingId}`);
      schedule = g.status === 200 ? g.body.schedule : null;
      return schedule !== null;
    });
    expect(schedule).toMatchObject({ balanceDueAt: '2031-02-09T12:00:00.000Z', overdue: false });
  });
});
