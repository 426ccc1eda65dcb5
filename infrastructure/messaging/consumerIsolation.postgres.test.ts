/** Per-key failure isolation of a consumer group (ConsumerIsolation) on a real PostgreSQL server (DATABASE_URL). */
import type { DeliveredMessage } from '../../domain/ports/messageBus';
import { postgresDatabase, type TestDatabase } from '../../test/support/databases';
import { AlwaysLeader } from '../sql/leaderLease';
import { ConsumerIsolation } from './consumerIsolation';

let offset = 0;
const msg = (key: string, n: number): DeliveredMessage => ({ id: `${key}-${n}-${offset}`, topic: 'settle.payments.v1', key, value: { n }, headers: {}, partition: 0, offset: String(offset++) });

describe('consumer isolation per key (PostgreSQL)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await postgresDatabase();
  });
  afterAll(() => t.drop());

  test('a batch with a failing key: the others are handled, the key is held (its later messages behind it, in order), retried, parked, released and skipped', async () => {
    const handled: string[] = [];
    const broken = new Set(['bad']);
    let batchCalls = 0;
    const handler = async (ms: readonly DeliveredMessage[]) => {
      batchCalls++;
      if (ms.some((m) => broken.has(m.key))) throw new Error(`cannot apply ${ms.map((m) => m.id).join(',')}`);
      handled.push(...ms.map((m) => `${m.key}:${(m.value as { n: number }).n}`));
    };
    const holds: Array<{ key: string; attempts: number; parked: boolean }> = [];
    const iso = new ConsumerIsolation(t.db, 'finance-test', new AlwaysLeader('iso'), { maxAttempts: 2, retryBaseMs: 10, retryMaxMs: 10, onHold: (h) => holds.push(h) });
    const wrapped = iso.wrapBatches(handler);

    await wrapped([msg('a', 1), msg('bad', 1), msg('b', 1), msg('bad', 2), msg('a', 2)]);
    expect(handled).toEqual(['a:1', 'b:1', 'a:2']);
    expect(holds).toEqual([expect.objectContaining({ key: 'bad', attempts: 1, parked: false })]);
    expect(await iso.holds()).toEqual([expect.objectContaining({ group: 'finance-test', key: 'bad', attempts: 1, parked: false, waiting: 2, topic: 'settle.payments.v1' })]);

    // a later batch: the held key's message is queued without being tried, the rest applied as one batch
    batchCalls = 0;
    await wrapped([msg('c', 1), msg('bad', 3)]);
    expect(handled.slice(-1)).toEqual(['c:1']);
    expect(batchCalls).toBe(1);

    // retried with backoff; parked after its attempts
    await new Promise((r) => setTimeout(r, 20));
    await iso.retryDue();
    expect(holds.at(-1)).toMatchObject({ key: 'bad', attempts: 2, parked: true });
    expect(await iso.counts()).toEqual({ held: 1, parked: 1 });
    await iso.retryDue(); // parked: not retried automatically
    expect(holds).toHaveLength(2);

    // fixed and released: the held messages are handled in order
    broken.clear();
    expect(await iso.release('bad')).toBe(true);
    await iso.retryDue();
    expect(handled.filter((h) => h.startsWith('bad'))).toEqual(['bad:1', 'bad:2', 'bad:3']);
    expect(await iso.holds()).toEqual([]);
    expect(await iso.release('bad')).toBe(false);

    // skip: the head is dropped with the reason recorded; the next message of the key follows
    broken.add('worse');
    await wrapped([msg('worse', 1), msg('worse', 2)]);
    broken.clear();
    const head = (await iso.holds())[0]!;
    expect(await iso.skip('worse', 'garbage from a test', 'ops')).toEqual({ messageId: head.messageId, topic: 'settle.payments.v1' });
    await iso.retryDue();
    expect(handled.filter((h) => h.startsWith('worse'))).toEqual(['worse:2']);
    const { rows } = await t.db.query(`SELECT stage, message_id, reason, skipped_by FROM parked_skips WHERE message_key = 'worse'`);
    expect(rows).toEqual([{ stage: 'consumer:finance-test', message_id: head.messageId, reason: 'garbage from a test', skipped_by: 'ops' }]);
  });

  test('when the message cannot even be stored, the handler throws and the bus delivers it again', async () => {
    const iso = new ConsumerIsolation(t.db, 'x'.repeat(10), new AlwaysLeader('iso2'));
    const wrapped = iso.wrap(async () => {
      throw new Error('fails');
    });
    const bad = { ...msg('k', 1), value: { s: '\u0000' } }; // jsonb cannot store NUL
    await expect(wrapped(bad)).rejects.toThrow();
  });
});
