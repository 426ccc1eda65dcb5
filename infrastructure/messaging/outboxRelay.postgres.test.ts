/** Transactional outbox and its relay on a real PostgreSQL server (DATABASE_URL), in-process bus. */
import { PartialPublish, type BusMessage, type DeliveredMessage, type MessageBus } from '../../domain/ports/messageBus';
import { WrongExpectedRevision } from '../../domain/ports/eventStore';
import { databaseUrl, postgresDatabase, type TestDatabase } from '../../test/support/databases';
import { eventually, newEvent, outboxMessage } from '../../test/support/events';
import { SqlEventStore } from '../eventstore/sqlEventStore';
import { AlwaysLeader, PgAdvisoryLease } from '../sql/leaderLease';
import { InProcessBus } from './inProcessBus';
import { OutboxRelay } from './outboxRelay';

/** A bus whose broker can be "down": publish fails while it is. */
class FlakyBus implements MessageBus {
  readonly kind = 'in-process' as const;
  down = false;
  readonly inner = new InProcessBus();
  async publish(m: readonly BusMessage[]) {
    if (this.down) throw new Error('broker unreachable');
    await this.inner.publish(m);
  }
  subscribeBatches(g: string, t: readonly string[], h: (m: readonly DeliveredMessage[]) => Promise<void>) {
    return this.inner.subscribeBatches(g, t, h);
  }
  subscribe(g: string, t: readonly string[], h: (m: DeliveredMessage) => Promise<void>) {
    return this.inner.subscribe(g, t, h);
  }
  async healthy() {
    return !this.down;
  }
  async close() {}
}

describe('outbox relay (PostgreSQL)', () => {
  let t: TestDatabase;
  let store: SqlEventStore;
  beforeAll(async () => {
    t = await postgresDatabase();
    store = new SqlEventStore(t.db);
  });
  afterAll(() => t.drop());
  afterEach(async () => {
    await t.db.query('UPDATE outbox SET published_at = clock_timestamp() WHERE published_at IS NULL');
  });

  test('outbox messages are written atomically with the events: a refused append leaves no message', async () => {
    await store.append('booking-a1', [newEvent()], 'no_stream', { outbox: [outboxMessage('bookings', 'a1', { n: 1 })] });
    await expect(store.append('booking-a1', [newEvent()], 'no_stream', { outbox: [outboxMessage('bookings', 'a1', { n: 2 })] })).rejects.toBeInstanceOf(
      WrongExpectedRevision,
    );
    const { rows } = await t.db.query<{ value: { n: number } }>(`SELECT value FROM outbox WHERE message_key = 'a1'`);
    expect(rows.map((r) => r.value.n)).toEqual([1]);
  });

  test('a duplicate append does not enqueue its messages again', async () => {
    const e = newEvent();
    await store.append('booking-d1', [e], 'no_stream', { outbox: [outboxMessage('bookings', 'd1', { n: 1 })] });
    const again = await store.append('booking-d1', [e], 'no_stream', { outbox: [outboxMessage('bookings', 'd1', { n: 1 })] });
    expect(again.duplicate).toBe(true);
    const { rows } = await t.db.query(`SELECT 1 FROM outbox WHERE message_key = 'd1'`);
    expect(rows).toHaveLength(1);
  });

  test('while the bus is down the backlog grows and nothing is lost; afterwards everything flows in per-key order', async () => {
    const bus = new FlakyBus();
    const got: DeliveredMessage[] = [];
    await bus.subscribe('finance', ['bookings'], async (m) => {
      got.push(m);
    });
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay'), { idleDelayMs: 10, maxRetryDelayMs: 50 });
    bus.down = true;
    relay.start();
    for (let i = 0; i < 30; i++) {
      const key = `k${i % 3}`;
      await store.append(`booking-${key}`, [newEvent()], 'any', { outbox: [outboxMessage('bookings', key, { i })] });
    }
    await eventually(async () => (await relay.status()).lastError !== null);
    const during = await relay.status();
    expect(during.backlog).toBe(30);
    expect(during.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(got).toHaveLength(0);
    bus.down = false;
    await eventually(async () => (await relay.status()).backlog === 0);
    await relay.stop();
    expect(got).toHaveLength(30);
    for (const key of ['k0', 'k1', 'k2']) {
      const seq = got.filter((m) => m.key === key).map((m) => (m.value as { i: number }).i);
      expect(seq).toEqual([...seq].sort((x, y) => x - y));
      expect(seq).toHaveLength(10);
    }
    expect(new Set(got.map((m) => m.headers['message-id'])).size).toBe(30);
  });

  test('a publish that fails part-way: the acknowledged prefix is marked published and not sent again', async () => {
    const sent: string[] = [];
    let failAt: number | null = 3;
    const bus = new FlakyBus();
    bus.publish = async (m: readonly BusMessage[]) => {
      // the transport takes the first three, then refuses the fourth (say, too large); once
      if (failAt !== null) {
        sent.push(...m.slice(0, failAt).map((x) => (x.value as { n: number }).n.toString()));
        const n = failAt;
        failAt = null;
        throw new PartialPublish(n, new Error('record too large'));
      }
      sent.push(...m.map((x) => (x.value as { n: number }).n.toString()));
    };
    for (let n = 1; n <= 6; n++) await store.append(`booking-pp${n}`, [newEvent()], 'no_stream', { outbox: [outboxMessage('bookings', 'pp', { n })] });
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay-partial'));
    await expect(relay.drain()).rejects.toBeInstanceOf(PartialPublish);
    expect((await relay.status()).backlog).toBe(3);
    await relay.drain();
    expect(sent).toEqual(['1', '2', '3', '4', '5', '6']);
    expect((await relay.status()).backlog).toBe(0);
  });

  test('only one relay instance is active; when it stops another takes over', async () => {
    const leaseName = `${t.schema}:relay-test`;
    const l1 = new PgAdvisoryLease(databaseUrl(), leaseName);
    const l2 = new PgAdvisoryLease(databaseUrl(), leaseName);
    const bus1 = new InProcessBus();
    const bus2 = new InProcessBus();
    const seen1: string[] = [];
    const seen2: string[] = [];
    await bus1.subscribe('g', ['leases'], async (m) => void seen1.push(m.id));
    await bus2.subscribe('g', ['leases'], async (m) => void seen2.push(m.id));
    const r1 = new OutboxRelay(t.db, bus1, l1, { idleDelayMs: 10, leaseRetryMs: 50 });
    const r2 = new OutboxRelay(t.db, bus2, l2, { idleDelayMs: 10, leaseRetryMs: 50 });
    r1.start();
    await eventually(() => l1.isHeld());
    r2.start();
    await store.append('lease-s', [newEvent()], 'any', { outbox: [outboxMessage('leases', 'x', { n: 1 })] });
    await eventually(() => seen1.length === 1);
    expect(l2.isHeld()).toBe(false);
    await r1.stop();
    await eventually(() => l2.isHeld(), 10_000);
    await store.append('lease-s', [newEvent()], 'any', { outbox: [outboxMessage('leases', 'x', { n: 2 })] });
    await eventually(() => seen2.length === 1);
    await r2.stop();
    expect(seen1).toHaveLength(1);
  });

  test('a lease whose database session is killed is lost, and another instance acquires it', async () => {
    const leaseName = `${t.schema}:kill-test`;
    const l1 = new PgAdvisoryLease(databaseUrl(), leaseName);
    const l2 = new PgAdvisoryLease(databaseUrl(), leaseName);
    expect(await l1.tryAcquire()).toBe(true);
    expect(await l2.tryAcquire()).toBe(false);
    await t.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pg_backend_pid() <> pid`, [
      `settle-lease:${leaseName}`,
    ]);
    await eventually(() => !l1.isHeld(), 10_000);
    await eventually(() => l2.tryAcquire(), 10_000);
    expect(await l1.tryAcquire()).toBe(false);
    await l1.release();
    await l2.release();
  });
});
