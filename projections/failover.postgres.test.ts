/**
 * Two service instances on one real PostgreSQL database (DATABASE_URL): instance A is the built
 * service in a child process, instance B runs in this process. Each projection runs on exactly
 * one of them and applies each event once; when A is killed (SIGKILL), B takes over within
 * seconds.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { spawnService, type ServiceProcess } from '../test/support/process';
import { startTestService, type TestService } from '../test/support/service';

interface ProjectionInfo {
  name: string;
  leaderHere: boolean;
}

describe('two instances, one database (PostgreSQL)', () => {
  const schema = `fo_${randomBytes(5).toString('hex')}`;
  let a: ServiceProcess;
  let b: TestService;

  beforeAll(async () => {
    a = await spawnService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY });
    b = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await a?.kill();
    await b?.shutdown('test end');
    await dropSchema(schema);
  });

  async function leaders(url: string): Promise<Record<string, boolean>> {
    const r = await client(url, ADMIN_KEY).get<{ data: ProjectionInfo[] }>('/v1/admin/projections');
    return Object.fromEntries(r.body.data.map((p) => [p.name, p.leaderHere]));
  }

  async function countRows(sql: string): Promise<number> {
    const { rows } = await b.runtime.db.query<{ n: string }>(sql);
    return Number(rows[0]!.n);
  }

  test('each projection runs on exactly one instance, applies every event once, and fails over when its instance is killed', async () => {
    // A started first and holds every projection
    await eventually(async () => Object.values(await leaders(a.url)).every(Boolean), 15_000);
    expect(Object.values(await leaders(b.url)).some(Boolean)).toBe(false);

    const admin = client(b.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'coach', name: 'Coach' });
    const coach = client(b.url, (await admin.post<{ apiKey: string }>('/v1/tenants/coach/api-keys', {})).body.apiKey);
    const issue = (n: number) =>
      coach.post<{ invoiceId: string; position: string }>('/v1/invoices', {
        customerId: `client-${n}`,
        customer: { name: `Client ${n}`, email: `c${n}@example.com` },
        currency: 'EUR',
        lineItems: [{ description: 'Session', quantity: 1, unitAmount: 1000 * n }],
        dueDate: '2026-12-31',
        allowedPaymentMethods: ['paypal'],
      });

    const before = await Promise.all([1, 2, 3, 4, 5].map(issue));
    for (const r of before) expect(r.status).toBe(201);
    const last = before[before.length - 1]!.body.position;
    // read through B, projected by A
    const listed = await coach.get<{ data: unknown[] }>(`/v1/invoices?min_position=${before.map((r) => r.body.position).sort().pop()}`);
    expect(listed.headers.get('settle-stale')).toBeNull();
    await eventually(async () => (await countRows(`SELECT count(*) AS n FROM invoices`)) === 5);
    expect(last).toMatch(/^\d+\/\d+$/);

    // kill A without any chance to clean up
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    const after = await Promise.all([6, 7, 8].map(issue));
    await eventually(async () => Object.values(await leaders(b.url)).every(Boolean), 20_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(20_000);
    const fresh = await coach.get(`/v1/invoices/${after[2]!.body.invoiceId}?min_position=${after[2]!.body.position}`);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('settle-stale')).toBeNull();

    // exactly once across both instances: one history row per invoice event, one row per invoice
    await eventually(async () => (await countRows(`SELECT count(*) AS n FROM invoices`)) === 8, 20_000);
    const events = await countRows(`SELECT count(*) AS n FROM events WHERE stream_id LIKE 'invoice-%'`);
    await eventually(async () => (await countRows(`SELECT count(*) AS n FROM invoice_history`)) === events, 20_000);
    expect(await countRows(`SELECT count(DISTINCT (stream_id, revision)) AS n FROM invoice_history`)).toBe(events);
    expect(await countRows(`SELECT count(*) AS n FROM projection_dead_letters`)).toBe(0);
  });
});
