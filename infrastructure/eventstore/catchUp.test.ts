/**
 * CatchUpSubscription's read-ahead against an in-memory log: the next batch is read while the
 * sink handles the current one, every event is still handled exactly once and in order, a failed
 * batch is retried from the checkpoint (the read-ahead is dropped), and stop() leaves no read
 * behind.
 */
import { comparePositions, type EventStore, type Position, type ReadAllOptions, type RecordedEvent } from '../../domain/ports/eventStore';
import { countedEvent, eventually } from '../../test/support/events';
import { CatchUpSubscription, checkpointed, type CheckpointStore, type SubscriptionSink } from './catchUp';

const event = (i: number): RecordedEvent => countedEvent(i, { streams: 7, perCommit: 3, commitBase: 1000 });

/** A log in memory; reads resolve on a later tick, and the store counts reads in flight. */
class MemoryLog {
  readonly events: RecordedEvent[] = [];
  readonly reads: Array<{ after: Position | null }> = [];
  inFlight = 0;

  constructor(n: number) {
    for (let i = 0; i < n; i++) this.events.push(event(i));
  }

  readonly store: EventStore = {
    append: () => Promise.reject(new Error('read-only')),
    readStream: () => Promise.reject(new Error('not used')),
    readAll: async (o: ReadAllOptions = {}) => {
      this.reads.push({ after: o.after ?? null });
      this.inFlight++;
      await new Promise((r) => setTimeout(r, 1));
      this.inFlight--;
      const from = o.after ? this.events.findIndex((e) => comparePositions(e.position, o.after!) > 0) : 0;
      return from < 0 ? [] : this.events.slice(from, from + (o.maxCount ?? 1000));
    },
    headPosition: async () => this.events[this.events.length - 1]?.position ?? null,
    close: async () => undefined,
  };
}

/** A sink that keeps its checkpoint with its effects (as a projection does) and can be made to fail. */
function sink(log: MemoryLog, failOn: (batch: number) => boolean) {
  const applied: RecordedEvent[] = [];
  /** per batch handled (or failed): its size and the reads in flight when it was handed over */
  const handled: Array<{ size: number; readsInFlight: number }> = [];
  let checkpoint: Position | null = null;
  let batches = 0;
  const s: SubscriptionSink = {
    name: 'counting',
    load: async () => checkpoint,
    handle: async (events) => {
      handled.push({ size: events.length, readsInFlight: log.inFlight });
      await new Promise((r) => setTimeout(r, 3));
      batches++;
      if (failOn(batches)) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
      applied.push(...events);
      checkpoint = events[events.length - 1]!.position;
    },
  };
  return { sink: s, applied, handled };
}

const until = (check: () => boolean, timeoutMs = 10_000): Promise<void> => eventually(check, timeoutMs, 5);

describe('CatchUpSubscription read-ahead', () => {
  const running: CatchUpSubscription[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((sub) => sub.stop()));
  });
  const subscribe = (...args: ConstructorParameters<typeof CatchUpSubscription>) => {
    const sub = new CatchUpSubscription(...args);
    running.push(sub);
    sub.start();
    return sub;
  };

  test('reads the next batch while the current one is handled; every event once, in order', async () => {
    const log = new MemoryLog(1000);
    const s = sink(log, () => false);
    const sub = subscribe(log.store, s.sink, { batchSize: 64, idleDelayMs: 5, readAhead: true });
    await until(() => s.applied.length === 1000);
    await sub.stop();
    expect(s.applied.map((e) => e.id)).toEqual(log.events.map((e) => e.id));
    // every full batch was handed over with the read of the next one already in flight
    expect(s.handled.filter((h) => h.size === 64).every((h) => h.readsInFlight === 1)).toBe(true);
    // and no read was wasted: each position before the head was read from once
    const head = log.events[999]!.position;
    const before = log.reads.filter((r) => !r.after || comparePositions(r.after, head) < 0).map((r) => (r.after ? `${r.after.commit}/${r.after.prepare}` : 'start'));
    expect(before.length).toBe(Math.ceil(1000 / 64));
    expect(new Set(before).size).toBe(before.length);
    expect(log.inFlight).toBe(0); // stop() waited for the read-ahead it had started
    expect(sub.status().caughtUp).toBe(true);
  });

  test('without read-ahead no read overlaps a batch being handled', async () => {
    const log = new MemoryLog(300);
    const s = sink(log, () => false);
    const sub = subscribe(log.store, s.sink, { batchSize: 64, idleDelayMs: 5 });
    await until(() => s.applied.length === 300);
    await sub.stop();
    expect(s.handled.every((h) => h.readsInFlight === 0)).toBe(true);
  });

  test('a failed batch is retried from the checkpoint: the read-ahead past it is dropped, nothing skipped or doubled', async () => {
    const log = new MemoryLog(1000);
    // batches 3, 4 and 9 fail (3 and 4 in a row: the retry of a retry)
    const s = sink(log, (n) => n === 3 || n === 4 || n === 9);
    const sub = subscribe(log.store, s.sink, { batchSize: 50, idleDelayMs: 5, maxRetryDelayMs: 10, readAhead: true });
    await until(() => s.applied.length >= 1000);
    await sub.stop();
    expect(s.applied.map((e) => e.id)).toEqual(log.events.map((e) => e.id));
    // each failed batch was read again from the (unchanged) checkpoint: three positions read twice
    const key = (p: Position | null) => (p ? `${p.commit}/${p.prepare}` : 'start');
    const counts = new Map<string, number>();
    for (const r of log.reads) counts.set(key(r.after), (counts.get(key(r.after)) ?? 0) + 1);
    expect([...counts.values()].filter((n) => n > 1).length).toBeGreaterThanOrEqual(2);
  });

  test('a short batch is not read ahead of: events appended while it is handled arrive with the next read', async () => {
    const log = new MemoryLog(100);
    const s = sink(log, () => false);
    const sub = subscribe(log.store, s.sink, { batchSize: 64, idleDelayMs: 5, readAhead: true });
    await until(() => s.applied.length === 100);
    for (let i = 100; i < 130; i++) log.events.push(event(i));
    sub.wake();
    await until(() => s.applied.length === 130);
    await sub.stop();
    expect(s.applied.map((e) => e.id)).toEqual(log.events.map((e) => e.id));
    // the full first batch came with a read-ahead, the short ones (36, then 30 events) did not
    expect(s.handled.map((h) => [h.size, h.readsInFlight])).toEqual([
      [64, 1],
      [36, 0],
      [30, 0],
    ]);
  });
});

describe('checkpointed (a reactor: handler, then its checkpoint)', () => {
  function memoryCheckpoints() {
    const stored: Position[] = [];
    const store: CheckpointStore = {
      load: () => Promise.resolve(stored.at(-1) ?? null),
      store: (_name, p) => {
        stored.push(p);
        return Promise.resolve();
      },
    };
    return { stored, store };
  }

  test('without storeEveryMs every batch stores its checkpoint', async () => {
    const cp = memoryCheckpoints();
    const s = checkpointed('r', cp.store, () => Promise.resolve());
    await s.handle([event(0), event(1)]);
    await s.handle([event(2)]);
    expect(cp.stored).toEqual([event(1).position, event(2).position]);
  });

  test('storeEveryMs: at most one store per interval, the latest position; flush (stop) stores what is pending, once', async () => {
    const cp = memoryCheckpoints();
    let t = 10_000;
    const handled: number[] = [];
    const s = checkpointed('r', cp.store, (es) => {
      handled.push(es.length);
      return Promise.resolve();
    }, { storeEveryMs: 1000, now: () => t });
    await s.handle([event(0)]); // first batch: stored at once
    t += 300;
    await s.handle([event(1)]);
    t += 300;
    await s.handle([event(2), event(3)]);
    expect(cp.stored).toEqual([event(0).position]);
    t += 500; // 1100 ms after the last store
    await s.handle([event(4)]);
    expect(cp.stored).toEqual([event(0).position, event(4).position]);
    t += 10;
    await s.handle([event(5)]);
    await s.flush?.();
    await s.flush?.();
    expect(cp.stored).toEqual([event(0).position, event(4).position, event(5).position]);
    expect(handled).toEqual([1, 1, 2, 1, 1]);
  });

  test('a reload drops what was pending (the subscription starts again from the stored checkpoint)', async () => {
    const cp = memoryCheckpoints();
    const t = 0;
    const s = checkpointed('r', cp.store, () => Promise.resolve(), { storeEveryMs: 1000, now: () => t });
    await s.handle([event(0)]);
    await s.handle([event(1)]);
    expect(await s.load()).toEqual(event(0).position);
    await s.flush?.();
    expect(cp.stored).toEqual([event(0).position]);
  });

  test('a subscription stopping flushes its sink', async () => {
    const log = new MemoryLog(5);
    const cp = memoryCheckpoints();
    let t = 0;
    const s = checkpointed('r', cp.store, () => Promise.resolve(), { storeEveryMs: 60_000, now: () => (t += 1) });
    const sub = new CatchUpSubscription(log.store, s, { batchSize: 2, idleDelayMs: 5 });
    sub.start();
    await until(() => sub.status().position?.prepare === event(4).position.prepare);
    expect(cp.stored).toEqual([event(1).position]);
    await sub.stop();
    expect(cp.stored).toEqual([event(1).position, event(4).position]);
  });
});
