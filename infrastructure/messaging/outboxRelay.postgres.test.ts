/** Transactional outbox and its relay on a real PostgreSQL server (DATABASE_URL), in-process bus. */
import { BusUnavailable, PartialPublish, type BusMessage, type DeliveredMessage, type MessageBus } from '../../domain/ports/messageBus';
import { OutboxMessageConflict, WrongExpectedRevision } from '../../domain/ports/eventStore';
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
    await t.db.query('DELETE FROM outbox_holds');
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
    // the bus is reachable: the message it refused is tried alone (it goes through this time), then the rest
    await relay.drain();
    expect(sent).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(await relay.holds()).toEqual([]);
    expect((await relay.status()).backlog).toBe(0);
  });

  test('an outbox message written twice with the same content is written once; with other content the append is refused loudly and writes nothing', async () => {
    const conflicts: OutboxMessageConflict[] = [];
    const loud = new SqlEventStore(t.db, undefined, { onOutboxConflict: (e) => conflicts.push(e) });
    const m = outboxMessage('bookings', 'w1', { n: 1 });
    await loud.append('booking-w1', [newEvent()], 'no_stream', { outbox: [m] });
    // a real duplicate (same id, same content) from another append: no error, one row
    await loud.append('booking-w1', [newEvent()], 'any', { outbox: [m] });
    // a conflict (same id, other content): refused, nothing of the append written; its neighbour in the same group-commit batch is not affected
    const [bad, good] = await Promise.allSettled([
      loud.append('booking-w1', [newEvent()], 'any', { outbox: [{ ...m, value: { n: 2 } }] }),
      loud.append('booking-w2', [newEvent()], 'no_stream', { outbox: [outboxMessage('bookings', 'w2', { n: 3 })] }),
    ]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(OutboxMessageConflict);
    expect(((bad as PromiseRejectedResult).reason as Error).message).toContain(m.id);
    expect(good.status).toBe('fulfilled');
    expect(conflicts).toHaveLength(1);
    // atomically, too
    await expect(loud.appendAtomically([{ streamId: 'booking-w1', events: [newEvent()], expected: 'any', options: { outbox: [{ ...m, key: 'other' }] } }])).rejects.toBeInstanceOf(OutboxMessageConflict);
    expect(conflicts).toHaveLength(2);
    const { rows } = await t.db.query<{ value: { n: number } }>(`SELECT value FROM outbox WHERE message_id = $1`, [m.id]);
    expect(rows.map((r) => r.value.n)).toEqual([1]);
    expect((await store.readStream('booking-w1')).length).toBe(2);
    // the scheduled-message path (enqueue) is write-once too
    const relay = new OutboxRelay(t.db, new InProcessBus(), new AlwaysLeader('relay-w'));
    await relay.enqueue([m]);
    await expect(relay.enqueue([{ ...m, value: { n: 9 } }])).rejects.toMatchObject({ code: 'SO409' });
  });

  test('a message the bus refuses while reachable holds only its key: other keys flow, its later messages wait in order; parked after its attempts; release and skip', async () => {
    const bus = new FlakyBus();
    const refused = new Set<string>();
    const got: Array<{ key: string; n: number }> = [];
    bus.publish = async (m: readonly BusMessage[]) => {
      // like Kafka: a request with a refused record fails as a whole
      if (m.some((x) => refused.has(x.id))) throw new Error('record refused');
      for (const x of m) got.push({ key: x.key, n: (x.value as { n: number }).n });
    };
    const holds: Array<{ key: string; attempts: number; parked: boolean }> = [];
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay-hold'), { maxAttempts: 3, retryBaseMs: 30, retryMaxMs: 60, onHold: (h) => holds.push(h) });
    const poison = outboxMessage('bookings', 'hk-bad', { n: 1 });
    refused.add(poison.id);
    await store.append('booking-hk-bad', [newEvent()], 'any', { outbox: [poison] });
    for (let n = 2; n <= 7; n++) {
      const key = n % 2 === 0 ? 'hk-bad' : `hk-ok${n}`;
      await store.append(`booking-${key}`, [newEvent()], 'any', { outbox: [outboxMessage('bookings', key, { n })] });
    }
    await relay.drain();
    expect(got).toEqual([3, 5, 7].map((n) => ({ key: `hk-ok${n}`, n })));
    expect(holds).toEqual([expect.objectContaining({ key: 'hk-bad', attempts: 1, parked: false })]);
    // retried with backoff, then parked; its key's messages never overtake it
    await eventually(async () => {
      await relay.drain();
      return (await relay.status()).parkedKeys === 1;
    }, 5000);
    expect(holds.map((h) => [h.attempts, h.parked])).toEqual([[1, false], [2, false], [3, true]]);
    const [h] = await relay.holds();
    expect(h).toMatchObject({ key: 'hk-bad', messageId: poison.id, topic: 'bookings', attempts: 3, parked: true, waiting: 4, error: 'record refused' });
    expect(got.filter((g) => g.key === 'hk-bad')).toEqual([]);
    // release: retried now (fails again, held with a fresh budget)
    expect(await relay.release('hk-bad')).toBe(true);
    await relay.drain();
    expect((await relay.holds())[0]).toMatchObject({ attempts: 1, parked: false });
    // skip: recorded with the reason; the key's later messages flow, in order
    expect(await relay.skip('hk-bad', 'refused for good', 'ops')).toEqual({ messageId: poison.id, topic: 'bookings' });
    await relay.drain();
    expect(got.filter((g) => g.key === 'hk-bad').map((g) => g.n)).toEqual([2, 4, 6]);
    expect(await relay.holds()).toEqual([]);
    expect(await relay.release('hk-bad')).toBe(false);
    const { rows } = await t.db.query(`SELECT stage, message_id::text, reason, skipped_by FROM parked_skips WHERE message_key = 'hk-bad'`);
    expect(rows).toEqual([{ stage: 'relay', message_id: poison.id, reason: 'refused for good', skipped_by: 'ops' }]);
  });

  test('when the bus answers but refuses every message (leader elections, a broker restarting), nothing is held', async () => {
    const bus = new FlakyBus();
    let refuse = true;
    bus.publish = async (m: readonly BusMessage[]) => {
      if (refuse) throw new Error('LEADER_NOT_AVAILABLE');
      await bus.inner.publish(m);
    };
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay-partial-outage'), { maxAttempts: 1 });
    for (const key of ['po1', 'po2', 'po3']) await store.append(`booking-${key}`, [newEvent()], 'any', { outbox: [outboxMessage('bookings', key, { n: 1 })] });
    await expect(relay.drain()).rejects.toThrow('LEADER_NOT_AVAILABLE');
    expect(await relay.holds()).toEqual([]);
    refuse = false;
    await relay.drain();
    expect((await relay.status()).backlog).toBe(0);
  });

  test('a publish error the bus marks as an outage (BusUnavailable) is not probed message by message and charges nothing', async () => {
    const bus = new FlakyBus();
    let calls = 0;
    bus.publish = async () => {
      calls++;
      throw new BusUnavailable(new Error('leaders moving'));
    };
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay-outage'), { maxAttempts: 1 });
    for (const key of ['bu1', 'bu2']) await store.append(`booking-${key}`, [newEvent()], 'any', { outbox: [outboxMessage('bookings', key, { n: 1 })] });
    await expect(relay.drain()).rejects.toBeInstanceOf(BusUnavailable);
    expect(calls).toBe(1);
    expect(await relay.holds()).toEqual([]);
  });

  test('while the bus is unreachable nothing is held or parked, and the relay reports itself stuck', async () => {
    const bus = new FlakyBus();
    bus.down = true;
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay-down'), { maxAttempts: 1, stuckAfterSeconds: 1 });
    await store.append('booking-down1', [newEvent()], 'any', { outbox: [outboxMessage('bookings', 'down1', { n: 1 })] });
    await expect(relay.drain()).rejects.toThrow('broker unreachable');
    expect((await relay.status()).stuck).toBe(false);
    await new Promise((r) => setTimeout(r, 1100));
    await expect(relay.drain()).rejects.toThrow('broker unreachable');
    const st = await relay.status();
    expect(st).toMatchObject({ heldKeys: 0, parkedKeys: 0, stuck: true });
    bus.down = false;
    await relay.drain();
    expect((await relay.status()).stuck).toBe(false);
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
