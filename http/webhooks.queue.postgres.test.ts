/**
 * Queue-first webhooks (PostgreSQL): a 200 means the event is stored; the applier applies it
 * afterwards. A crash between the answer and the apply loses nothing: the rows stay `received`
 * (counted by settle_webhook_inbox{status="received"}, the backlog gauge) and the next process
 * applies them.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { appliedRow, scrape, startTestService, type TestService } from '../test/support/service';
import { deliver, stripeEvent } from '../test/support/stripeEvents';

const SECRET = 'whsec_queue_test_secret';

describe('queue-first webhooks', () => {
  const schema = `whq_${randomBytes(5).toString('hex')}`;
  const env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, STRIPE_WEBHOOK_SECRET: SECRET, METRICS_QUERY_TTL_MS: '50' };
  let svc: TestService | null = null;
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  test('acknowledged deliveries survive a crash before they are applied, and the next process applies them', async () => {
    svc = await startTestService(env);
    // the process "crashes" right after answering: nothing applies the stored rows
    await svc.runtime.inboxApplier.stop();
    await svc.runtime.inboxRetrier.stop();
    const ignored = stripeEvent('payment_intent.processing', (_o, ev) => (ev.type = 'customer.tax_id.created'));
    const early = stripeEvent('payment_intent.succeeded', (o) => {
      o.metadata = { tenant_id: 'nobody-yet', booking_id: 'bk-not-yet' };
    });
    for (const e of [ignored, early]) {
      const r = await deliver(`${svc.url}/webhooks/stripe`, e, SECRET);
      expect(r).toMatchObject({ status: 200, body: { received: true, id: e.id, status: 'received', duplicate: false } });
    }
    const status = async (id: string) => (await svc!.runtime.db.query<{ status: string }>('SELECT status FROM webhook_inbox WHERE event_id = $1', [id])).rows[0]?.status;
    expect(await status(ignored.id)).toBe('received');
    expect(await status(early.id)).toBe('received');
    expect(await scrape(svc)).toMatch(/settle_webhook_inbox\{status="received"\} 2/);
    await svc.shutdown('crash');

    svc = await startTestService(env);
    expect(await appliedRow(svc, 'stripe', ignored.id)).toEqual({ status: 'ignored', last_error: null });
    expect((await appliedRow(svc, 'stripe', early.id)).status).toBe('parked');
    await new Promise((r) => setTimeout(r, 60)); // past the gauge's reuse interval
    expect(await scrape(svc)).toMatch(/settle_webhook_inbox\{status="received"\} 0/);
  });
});
