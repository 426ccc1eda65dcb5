/**
 * The webhook inbox on a real PostgreSQL server (DATABASE_URL): concurrent deliveries are stored
 * and marked in shared statements, with the outcome each would have had alone.
 */
import { postgresDatabase, type TestDatabase } from '../../test/support/databases';
import { SqlProviderRefs, SqlWebhookInbox as WebhookInbox } from './inbox';

describe('webhook inbox, concurrent deliveries (PostgreSQL)', () => {
  let t: TestDatabase;
  let inbox: WebhookInbox;
  beforeAll(async () => {
    t = await postgresDatabase({ max: 8 });
    inbox = new WebhookInbox(t.db);
  });
  afterAll(() => t.drop());

  const row = async (id: string) =>
    (await t.db.query<{ status: string; attempts: number; last_error: string | null }>(`SELECT status, attempts, last_error FROM webhook_inbox WHERE endpoint = 'stripe' AND event_id = $1`, [id])).rows[0];

  test('40 concurrent deliveries of 10 events (4 copies each): each event stored once, exactly one delivery of each is fresh', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `evt_conc_${i}`);
    const deliveries = ids.flatMap((id) => [id, id, id, id]);
    const out = await Promise.all(deliveries.map((id) => inbox.receive('stripe', id, 'payment_intent.succeeded', null, JSON.stringify({ id, amount: 1099 })).then((r) => ({ id, ...r }))));
    for (const id of ids) {
      const mine = out.filter((o) => o.id === id);
      expect(mine.filter((o) => o.fresh)).toHaveLength(1);
      expect(mine.every((o) => o.status === 'received')).toBe(true);
    }
    const { rows } = await t.db.query<{ n: string; payload: { amount: number } }>(`SELECT count(*) OVER () AS n, payload FROM webhook_inbox WHERE event_id LIKE 'evt_conc_%'`);
    expect(Number(rows[0]!.n)).toBe(10);
    expect(rows.every((r) => r.payload.amount === 1099)).toBe(true);
  });

  test('a redelivery of a processed event reports its status; other endpoints are separate', async () => {
    await inbox.receive('stripe', 'evt_done', 'charge.refunded', null, '{}');
    await inbox.mark('stripe', 'evt_done', 'processed', null);
    const [again, other] = await Promise.all([
      inbox.receive('stripe', 'evt_done', 'charge.refunded', null, '{}'),
      inbox.receive('stripe_connect', 'evt_done', 'charge.refunded', 'acct_1', '{}'),
    ]);
    expect(again).toEqual({ fresh: false, status: 'processed' });
    expect(other).toEqual({ fresh: true, status: 'received' });
  });

  test('concurrent marks of one event take effect in call order; a processed event is not reopened', async () => {
    await inbox.receive('stripe', 'evt_marks', 'invoice.paid', null, '{}');
    await Promise.all([
      inbox.mark('stripe', 'evt_marks', 'parked', 'invoice_not_found'),
      inbox.mark('stripe', 'evt_marks', 'processed', null),
      inbox.mark('stripe', 'evt_marks', 'parked', 'late copy'),
    ]);
    expect(await row('evt_marks')).toEqual({ status: 'processed', attempts: 2, last_error: null });
  });

  test('marks of many events in one go each land on their own row', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `evt_many_${i}`);
    await Promise.all(ids.map((id) => inbox.receive('stripe', id, 'x', null, '{}')));
    await Promise.all(ids.map((id, i) => inbox.mark('stripe', id, i % 2 ? 'parked' : 'processed', i % 2 ? `reason ${i}` : null)));
    for (const [i, id] of ids.entries()) expect(await row(id)).toEqual({ status: i % 2 ? 'parked' : 'processed', attempts: 1, last_error: i % 2 ? `reason ${i}` : null });
  });

  test('provider references learned concurrently: the first of one reference wins, every one is stored', async () => {
    const refs = new SqlProviderRefs(t.db);
    await Promise.all([
      refs.learn('stripe', 'pi_learn_1', 'tenant-a', 'invoice', 'inv-1'),
      refs.learn('stripe', 'pi_learn_1', 'tenant-b', 'invoice', 'inv-2'),
      ...Array.from({ length: 8 }, (_, i) => refs.learn('stripe', `ch_learn_${i}`, 'tenant-a', 'invoice', `inv-${i}`)),
    ]);
    expect(await refs.lookup('stripe', 'pi_learn_1')).toEqual({ tenantId: 'tenant-a', targetType: 'invoice', targetId: 'inv-1' });
    for (let i = 0; i < 8; i++) expect(await refs.lookup('stripe', `ch_learn_${i}`)).toEqual({ tenantId: 'tenant-a', targetType: 'invoice', targetId: `inv-${i}` });
  });
});
