/**
 * The Kafka bus against a real Apache Kafka broker (KAFKA_BROKERS; `npm test` starts a KRaft
 * broker) and the outbox on a real PostgreSQL (DATABASE_URL). Topics are prefixed per test run.
 */
import { randomBytes } from 'node:crypto';
import type { DeliveredMessage } from '../../domain/ports/messageBus';
import { postgresDatabase, type TestDatabase } from '../../test/support/databases';
import { eventually, newEvent, outboxMessage } from '../../test/support/events';
import { SqlEventStore } from '../eventstore/sqlEventStore';
import { AlwaysLeader } from '../sql/leaderLease';
import { KafkaBus } from './kafkaBus';
import { OutboxRelay } from './outboxRelay';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts Kafka');

describe('Kafka bus (real broker)', () => {
  let t: TestDatabase;
  let bus: KafkaBus;
  const prefix = `t${randomBytes(4).toString('hex')}.`;

  beforeAll(async () => {
    t = await postgresDatabase();
    bus = new KafkaBus({ brokers: brokers.split(','), clientId: 'settle-test', topicPrefix: prefix });
  });
  afterAll(async () => {
    await bus?.close();
    await t?.drop();
  });

  test('messages written to the outbox with events reach a Kafka consumer group, in order per key', async () => {
    const store = new SqlEventStore(t.db);
    const got: DeliveredMessage[] = [];
    const sub = await bus.subscribe('finance-reporting', ['payments'], async (m) => {
      got.push(m);
    });
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay'), { idleDelayMs: 20 });
    relay.start();
    for (let i = 0; i < 30; i++) {
      const key = `invoice-${i % 3}`;
      await store.append(key, [newEvent('PaymentRecorded', { i })], 'any', { outbox: [outboxMessage('payments', key, { i, amount: 1000 + i, currency: 'EUR' })] });
    }
    await eventually(() => got.length >= 30, 60_000);
    await relay.stop();
    await sub.stop();
    expect(got).toHaveLength(30);
    for (const key of ['invoice-0', 'invoice-1', 'invoice-2']) {
      const seq = got.filter((m) => m.key === key).map((m) => (m.value as { i: number }).i);
      expect(seq).toEqual([...seq].sort((a, b) => a - b));
      expect(seq).toHaveLength(10);
    }
    expect(got[0]!.topic).toBe('payments');
    expect(got[0]!.value).toMatchObject({ currency: 'EUR' });
    expect(new Set(got.map((m) => m.id)).size).toBe(30);
    expect((await relay.status()).backlog).toBe(0);
  });

  test('one publish of 3 MB (non-ASCII text) for a single key (one partition) is split under the broker limit and arrives whole, in order', async () => {
    const got: DeliveredMessage[] = [];
    const sub = await bus.subscribe('big-batch', ['bulk'], async (m) => {
      got.push(m);
    });
    // 3 UTF-8 bytes a character: a chunk bound counted in characters would be three times too big
    const filler = '€'.repeat(1000);
    const messages = Array.from({ length: 1000 }, (_, i) => ({ id: outboxMessage('bulk', 'one-key', {}).id, topic: 'bulk', key: 'one-key', value: { i, filler }, headers: {} }));
    // 1000 x 3 KB to one partition: one record batch would be ~3x the broker's default message.max.bytes
    await bus.publish(messages);
    await eventually(() => got.length >= 1000, 60_000);
    await sub.stop();
    expect(got.map((m) => (m.value as { i: number }).i)).toEqual(messages.map((m) => m.value.i));
  });

  test('a handler that fails gets the message again: the group does not move past it', async () => {
    let failures = 0;
    const seen: string[] = [];
    const sub = await bus.subscribe('flaky-consumer', ['retries'], async (m) => {
      if ((m.value as { n: number }).n === 2 && failures < 2) {
        failures++;
        throw new Error('temporary failure');
      }
      seen.push(`${(m.value as { n: number }).n}`);
    });
    await bus.publish([1, 2, 3].map((n) => ({ id: `00000000-0000-4000-8000-00000000000${n}`, topic: 'retries', key: 'same-key', value: { n }, headers: {} })));
    await eventually(() => seen.includes('3'), 60_000);
    await sub.stop();
    expect(failures).toBe(2);
    expect(seen.filter((s) => s === '2')).toHaveLength(1);
    expect(seen.indexOf('2')).toBeLessThan(seen.indexOf('3'));
  });

  test('consumer lag: messages a group has not committed yet, per topic (shown on the console system page)', async () => {
    await bus.publish([1, 2, 3].map((n) => ({ id: `00000000-0000-4000-8000-0000000001${n}0`, topic: 'lagging', key: `k${n}`, value: { n }, headers: {} })));
    // a group that never consumed lags by everything on the topic; an unknown topic is left out
    expect(await bus.consumerLag([{ group: 'lag-reader', topics: ['lagging', 'no-such-topic'] }])).toEqual([{ group: 'lag-reader', topic: 'lagging', lag: 3 }]);
    const seen: number[] = [];
    const sub = await bus.subscribe('lag-reader', ['lagging'], async (m) => void seen.push((m.value as { n: number }).n));
    await eventually(() => seen.length === 3, 60_000);
    await eventually(async () => (await bus.consumerLag([{ group: 'lag-reader', topics: ['lagging'] }]))[0]!.lag === 0, 30_000);
    await sub.stop();
  });

  test('reports itself healthy while the broker answers', async () => {
    expect(await bus.healthy()).toBe(true);
    const dead = new KafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'settle-test-dead' });
    expect(await dead.healthy()).toBe(false);
    await dead.close();
  });
});
