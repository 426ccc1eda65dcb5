/**
 * The one contract every EventStore adapter must pass (PostgreSQL, embedded PGlite, EventStoreDB).
 * Adapter test files call describeEventStoreContract() with a factory for a fresh, real store.
 */
import { randomUUID } from 'node:crypto';
import {
  InvalidAppend,
  MixedDuplicateBatch,
  WrongExpectedRevision,
  comparePositions,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
} from '../../domain/ports/eventStore';
import { CatchUpSubscription, type SubscriptionSink } from '../../infrastructure/eventstore/catchUp';

export interface ContractSubject {
  store: EventStore;
  /**
   * Appends inside a transaction that is held open for delayMs and then committed, or rolled back
   * when rollback is true. Adapters without client-side transactions leave it out.
   */
  appendWithFate?(streamId: string, events: NewEvent[], expected: ExpectedRevision, fate: { delayMs: number; rollback: boolean }): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Writers in the stress test (>= 16). */
  writers?: number;
  appendsPerWriter?: number;
  maxDelayMs?: number;
}

class Rollback extends Error {}
export { Rollback };

export function ev(type = 'Something', data: unknown = { n: 1 }, id = randomUUID()): NewEvent {
  return { id, type, data, metadata: { correlationId: 'corr-1', causationId: 'cause-1', tenantId: 'tenant-1', schemaVersion: 1 } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function describeEventStoreContract(adapter: string, make: () => Promise<ContractSubject>, opts: ContractOptions = {}): void {
  describe(`EventStore contract: ${adapter}`, () => {
    let subject: ContractSubject;
    let store: EventStore;
    const stream = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      subject = await make();
      store = subject.store;
    });
    afterAll(async () => {
      await subject?.cleanup();
    });

    test('appends to a new stream with 0-based revisions and reads them back with metadata', async () => {
      const s = stream('booking');
      const events = [ev('BookingRequested', { amount: 12500, currency: 'EUR' }), ev('BookingPaid')];
      const r = await store.append(s, events, 'no_stream');
      expect(r.duplicate).toBe(false);
      expect(r.nextExpectedRevision).toBe(1n);
      expect(r.events.map((e) => e.revision)).toEqual([0n, 1n]);
      const read = await store.readStream(s);
      expect(read.map((e) => [e.id, e.type, e.revision])).toEqual([
        [events[0]!.id, 'BookingRequested', 0n],
        [events[1]!.id, 'BookingPaid', 1n],
      ]);
      expect(read[0]!.data).toEqual({ amount: 12500, currency: 'EUR' });
      expect(read[0]!.metadata).toMatchObject({ correlationId: 'corr-1', causationId: 'cause-1', tenantId: 'tenant-1', schemaVersion: 1 });
      expect(read[0]!.recordedAt).toBeInstanceOf(Date);
      expect(comparePositions(read[0]!.position, read[1]!.position)).toBeLessThan(0);
      expect(read[1]!.position).toEqual(r.position);
    });

    test('an exact expected revision that does not match raises WrongExpectedRevision with the actual revision', async () => {
      const s = stream('invoice');
      await store.append(s, [ev(), ev()], 'no_stream');
      const err = await store.append(s, [ev()], 0n).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WrongExpectedRevision);
      expect((err as WrongExpectedRevision).actual).toBe(1n);
      expect((err as WrongExpectedRevision).expected).toBe(0n);
      await expect(store.append(s, [ev()], 1n)).resolves.toMatchObject({ nextExpectedRevision: 2n });
    });

    test('no_stream, stream_exists and any behave as named', async () => {
      const s = stream('sub');
      const missing = await store.append(s, [ev()], 'stream_exists').catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(WrongExpectedRevision);
      expect((missing as WrongExpectedRevision).actual).toBe('no_stream');
      await store.append(s, [ev()], 'any');
      const exists = await store.append(s, [ev()], 'no_stream').catch((e: unknown) => e);
      expect(exists).toBeInstanceOf(WrongExpectedRevision);
      expect((exists as WrongExpectedRevision).actual).toBe(0n);
      await expect(store.append(s, [ev()], 'stream_exists')).resolves.toMatchObject({ nextExpectedRevision: 1n });
      await expect(store.append(s, [ev()], 'any')).resolves.toMatchObject({ nextExpectedRevision: 2n });
      expect(await store.readStream(s)).toHaveLength(3);
    });

    test('a refused append writes none of its events', async () => {
      const s = stream('atomic');
      await store.append(s, [ev()], 'no_stream');
      await expect(store.append(s, [ev(), ev(), ev()], 5n)).rejects.toBeInstanceOf(WrongExpectedRevision);
      expect(await store.readStream(s)).toHaveLength(1);
      const fresh = stream('atomic-new');
      await expect(store.append(fresh, [ev()], 'stream_exists')).rejects.toBeInstanceOf(WrongExpectedRevision);
      expect(await store.readStream(fresh)).toHaveLength(0);
    });

    test('re-appending the same event ids is a no-op that returns the original positions, even with a stale expected revision', async () => {
      const s = stream('dedup');
      const batch = [ev('PaymentRecorded'), ev('InvoicePaid')];
      const first = await store.append(s, batch, 'no_stream');
      await store.append(s, [ev('Later')], 'any');
      for (const expected of ['no_stream', 0n, 'any', 'stream_exists', 7n] as ExpectedRevision[]) {
        const again = await store.append(s, batch, expected);
        expect(again.duplicate).toBe(true);
        expect(again.events).toEqual(first.events);
        expect(again.position).toEqual(first.position);
      }
      // a single event of the batch on its own is a duplicate too
      const one = await store.append(s, [batch[1]!], 'no_stream');
      expect(one.duplicate).toBe(true);
      expect(one.events[0]).toEqual(first.events[1]);
      expect(await store.readStream(s)).toHaveLength(3);
    });

    test('a batch mixing existing and new ids fails with MixedDuplicateBatch and writes nothing', async () => {
      const s = stream('mixed');
      const old = ev();
      await store.append(s, [old], 'no_stream');
      const fresh = ev();
      const err = await store.append(s, [old, fresh], 'any').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MixedDuplicateBatch);
      expect((err as MixedDuplicateBatch).existingIds).toEqual([old.id]);
      expect((err as MixedDuplicateBatch).newIds).toEqual([fresh.id]);
      expect((await store.readStream(s)).map((e) => e.id)).toEqual([old.id]);
    });

    // Multi-stream atomic appends: only for adapters that offer them (not EventStoreDB).
    const atomicTest = (name: string, fn: (appendAtomically: NonNullable<EventStore['appendAtomically']>) => Promise<void>) =>
      test(`appendAtomically: ${name}`, async () => {
        if (!store.appendAtomically) {
          expect(adapter).toMatch(/EventStoreDB/); // only stores without multi-stream transactions may leave it out
          return;
        }
        await fn(store.appendAtomically.bind(store));
      });

    atomicTest('writes every part in one transaction, in part order, with per-stream revisions', async (appendAtomically) => {
      const a = stream('dep');
      const b = stream('bk');
      await store.append(a, [ev('DepartureDefined')], 'no_stream');
      const [ra, rb] = await appendAtomically([
        { streamId: a, events: [ev('SeatsAllocated')], expected: 0n },
        { streamId: b, events: [ev('BookingRequested'), ev('Noted')], expected: 'no_stream' },
      ]);
      expect(ra!.nextExpectedRevision).toBe(1n);
      expect(rb!.nextExpectedRevision).toBe(1n);
      expect(ra!.duplicate || rb!.duplicate).toBe(false);
      // one transaction: every event of both parts carries the same commit
      expect(new Set([...ra!.events, ...rb!.events].map((e) => e.position.commit)).size).toBe(1);
      expect((await store.readStream(b)).map((e) => e.type)).toEqual(['BookingRequested', 'Noted']);
    });

    atomicTest('a conflict in a later part writes nothing of any part', async (appendAtomically) => {
      const a = stream('dep');
      const b = stream('bk');
      await store.append(b, [ev('Existing')], 'no_stream');
      const err = await appendAtomically([
        { streamId: a, events: [ev('SeatsAllocated')], expected: 'no_stream' },
        { streamId: b, events: [ev('BookingRequested')], expected: 'no_stream' },
      ]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WrongExpectedRevision);
      expect((err as WrongExpectedRevision).streamId).toBe(b);
      expect(await store.readStream(a)).toEqual([]);
      expect((await store.readStream(b)).map((e) => e.type)).toEqual(['Existing']);
    });

    atomicTest('a replay of the whole call is a duplicate for every part, with the original positions', async (appendAtomically) => {
      const parts = [
        { streamId: stream('dep'), events: [ev('SeatsAllocated')], expected: 'no_stream' as const },
        { streamId: stream('bk'), events: [ev('BookingRequested')], expected: 'no_stream' as const },
      ];
      const first = await appendAtomically(parts);
      const again = await appendAtomically(parts);
      expect(again.map((r) => r.duplicate)).toEqual([true, true]);
      expect(again.map((r) => r.position)).toEqual(first.map((r) => r.position));
    });

    atomicTest('the same stream twice in one call is refused before touching storage', async (appendAtomically) => {
      const s = stream('twice');
      const err = await appendAtomically([
        { streamId: s, events: [ev()], expected: 'any' },
        { streamId: s, events: [ev()], expected: 'any' },
      ]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidAppend);
      expect(await store.readStream(s)).toEqual([]);
    });

    test('dedup is per stream: the same event id in another stream is a new event', async () => {
      const e = ev();
      const a = await store.append(stream('a'), [e], 'no_stream');
      const b = await store.append(stream('b'), [e], 'no_stream');
      expect(a.duplicate).toBe(false);
      expect(b.duplicate).toBe(false);
    });

    test('20 concurrent copies of one append: one write, every caller gets the same positions', async () => {
      const s = stream('storm');
      await store.append(s, [ev()], 'no_stream');
      const batch = [ev('WebhookReceived'), ev('PaymentRecorded')];
      const results = await Promise.all(Array.from({ length: 20 }, () => store.append(s, batch, 0n)));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      for (const r of results) expect(r.events).toEqual(results[0]!.events);
      expect(await store.readStream(s)).toHaveLength(3);
    });

    test('20 concurrent first appends of one event with "any" to a new stream: one write', async () => {
      const s = stream('storm-new');
      const e = ev();
      const results = await Promise.all(Array.from({ length: 20 }, () => store.append(s, [e], 'any')));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(await store.readStream(s)).toHaveLength(1);
    });

    test('concurrent appends at the same expected revision: one wins, the others get WrongExpectedRevision', async () => {
      const s = stream('race');
      await store.append(s, [ev()], 'no_stream');
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => store.append(s, [ev()], 0n)));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(WrongExpectedRevision);
      expect(await store.readStream(s)).toHaveLength(2);
    });

    test('readStream honours fromRevision and maxCount', async () => {
      const s = stream('page');
      await store.append(s, Array.from({ length: 5 }, () => ev()), 'no_stream');
      expect((await store.readStream(s, { fromRevision: 2n })).map((e) => e.revision)).toEqual([2n, 3n, 4n]);
      expect((await store.readStream(s, { fromRevision: 1n, maxCount: 2 })).map((e) => e.revision)).toEqual([1n, 2n]);
      expect(await store.readStream(stream('none'))).toEqual([]);
    });

    test('concurrent readStream calls (a store may serve them with one query) each get exactly their own stream from their own revision', async () => {
      const a = stream('read-a');
      const b = stream('read-b');
      await store.append(a, Array.from({ length: 4 }, (_, i) => ev('A', { i })), 'no_stream');
      await store.append(b, Array.from({ length: 3 }, (_, i) => ev('B', { i })), 'no_stream');
      const [a0, b1, a3, none, a9, a2] = await Promise.all([
        store.readStream(a),
        store.readStream(b, { fromRevision: 1n }),
        store.readStream(a, { fromRevision: 3n }),
        store.readStream(stream('none')),
        store.readStream(a, { fromRevision: 9n }),
        store.readStream(a, { fromRevision: 2n, maxCount: 1 }),
      ]);
      const shape = (es: Awaited<ReturnType<EventStore['readStream']>>) => es.map((e) => `${e.streamId === a ? 'a' : e.streamId === b ? 'b' : '?'}${e.revision}:${(e.data as { i: number }).i}`);
      expect(shape(a0)).toEqual(['a0:0', 'a1:1', 'a2:2', 'a3:3']);
      expect(shape(b1)).toEqual(['b1:1', 'b2:2']);
      expect(shape(a3)).toEqual(['a3:3']);
      expect(none).toEqual([]);
      expect(a9).toEqual([]);
      expect(shape(a2)).toEqual(['a2:2']);
      // a read issued after an append sees it, however reads are grouped
      const [, after] = await Promise.all([store.readStream(b), store.append(b, [ev('B', { i: 3 })], 2n).then(() => store.readStream(b, { fromRevision: 3n }))]);
      expect(shape(after)).toEqual(['b3:3']);
    });

    test('readAll returns every stream in one global order and pages after a position', async () => {
      const s1 = stream('g1');
      const s2 = stream('g2');
      const head = await store.headPosition();
      await store.append(s1, [ev(), ev()], 'no_stream');
      await store.append(s2, [ev()], 'no_stream');
      const last = await store.append(s1, [ev()], 1n);
      // committed is not yet readable while an older transaction anywhere in the cluster is still
      // open (tests in other databases run alongside): read until the last append shows up
      const all = await readEverything(store, head, last.position);
      const mine = all.filter((e) => e.streamId === s1 || e.streamId === s2);
      expect(mine.map((e) => [e.streamId, e.revision])).toEqual([
        [s1, 0n],
        [s1, 1n],
        [s2, 0n],
        [s1, 2n],
      ]);
      for (let i = 1; i < all.length; i++) expect(comparePositions(all[i - 1]!.position, all[i]!.position)).toBeLessThan(0);
      const after = await store.readAll({ after: mine[1]!.position, maxCount: 10 });
      expect(after[0]!.id).toBe(mine[2]!.id);
      expect(comparePositions((await store.headPosition())!, last.position)).toBeGreaterThanOrEqual(0);
    });

    test('refuses malformed appends before touching storage', async () => {
      const s = stream('bad');
      await expect(store.append(s, [], 'any')).rejects.toBeInstanceOf(InvalidAppend);
      await expect(store.append(s, [{ ...ev(), id: 'not-a-uuid' }], 'any')).rejects.toBeInstanceOf(InvalidAppend);
      const e = ev();
      await expect(store.append(s, [e, e], 'any')).rejects.toBeInstanceOf(InvalidAppend);
      await expect(store.append(s, [{ ...ev(), metadata: {} as never }], 'any')).rejects.toBeInstanceOf(InvalidAppend);
      expect(await store.readStream(s)).toEqual([]);
    });

    test('stress: concurrent writers with random delays and rollbacks; a live subscriber sees every committed event exactly once, in stream order', async () => {
      const writers = Math.max(16, opts.writers ?? 16);
      const perWriter = opts.appendsPerWriter ?? 25;
      const maxDelay = opts.maxDelayMs ?? 15;
      const start = await store.headPosition();
      const runId = randomUUID().slice(0, 8);
      const seen: RecordedEvent[] = [];
      let position = start;
      const sink: SubscriptionSink = {
        name: `stress-${runId}`,
        load: async () => position,
        handle: async (events) => {
          seen.push(...events);
          position = events[events.length - 1]!.position;
        },
      };
      const sub = new CatchUpSubscription(store, sink, { batchSize: 37, idleDelayMs: 5 });
      sub.start();

      const committed = new Set<string>();
      const rolledBack = new Set<string>();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const streams = [`stress-${runId}-w${w}-a`, `stress-${runId}-w${w}-b`];
          const revs = new Map<string, bigint | 'no_stream'>(streams.map((s) => [s, 'no_stream']));
          for (let i = 0; i < perWriter; i++) {
            const s = streams[i % 2]!;
            const batch = Array.from({ length: 1 + (i % 3) }, () => ev('Stress', { w, i }));
            const rollback = Math.random() < 0.2;
            const delayMs = Math.floor(Math.random() * maxDelay);
            if (subject.appendWithFate) {
              try {
                await subject.appendWithFate(s, batch, revs.get(s)!, { delayMs, rollback });
                if (rollback) throw new Error('rollback was expected');
              } catch (e) {
                if (!(e instanceof Rollback)) throw e;
                batch.forEach((b) => rolledBack.add(b.id));
                continue;
              }
            } else {
              await sleep(delayMs);
              if (rollback) {
                batch.forEach((b) => rolledBack.add(b.id));
                continue;
              }
              await store.append(s, batch, revs.get(s)!);
            }
            const cur = revs.get(s)!;
            revs.set(s, (cur === 'no_stream' ? -1n : cur) + BigInt(batch.length));
            batch.forEach((b) => committed.add(b.id));
          }
        }),
      );

      await sub.waitFor(null, 60_000);
      await sub.stop();
      const mine = seen.filter((e) => e.streamId.startsWith(`stress-${runId}-`));
      const ids = mine.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length); // exactly once
      expect(new Set(ids)).toEqual(committed); // nothing missing, nothing extra
      for (const id of rolledBack) expect(committed.has(id)).toBe(false);
      const lastRev = new Map<string, bigint>();
      for (const e of mine) {
        expect(e.revision).toBe((lastRev.get(e.streamId) ?? -1n) + 1n); // stream order, no gaps
        lastRev.set(e.streamId, e.revision);
      }
      for (let i = 1; i < seen.length; i++) expect(comparePositions(seen[i - 1]!.position, seen[i]!.position)).toBeLessThan(0);
    });
  });
}

/** Pages through the global log after `after`; with `until`, keeps polling (≤ 30 s) until that position has been read. */
async function readEverything(store: EventStore, after: RecordedEvent['position'] | null, until?: RecordedEvent['position']): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let pos = after;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const page = await store.readAll({ after: pos, maxCount: 2 });
    if (page.length === 0) {
      if (!until || (pos && comparePositions(pos, until) >= 0)) return out;
      if (Date.now() > deadline) throw new Error(`readAll did not reach ${until.commit}/${until.prepare} in 30 s`);
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    out.push(...page);
    pos = page[page.length - 1]!.position;
  }
}
