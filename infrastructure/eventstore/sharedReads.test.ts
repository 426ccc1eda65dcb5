/**
 * SharedReads against an in-memory log: two subscriptions (one slower, as payment_history is next
 * to invoices) each handle every event once and in order while the log is read about once; the one
 * in front waits for the one behind; a member that leaves holds nobody back; short batches and
 * failed reads are never shared.
 */
import { comparePositions, type EventStore, type Position, type ReadAllOptions, type RecordedEvent } from '../../domain/ports/eventStore';
import { SharedReads } from './sharedReads';
import { countedEvent, eventually } from '../../test/support/events';
import { CatchUpSubscription, type SubscriptionSink } from './catchUp';

const event = (i: number): RecordedEvent => countedEvent(i, { streams: 5, perCommit: 4, commitBase: 500 });

class MemoryLog {
  readonly events: RecordedEvent[] = [];
  /** reads that returned a full batch (the ones worth sharing) */
  fullReads = 0;
  failNext = 0;

  constructor(n: number) {
    for (let i = 0; i < n; i++) this.events.push(event(i));
  }

  readonly store: EventStore = {
    append: () => Promise.reject(new Error('read-only')),
    readStream: () => Promise.reject(new Error('not used')),
    readAll: async (o: ReadAllOptions = {}) => {
      await new Promise((r) => setTimeout(r, 1));
      if (this.failNext > 0) {
        this.failNext--;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
      }
      const from = o.after ? this.events.findIndex((e) => comparePositions(e.position, o.after!) > 0) : 0;
      const batch = from < 0 ? [] : this.events.slice(from, from + (o.maxCount ?? 1000));
      if (batch.length === (o.maxCount ?? 1000)) this.fullReads++;
      return batch;
    },
    headPosition: async () => this.events[this.events.length - 1]?.position ?? null,
    close: async () => undefined,
  };
}

function sink(name: string, delayMs: number) {
  const applied: RecordedEvent[] = [];
  let checkpoint: Position | null = null;
  const s: SubscriptionSink = {
    name,
    load: async () => checkpoint,
    handle: async (events) => {
      await new Promise((r) => setTimeout(r, delayMs));
      applied.push(...events);
      checkpoint = events[events.length - 1]!.position;
    },
  };
  return { sink: s, applied };
}

const until = (check: () => boolean, timeoutMs = 15_000): Promise<void> => eventually(check, timeoutMs, 5);

describe('SharedReads', () => {
  const running: CatchUpSubscription[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });
  const subscribe = (store: EventStore, s: SubscriptionSink, batchSize: number) => {
    const sub = new CatchUpSubscription(store, s, { batchSize, idleDelayMs: 5, maxRetryDelayMs: 10, readAhead: true });
    running.push(sub);
    sub.start();
    return sub;
  };

  test('two members, one slower: every event once and in order for each, the log read about once', async () => {
    const log = new MemoryLog(2000);
    const shared = new SharedReads(log.store, 4, 60_000);
    const fast = sink('fast', 0);
    const slow = sink('slow', 4);
    const a = shared.join();
    const b = shared.join();
    subscribe(a, fast.sink, 50);
    subscribe(b, slow.sink, 50);
    await until(() => fast.applied.length === 2000 && slow.applied.length === 2000);
    const ids = log.events.map((e) => e.id);
    expect(fast.applied.map((e) => e.id)).toEqual(ids);
    expect(slow.applied.map((e) => e.id)).toEqual(ids);
    // 40 full batches, each read about once (80 reads without sharing) and handed to the other member
    expect(log.fullReads).toBeLessThanOrEqual(42);
    expect(shared.shared).toBeGreaterThanOrEqual(38);
    a.leave();
    b.leave();
  });

  test('the member in front waits for the one behind instead of leaving it to read alone', async () => {
    const log = new MemoryLog(1500);
    const shared = new SharedReads(log.store, 2, 60_000);
    const fast = sink('fast', 0);
    const slow = sink('slow', 6);
    subscribe(shared.join(), fast.sink, 50);
    subscribe(shared.join(), slow.sink, 50);
    // the fast member can never be more than the window ahead: it is done only just before the slow one
    await until(() => fast.applied.length === 1500);
    expect(slow.applied.length).toBeGreaterThanOrEqual(1500 - 6 * 50);
    await until(() => slow.applied.length === 1500);
    expect(log.fullReads).toBeLessThanOrEqual(32);
  });

  test('a member that leaves holds nobody back', async () => {
    const log = new MemoryLog(1500);
    const shared = new SharedReads(log.store, 2, 60_000);
    const fast = sink('fast', 0);
    subscribe(shared.join(), fast.sink, 50);
    // a member that asked for the first batch and then stopped asking (its rebuild was abandoned)
    const gone = shared.join();
    await gone.readAll({ after: null, maxCount: 50 });
    await new Promise((r) => setTimeout(r, 50));
    expect(fast.applied.length).toBeLessThan(1500); // held back by the member behind
    gone.leave();
    await until(() => fast.applied.length === 1500, 5000); // well before maxWaitMs per read
  });

  test('a member that joins late, behind the whole window, holds nobody back', async () => {
    const log = new MemoryLog(6000);
    const shared = new SharedReads(log.store, 2, 60_000);
    const early = sink('early', 0);
    const partner = sink('partner', 0);
    subscribe(shared.join(), early.sink, 50);
    subscribe(shared.join(), partner.sink, 50);
    await until(() => early.applied.length >= 2000);
    const late = sink('late', 20);
    subscribe(shared.join(), late.sink, 50);
    // at 20 ms a batch the late member is still in the first half when the early ones are done
    // (held back by it, they would finish only just before it)
    await until(() => early.applied.length === 6000 && partner.applied.length === 6000, 20_000);
    expect(late.applied.length).toBeLessThan(3000);
    await until(() => late.applied.length === 6000, 30_000);
    expect(late.applied.map((e) => e.id)).toEqual(log.events.map((e) => e.id));
  });

  test('short batches at the head are not shared: each member reads what committed since', async () => {
    const log = new MemoryLog(120);
    const shared = new SharedReads(log.store, 4, 60_000);
    const one = sink('one', 0);
    const two = sink('two', 3);
    const subs = [subscribe(shared.join(), one.sink, 50), subscribe(shared.join(), two.sink, 50)];
    await until(() => one.applied.length === 120 && two.applied.length === 120);
    for (let i = 120; i < 170; i++) log.events.push(event(i));
    subs.forEach((s) => s.wake());
    await until(() => one.applied.length === 170 && two.applied.length === 170);
    const ids = log.events.map((e) => e.id);
    expect(one.applied.map((e) => e.id)).toEqual(ids);
    expect(two.applied.map((e) => e.id)).toEqual(ids);
  });

  test('a failed read is not shared: both members retry and still get every event once', async () => {
    const log = new MemoryLog(1000);
    const shared = new SharedReads(log.store, 4, 60_000);
    const one = sink('one', 0);
    const two = sink('two', 2);
    subscribe(shared.join(), one.sink, 50);
    subscribe(shared.join(), two.sink, 50);
    await until(() => one.applied.length >= 300);
    log.failNext = 2;
    await until(() => one.applied.length === 1000 && two.applied.length === 1000);
    const ids = log.events.map((e) => e.id);
    expect(one.applied.map((e) => e.id)).toEqual(ids);
    expect(two.applied.map((e) => e.id)).toEqual(ids);
    expect(log.failNext).toBe(0);
  });
});
