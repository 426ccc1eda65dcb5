/**
 * Kafka unreachable (a broker address nobody listens on) with a real PostgreSQL (DATABASE_URL):
 * commands are still accepted and stored, the outbox backlog grows and is reported, and /readyz
 * says "degraded" (200: the instance keeps taking traffic). The drain after the broker returns is
 * proved on a real broker in projections/finance/finance.kafka.test.ts and the relay tests.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { startTestService, type TestService, scrape } from '../test/support/service';

describe('Kafka down (PostgreSQL)', () => {
  let svc: TestService;
  const schema = `kd_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: '127.0.0.1:1', LOG_LEVEL: 'error' });
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  test('commands still succeed, the backlog grows, /readyz is 200 "degraded"', async () => {
    const admin = client(svc.url, ADMIN_KEY);
    expect((await admin.post('/v1/tenants', { tenantId: 'acme', name: 'Acme' })).status).toBe(201);
    const api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/acme/api-keys', {})).body.apiKey);
    for (let i = 0; i < 3; i++) {
      const r = await api.post('/v1/invoices', {
        customerId: 'c1',
        customer: { name: 'C', email: 'c@example.com' },
        currency: 'EUR',
        lineItems: [{ description: 'x', quantity: 1, unitAmount: 100 }],
        dueDate: '2026-12-31',
        allowedPaymentMethods: ['paypal'],
      });
      expect(r.status).toBe(201);
    }
    // a payment fact produces an outbox message that cannot leave
    const { rows } = await svc.runtime.db.query<{ n: string }>(`SELECT count(*) AS n FROM events`);
    expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(3);
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: { messaging: { ok: boolean; detail: string } } };
    expect(body.status).toBe('degraded');
    expect(body.checks.messaging).toMatchObject({ ok: false, detail: expect.stringContaining('kafka unreachable') });
    await svc.runtime.db.query(
      `INSERT INTO outbox (message_id, topic, message_key, value) VALUES (gen_random_uuid(), 'settle.payments.v1', 'k', '{}'::jsonb)`,
    );
    await eventually(async () => (await svc.runtime.relay.status()).backlog >= 1);
    const metrics = await scrape(svc);
    expect(metrics).toMatch(/settle_outbox_backlog [1-9]/);
  });
});
