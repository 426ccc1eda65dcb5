/**
 * Group-commit specifics of SqlEventStore (infrastructure/eventstore), run on PostgreSQL and on the embedded store by the
 * adapter test files (the contract suite runs against both modes there as well). Appends issued
 * in the same tick while the flusher is idle share one batch; `stats.batches` proves it.
 */
import { randomUUID } from 'node:crypto';
import { MixedDuplicateBatch, OutboxMessageConflict, WrongExpectedRevision } from '../../domain/ports/eventStore';
import { ev } from './eventStore.contract';
import type { TestDatabase } from '../support/databases';
import { SqlEventStore } from '../../infrastructure/eventstore/sqlEventStore';
import { rng } from '../support/random';

const settle = <T>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
const stream = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

export function describeGroupCommit(adapter: string, make: () => Promise<TestDatabase>): void {
  describe(`SqlEventStore group commit: ${adapter}`, () => {
    let t: TestDatabase;
    let store: SqlEventStore;
    let wakes = 0;

    beforeAll(async () => {
      t = await make();
      // one batch in flight, so that appends issued together land in exactly one batch
      store = new SqlEventStore(t.db, () => (wakes += 1), { groupCommit: true, maxConcurrentBatches: 1 });
    });
    afterAll(async () => {
      await t?.drop();
    });

    test('appends issued together run in one transaction: one batch, one transaction id', async () => {
      const streams = [stream('a'), stream('b'), stream('c'), stream('d')];
      const before = { ...store.stats };
      const wakesBefore = wakes;
      const results = await Promise.all(streams.map((s) => store.append(s, [ev()], 'no_stream')));
      expect(store.stats.batches - before.batches).toBe(1);
      expect(store.stats.appends - before.appends).toBe(4);
      expect(new Set(results.map((r) => r.position.commit)).size).toBe(1);
      expect(wakes - wakesBefore).toBe(1);
      for (const [i, s] of streams.entries()) expect((await store.readStream(s)).map((e) => e.id)).toEqual([results[i]!.events[0]!.id]);
    });

    test('a conflict in one append does not fail its batch neighbours', async () => {
      const busy = stream('busy');
      await store.append(busy, [ev()], 'no_stream');
      const left = stream('left');
      const right = stream('right');
      const before = store.stats.batches;
      const [a, conflict, b] = await Promise.all([
        settle(store.append(left, [ev()], 'no_stream')),
        settle(store.append(busy, [ev()], 'no_stream')),
        settle(store.append(right, [ev(), ev()], 'no_stream')),
      ]);
      expect(store.stats.batches - before).toBe(1);
      expect(a.ok && b.ok).toBe(true);
      expect(conflict.ok).toBe(false);
      expect(!conflict.ok && conflict.error).toBeInstanceOf(WrongExpectedRevision);
      expect(!conflict.ok && (conflict.error as WrongExpectedRevision).actual).toBe(0n);
      expect(await store.readStream(busy)).toHaveLength(1);
      expect(await store.readStream(left)).toHaveLength(1);
      expect(await store.readStream(right)).toHaveLength(2);
    });

    test('a mixed-duplicate append in a batch is refused alone and writes nothing', async () => {
      const s = stream('mixed');
      const known = ev();
      await store.append(s, [known], 'no_stream');
      const other = stream('other');
      const [mixed, fine] = await Promise.all([settle(store.append(s, [known, ev()], 'any')), settle(store.append(other, [ev()], 'any'))]);
      expect(!mixed.ok && mixed.error).toBeInstanceOf(MixedDuplicateBatch);
      expect(fine.ok).toBe(true);
      expect(await store.readStream(s)).toHaveLength(1);
    });

    test('the same events twice in one batch: written once, the second is a duplicate with the original positions', async () => {
      const s = stream('twice');
      const events = [ev('PaymentRecorded'), ev('InvoicePaid')];
      const before = store.stats.batches;
      const wakesBefore = wakes;
      const [first, second] = await Promise.all([store.append(s, events, 'no_stream'), store.append(s, events, 'no_stream')]);
      expect(store.stats.batches - before).toBe(1);
      expect(first.duplicate).toBe(false);
      expect(second.duplicate).toBe(true);
      expect(second.events).toEqual(first.events);
      expect(second.position).toEqual(first.position);
      expect(wakes - wakesBefore).toBe(1);
      expect(await store.readStream(s)).toHaveLength(2);
    });

    test('two appends to one stream in one batch keep their order and are checked against each other', async () => {
      const s = stream('ordered');
      const before = store.stats.batches;
      const [first, second, stale] = await Promise.all([
        settle(store.append(s, [ev('First')], 'no_stream')),
        settle(store.append(s, [ev('Second'), ev('Third')], 0n)),
        settle(store.append(s, [ev('Stale')], 0n)),
      ]);
      expect(store.stats.batches - before).toBe(1);
      expect(first.ok && first.value.nextExpectedRevision).toBe(0n);
      expect(second.ok && second.value.nextExpectedRevision).toBe(2n);
      expect(!stale.ok && stale.error).toBeInstanceOf(WrongExpectedRevision);
      expect(!stale.ok && (stale.error as WrongExpectedRevision).actual).toBe(2n);
      expect((await store.readStream(s)).map((e) => [e.type, e.revision])).toEqual([
        ['First', 0n],
        ['Second', 1n],
        ['Third', 2n],
      ]);
      // a refused first append to a new stream, followed in the same batch by a valid one
      const fresh = stream('fresh');
      const [refused, created] = await Promise.all([settle(store.append(fresh, [ev()], 'stream_exists')), settle(store.append(fresh, [ev()], 'no_stream'))]);
      expect(!refused.ok && (refused.error as WrongExpectedRevision).actual).toBe('no_stream');
      expect(created.ok && created.value.nextExpectedRevision).toBe(0n);
    });

    test('a statement that raises rolls the batch back; every append then runs alone and gets its own outcome', async () => {
      const messageId = randomUUID();
      const m = { id: messageId, topic: 'settle.test.v1', key: 'k', value: { n: 1 } };
      await store.append(stream('first-owner'), [ev()], 'no_stream', { outbox: [m] });
      const other = { ...m, value: { n: 2 } }; // the same message id with other content raises (migration 11)
      const before = { ...store.stats };
      const a = stream('fa');
      const b = stream('fb');
      const [ok1, clash, ok2] = await Promise.all([
        settle(store.append(a, [ev()], 'no_stream')),
        settle(store.append(stream('clash'), [ev()], 'no_stream', { outbox: [other] })), // outbox message id exists with other content
        settle(store.append(b, [ev()], 'no_stream')),
      ]);
      expect(store.stats.fallbacks - before.fallbacks).toBe(1);
      expect(ok1.ok && ok2.ok).toBe(true);
      expect(clash.ok).toBe(false);
      expect(!clash.ok && clash.error).toBeInstanceOf(OutboxMessageConflict);
      expect(await store.readStream(a)).toHaveLength(1);
      expect(await store.readStream(b)).toHaveLength(1);
      // after a fallback, two appends to one stream still apply in their order
      const s = stream('ordered-fallback');
      const [first, boom, second] = await Promise.all([
        settle(store.append(s, [ev('First')], 'no_stream')),
        settle(store.append(stream('clash-again'), [ev()], 'no_stream', { outbox: [other] })),
        settle(store.append(s, [ev('Second')], 0n)),
      ]);
      expect(boom.ok).toBe(false);
      expect(first.ok && second.ok).toBe(true);
      expect((await store.readStream(s)).map((e) => e.type)).toEqual(['First', 'Second']);
    });

    test('a failing COMMIT rejects every append of the batch, and none of them is stored', async () => {
      // a deferred constraint trigger fails at COMMIT when it sees a poisoned event
      await t.db.exec(`
        CREATE OR REPLACE FUNCTION gc_test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.event_type = 'PoisonAtCommit' THEN RAISE EXCEPTION 'refused at commit'; END IF;
          RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER gc_test_poison_at_commit AFTER INSERT ON events
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gc_test_refuse_poison();`);
      try {
        const streams = [stream('c1'), stream('c2'), stream('c3')];
        const before = { ...store.stats };
        const outcomes = await Promise.all([
          settle(store.append(streams[0]!, [ev()], 'no_stream')),
          settle(store.append(streams[1]!, [ev('PoisonAtCommit')], 'no_stream')),
          settle(store.append(streams[2]!, [ev()], 'no_stream')),
        ]);
        expect(store.stats.commitFailures - before.commitFailures).toBe(1);
        expect(store.stats.fallbacks - before.fallbacks).toBe(0);
        for (const o of outcomes) {
          expect(o.ok).toBe(false);
          expect(!o.ok && (o.error as Error).message).toContain('refused at commit');
        }
        for (const s of streams) expect(await store.readStream(s)).toHaveLength(0);
        // the store goes on working, and the refused appends can be retried
        await expect(store.append(streams[0]!, [ev()], 'no_stream')).resolves.toMatchObject({ duplicate: false });
      } finally {
        await t.db.exec(`DROP TRIGGER gc_test_poison_at_commit ON events; DROP FUNCTION gc_test_refuse_poison();`);
      }
    });

    test('a batch holds at most maxBatch appends; the rest follow in the next batches', async () => {
      const small = new SqlEventStore(t.db, undefined, { groupCommit: true, maxBatch: 8, maxConcurrentBatches: 1 });
      const done = await Promise.all(Array.from({ length: 20 }, (_, i) => small.append(stream(`w${i}`), [ev()], 'no_stream')));
      expect(done.every((r) => !r.duplicate)).toBe(true);
      expect(small.stats).toMatchObject({ batches: 3, appends: 20 });
      expect(new Set(done.map((r) => r.position.commit)).size).toBe(3);
      // each stored exactly once (counted in the table: readAll would also wait for other sessions' transactions)
      const ids = done.map((r) => r.events[0]!.id);
      const { rows } = await t.db.query<{ n: string | number }>('SELECT count(*) AS n FROM events WHERE event_id = ANY($1::uuid[])', [ids]);
      expect(Number(rows[0]!.n)).toBe(20);
    });

    test('batches of several stores, single appends and atomic appends over the same streams, new and old, never deadlock', async () => {
      // Each store stands for a process with its own flushers. A deadlock would surface as a
      // statement error (40P01): in a batch, as a fallback to one-by-one appends; alone, as a rejection.
      const stores = [0, 1, 2].map(() => new SqlEventStore(t.db, undefined, { groupCommit: true, maxConcurrentBatches: 2 }));
      const single = new SqlEventStore(t.db, undefined, { groupCommit: false });
      const random = rng(808);
      const all: string[] = [];
      let expectedEvents = 0;
      const calls: Array<Promise<unknown>> = [];
      for (let group = 0; group < 8; group++) {
        // fresh streams per group, every other one created beforehand: batches lock existing rows
        // while first appends race to create the rows in between
        const streams = Array.from({ length: 6 }, (_, i) => `${stream(`dl${group}`)}-${i}`);
        all.push(...streams);
        for (const s of streams.filter((_, i) => i % 2 === 0)) await single.append(s, [ev()], 'no_stream');
        expectedEvents += 3;
        const pickStreams = (n: number) => [...streams].sort(() => random() - 0.5).slice(0, n);
        for (let i = 0; i < 72; i++) {
          const r = random();
          if (r < 0.75) {
            expectedEvents += 1;
            calls.push(stores[Math.floor(random() * stores.length)]!.append(pickStreams(1)[0]!, [ev()], 'any'));
          } else if (r < 0.85) {
            expectedEvents += 1;
            calls.push(single.append(pickStreams(1)[0]!, [ev()], 'any'));
          } else {
            const parts = pickStreams(2 + Math.floor(random() * 3)).map((s) => ({ streamId: s, events: [ev()], expected: 'any' as const }));
            expectedEvents += parts.length;
            calls.push(stores[0]!.appendAtomically(parts));
          }
        }
      }
      const outcomes = await Promise.allSettled(calls);
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
      expect(stores.map((x) => x.stats.fallbacks)).toEqual([0, 0, 0]);
      const { rows } = await t.db.query<{ n: string | number }>('SELECT count(*) AS n FROM events WHERE stream_id = ANY($1)', [all]);
      expect(Number(rows[0]!.n)).toBe(expectedEvents);
    });

    test('with two batches in flight, what is queued is shared between them; every append still gets its own result', async () => {
      const two = new SqlEventStore(t.db, undefined, { groupCommit: true, maxConcurrentBatches: 2 });
      const hot = stream('hot');
      await two.append(hot, [ev()], 'no_stream');
      const before = { ...two.stats };
      const outcomes = await Promise.all([
        ...Array.from({ length: 15 }, (_, i) => settle(two.append(stream(`p${i}`), [ev()], 'no_stream'))),
        settle(two.append(hot, [ev()], 'no_stream')), // conflicts
      ]);
      const parallel = t.db.kind === 'postgres';
      expect(two.stats.batches - before.batches).toBe(parallel ? 2 : 1);
      expect(outcomes.filter((o) => o.ok)).toHaveLength(15);
      expect(!outcomes[15]!.ok && outcomes[15]!.error).toBeInstanceOf(WrongExpectedRevision);
      const commits = new Set(outcomes.flatMap((o) => (o.ok ? [o.value.position.commit] : [])));
      expect(commits.size).toBe(parallel ? 2 : 1);
    });
  });
}
