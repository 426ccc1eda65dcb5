/**
 * Live streams (server-sent events) do not outlive their authorization, are capped, and share
 * their reads (real PostgreSQL, heartbeat 1 s):
 * - a revoked API key, a signed-out or expired console session, an expired payer link: the
 *   stream gets `event: end` and closes (no further status, no heartbeats keeping it alive);
 * - streams per principal (key, session, link) and per client address are capped: 429 problem;
 * - ten streams on one booking cost one read per change, not ten.
 */
import { randomBytes } from 'node:crypto';
import { ReadModels } from '../../projections/queries';
import { payerLinkPath } from '../../http/payerLinks';
import { ADMIN_KEY, client } from '../support/api';
import { ConsoleClient, openSse, type SseEvent } from '../support/console';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, type TestService } from '../support/service';

const PAYER_SECRET = 'payer-link-secret-for-the-live-security-tests-0123';

type Sse = Awaited<ReturnType<typeof openSse>>;

/** Events until `end` (inclusive), then checks the server closed the stream. */
async function untilEnd(sse: Sse, timeoutMs: number): Promise<{ events: SseEvent[]; end: SseEvent }> {
  const events: SseEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = await sse.next(Math.max(1, deadline - Date.now()));
    if (e.event === 'end') {
      await expect(sse.next(3000)).rejects.toThrow('stream ended');
      return { events, end: e };
    }
    events.push(e);
  }
}

async function firstStatus(sse: Sse): Promise<SseEvent> {
  let e = await sse.next();
  while (e.event !== 'status') e = await sse.next();
  return e;
}

describe('security: live streams', () => {
  let svc: TestService;
  const schema = `sec_lv_${randomBytes(5).toString('hex')}`;
  let tenantKey: string;

  beforeAll(async () => {
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      PAYER_LINK_SECRET: PAYER_SECRET,
      LIVE_HEARTBEAT_SECONDS: '1',
      LIVE_STREAMS_PER_PRINCIPAL: '12',
      LIVE_STREAMS_PER_IP: '20',
      RATE_LIMIT_PUBLIC_BURST: '1000',
      LOG_LEVEL: 'warn',
    });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'acme', name: 'Acme' });
    tenantKey = (await admin.post<{ apiKey: string }>('/v1/tenants/acme/api-keys', {})).body.apiKey;
    await client(svc.url, tenantKey).post('/v1/departures', { departureId: 'D1', name: 'Trip', paymentScheduleId: 's', capacity: 100 });
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  async function newKey(): Promise<{ apiKey: string; keyId: string }> {
    return (await client(svc.url, ADMIN_KEY).post<{ apiKey: string; keyId: string }>('/v1/tenants/acme/api-keys', {})).body;
  }
  async function booking(): Promise<string> {
    const api = client(svc.url, tenantKey);
    const id = (
      await api.post<{ bookingId: string }>('/v1/bookings', {
        departureId: 'D1',
        contact: { firstName: 'Ada', lastName: 'L', email: 'ada@example.com', phone: '+1 555 0100' },
        guests: [{ firstName: 'Ada', lastName: 'L' }],
        price: { amount: 1000, currency: 'EUR' },
      })
    ).body.bookingId;
    for (let i = 0; i < 200 && (await api.get(`/v1/bookings/${id}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 25));
    return id;
  }
  const revoke = (keyId: string) => fetch(`${svc.url}/v1/tenants/acme/api-keys/${keyId}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const cancel = (id: string) => client(svc.url, tenantKey).post(`/v1/bookings/${id}/cancel`, { reason: 'changed plans' });

  test('a revoked API key: the stream sends no further status, ends and closes', async () => {
    const k = await newKey();
    const id = await booking();
    const sse = await openSse(`${svc.url}/v1/bookings/${id}/live`, { authorization: `Bearer ${k.apiKey}` });
    expect(sse.status).toBe(200);
    expect(JSON.parse((await firstStatus(sse)).data).state.stage).toBe('requested');
    expect((await revoke(k.keyId)).status).toBeLessThan(300);
    await cancel(id); // a change the revoked key must not see
    const { events, end } = await untilEnd(sse, 5000);
    expect(events.filter((e) => e.event === 'status')).toEqual([]);
    expect(JSON.parse(end.data)).toEqual({ reason: 'unauthorized' });
    // and reconnecting is refused
    expect((await fetch(`${svc.url}/v1/bookings/${id}/live`, { headers: { authorization: `Bearer ${k.apiKey}` } })).status).toBe(401);
  });

  test('with nothing changing, the heartbeat re-check ends the stream of a revoked key', async () => {
    const k = await newKey();
    const id = await booking();
    const sse = await openSse(`${svc.url}/v1/bookings/${id}/live`, { authorization: `Bearer ${k.apiKey}` });
    await firstStatus(sse);
    await sse.next(3000); // a heartbeat while the key is live
    expect((await revoke(k.keyId)).status).toBeLessThan(300);
    const t0 = Date.now();
    const { end } = await untilEnd(sse, 5000);
    expect(JSON.parse(end.data).reason).toBe('unauthorized');
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  test('console: sign-out ends its streams; an expired session ends its streams', async () => {
    const id = await booking();
    const c = new ConsoleClient(svc.url);
    await c.signIn(tenantKey);
    const sse = await openSse(`${svc.url}/admin/live/bookings/${id}`, { cookie: c.cookieHeader() });
    expect(sse.status).toBe(200);
    await firstStatus(sse);
    await c.post('/admin/sign-out', { _csrf: await c.csrf() });
    expect(JSON.parse((await untilEnd(sse, 5000)).end.data).reason).toBe('unauthorized');

    const d = new ConsoleClient(svc.url);
    await d.signIn(tenantKey);
    const sse2 = await openSse(`${svc.url}/admin/live/bookings/${id}`, { cookie: d.cookieHeader() });
    await firstStatus(sse2);
    // the session's lifetime runs out (as CONSOLE_SESSION_TTL_SECONDS would)
    await svc.runtime.db.query(`UPDATE console_sessions SET expires_at = clock_timestamp() - interval '1 second'`);
    expect(JSON.parse((await untilEnd(sse2, 5000)).end.data).reason).toBe('unauthorized');
  });

  test('payer link: the stream ends when the link expires', async () => {
    const api = client(svc.url, tenantKey);
    const invoiceId = (
      await api.post<{ invoiceId: string }>('/v1/invoices', {
        customerId: 'c1',
        customer: { name: 'C', email: 'c@example.com' },
        currency: 'EUR',
        lineItems: [{ description: 'Session', quantity: 1, unitAmount: 1200 }],
        dueDate: '2026-12-31',
        allowedPaymentMethods: ['stripe_connect'],
      })
    ).body.invoiceId;
    for (let i = 0; i < 200 && (await api.get(`/v1/invoices/${invoiceId}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 25));
    const expires = Math.floor(Date.now() / 1000) + 3;
    const [p, q] = payerLinkPath(PAYER_SECRET, { tenantId: 'acme', invoiceId, expires }).split('?');
    const sse = await openSse(`${svc.url}${p}/live?${q}`);
    expect(sse.status).toBe(200);
    await firstStatus(sse);
    const { events, end } = await untilEnd(sse, 8000);
    expect(JSON.parse(end.data).reason).toBe('unauthorized');
    expect(events.filter((e) => e.comment).length).toBeGreaterThanOrEqual(1); // it was alive until then
    expect(Date.now() / 1000).toBeGreaterThanOrEqual(expires);
  });

  test('caps: per key, then per address (429 problem); another address and a closed stream free room', async () => {
    const id = await booking();
    const a = await newKey();
    const b = await newKey();
    const open = (key: string, ip = '198.51.100.20') => openSse(`${svc.url}/v1/bookings/${id}/live`, { authorization: `Bearer ${key}`, 'x-forwarded-for': ip });
    const streamsA: Sse[] = [];
    for (let i = 0; i < 12; i++) streamsA.push(await open(a.apiKey));
    expect(streamsA.map((s) => s.status)).toEqual(Array(12).fill(200));
    const over = await fetch(`${svc.url}/v1/bookings/${id}/live`, { headers: { authorization: `Bearer ${a.apiKey}`, 'x-forwarded-for': '198.51.100.21' } });
    expect(over.status).toBe(429);
    expect(over.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await over.json()).toMatchObject({ type: 'https://settle.dev/problems/too-many-streams', status: 429 });
    // key b from the same address: 8 more reach the address cap of 20
    const streamsB: Sse[] = [];
    for (let i = 0; i < 8; i++) streamsB.push(await open(b.apiKey));
    expect(streamsB.map((s) => s.status)).toEqual(Array(8).fill(200));
    expect((await open(b.apiKey)).status).toBe(429);
    expect((await open(b.apiKey, '198.51.100.22')).status).toBe(200);
    streamsA.pop()!.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await open(a.apiKey);
    expect(again.status).toBe(200);
    for (const s of [...streamsA, ...streamsB, again]) s.close();
  });

  test('ten streams on one booking cost one read per change, not ten', async () => {
    const id = await booking();
    const streams: Sse[] = [];
    for (let i = 0; i < 10; i++) streams.push(await openSse(`${svc.url}/v1/bookings/${id}/live`, { authorization: `Bearer ${tenantKey}`, 'x-forwarded-for': `198.51.100.${40 + i}` }));
    for (const s of streams) await firstStatus(s);
    const spy = jest.spyOn(ReadModels.prototype, 'booking');
    try {
      await cancel(id);
      for (const s of streams) expect(JSON.parse((await firstStatus(s)).data).state.stage).toBe('cancelled');
      const reads = spy.mock.calls.filter(([, b]) => b === id).length;
      expect(reads).toBeGreaterThanOrEqual(1);
      expect(reads).toBeLessThanOrEqual(3); // a change may be signalled more than once; never once per stream
    } finally {
      spy.mockRestore();
      for (const s of streams) s.close();
    }
  });
});
