/**
 * Health and metrics cost the database little and are not open to the public (real PostgreSQL):
 * - /metrics is not served on the public port without METRICS_TOKEN; with it, only to its bearer;
 *   METRICS_PORT serves it on its own listener (loopback by default);
 * - N concurrent scrapes cost one query per database-backed gauge (events behind per projection,
 *   outbox backlog, inbox counts);
 * - N concurrent /readyz cost one database probe, and /readyz is rate-limited per client address.
 */
import { randomBytes } from 'node:crypto';
import { READINESS_PROBE_TTL_MS } from '../../infrastructure/observability/readiness';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, TEST_METRICS_TOKEN, type TestService } from '../support/service';

/** Counts queries whose SQL matches, on the service's pool. */
function countQueries(svc: TestService, patterns: Record<string, RegExp>): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(Object.keys(patterns).map((k) => [k, 0]));
  const db = svc.runtime.db;
  const query = db.query.bind(db);
  db.query = ((text: string, params?: unknown[]) => {
    for (const [k, re] of Object.entries(patterns)) if (re.test(text)) counts[k]!++;
    return query(text, params as never);
  });
  return counts;
}

describe('security: metrics and readiness', () => {
  const schemas: string[] = [];
  const started: TestService[] = [];
  async function service(extra: Record<string, string | undefined>): Promise<TestService> {
    const schema = `sec_m_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    const svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, KAFKA_BROKERS: undefined, LOG_LEVEL: 'warn', ...extra });
    started.push(svc);
    return svc;
  }
  afterAll(async () => {
    for (const s of started) await s.shutdown('test end');
    for (const s of schemas) await dropSchema(s);
  });

  test('without METRICS_TOKEN the public port has no /metrics; METRICS_PORT serves it on a loopback listener', async () => {
    const svc = await service({ METRICS_TOKEN: undefined, METRICS_PORT: '0', LOG_LEVEL: 'info' });
    const r = await fetch(`${svc.url}/metrics`);
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(svc.metricsPort).toEqual(expect.any(Number));
    const m = await fetch(`http://127.0.0.1:${svc.metricsPort}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toContain('settle_outbox_backlog');
    expect((await fetch(`http://127.0.0.1:${svc.metricsPort}/v1/invoices`)).status).toBe(404); // nothing else there
    expect(svc.logs.some((l) => l.msg === 'settle listening' && l.metrics === `127.0.0.1:${svc.metricsPort}`)).toBe(true);
  });

  test('with METRICS_TOKEN: 401 without or with a wrong bearer token, 200 with it', async () => {
    const svc = await service({});
    const none = await fetch(`${svc.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await none.json()).toMatchObject({ type: 'https://settle.dev/problems/unauthorized', status: 401 });
    expect((await fetch(`${svc.url}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token-000000000' } })).status).toBe(401);
    const ok = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('settle_projection_events_behind');
  });

  test('20 concurrent scrapes cost one query per database-backed gauge', async () => {
    const svc = await service({});
    const counts = countQueries(svc, { eventsBehind: /FROM events WHERE \(transaction_id, global_position\) >/, outbox: /AS backlog/, inbox: /FROM webhook_inbox GROUP BY status/ });
    const scrapes = await Promise.all(Array.from({ length: 20 }, () => fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } }).then((r) => r.text())));
    expect(scrapes.every((t) => t.includes('settle_projection_events_behind{projection="invoices"}'))).toBe(true);
    expect(counts).toEqual({ eventsBehind: svc.runtime.projections.length, outbox: 1, inbox: 1 });
    // and sequential scrapes within the interval reuse the values
    for (let i = 0; i < 5; i++) await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } });
    expect(counts).toEqual({ eventsBehind: svc.runtime.projections.length, outbox: 1, inbox: 1 });
  });

  test('/readyz: 20 concurrent probes cost one database probe; over the per-address budget 429, other addresses unaffected; /healthz is not limited', async () => {
    const svc = await service({ RATE_LIMIT_HEALTH_BURST: '25', RATE_LIMIT_HEALTH_PER_SECOND: '0.01' });
    await new Promise((r) => setTimeout(r, 1100)); // past any probe the start-up made
    const counts = countQueries(svc, { probe: /SELECT max\(version\) AS v FROM/ });
    const t0 = Date.now();
    const all = await Promise.all(Array.from({ length: 20 }, () => fetch(`${svc.url}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as { status: string } }))));
    const elapsedMs = Date.now() - t0;
    expect(all.every((r) => r.status === 200 && r.body.status === 'ready')).toBe(true);
    // one probe per reuse window the 20 answers spanned: one on an idle machine; a loaded CI
    // machine can spread the answers over more than READINESS_PROBE_TTL_MS, and each new window
    // may cost one more probe, never one per request
    expect(counts.probe).toBeGreaterThanOrEqual(1);
    expect(counts.probe).toBeLessThanOrEqual(1 + Math.floor(elapsedMs / READINESS_PROBE_TTL_MS));
    const more: number[] = [];
    for (let i = 0; i < 6; i++) more.push((await fetch(`${svc.url}/readyz`)).status);
    expect(more).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await fetch(`${svc.url}/readyz`);
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ type: 'https://settle.dev/problems/rate-limited', limit: 'health' });
    expect((await fetch(`${svc.url}/readyz`, { headers: { 'x-forwarded-for': '198.51.100.4' } })).status).toBe(200);
    for (let i = 0; i < 40; i++) expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
  });
});
