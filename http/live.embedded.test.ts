/**
 * Live status on the embedded default (PGlite, in-process messaging): the projection runner of
 * the process itself feeds the streams (no NOTIFY needed).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_KEY, client } from '../test/support/api';
import { ConsoleClient, openSse } from '../test/support/console';
import { startTestService, type TestService } from '../test/support/service';

describe('live status on the embedded database', () => {
  let svc: TestService;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-live-'));
    svc = await startTestService({ DATABASE_URL: undefined, KAFKA_BROKERS: undefined, DATA_DIR: dir, ADMIN_API_KEY: ADMIN_KEY, LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a booking stream in the console delivers the stage change; the payer link key is generated and kept under DATA_DIR', async () => {
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'acme', name: 'Acme' });
    const key = (await admin.post<{ apiKey: string }>('/v1/tenants/acme/api-keys', {})).body.apiKey;
    const api = client(svc.url, key);
    await api.post('/v1/departures', { departureId: 'D1', name: 'Trip', paymentScheduleId: 's', capacity: 5 });
    const bookingId = (
      await api.post<{ bookingId: string }>('/v1/bookings', {
        departureId: 'D1',
        contact: { firstName: 'Ada', lastName: 'L', email: 'ada@example.com', phone: '+1 555 0100' },
        guests: [{ firstName: 'Ada', lastName: 'L' }],
        price: { amount: 1000, currency: 'EUR' },
      })
    ).body.bookingId;
    const c = new ConsoleClient(svc.url);
    await c.signIn(key);
    for (let i = 0; i < 200 && (await c.get(`/admin/bookings/${bookingId}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 25));
    const sse = await openSse(`${svc.url}/admin/live/bookings/${bookingId}`, { cookie: c.cookieHeader() });
    let e = await sse.next();
    while (e.event !== 'status') e = await sse.next();
    expect(JSON.parse(e.data).state.stage).toBe('requested');
    expect((await api.post(`/v1/bookings/${bookingId}/cancel`, { reason: 'changed plans' })).status).toBeLessThan(300);
    let next = await sse.next();
    while (next.event !== 'status') next = await sse.next();
    expect(JSON.parse(next.data).state.stage).toBe('cancelled');
    expect(JSON.parse(next.data).html).toContain('Cancelled</span>');
    sse.close();
    expect(fs.readFileSync(path.join(dir, 'payer-link-secret'), 'utf8').length).toBeGreaterThanOrEqual(32);
    expect(svc.runtime.payerLinkSecret).toBe(fs.readFileSync(path.join(dir, 'payer-link-secret'), 'utf8').trim());
  });
});
