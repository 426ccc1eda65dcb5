/**
 * append_batch (migration 10), the set-based statement behind group commit, called directly on
 * PostgreSQL and on the embedded store (run by the adapter test files). Its edge cases by name,
 * then a differential test: random batches run through append_many (migration 9, a loop over
 * append_to_stream, the reference) and through append_batch from the same state must give the
 * same statuses, revisions, duplicates and stored rows.
 */
import { randomUUID } from 'node:crypto';
import type { ExpectedRevision, NewEvent, OutboxMessage } from '../../domain/ports/eventStore';
import { appendBatchIn, batchOrder, batchPayload, type AppendRow, type BatchAppend } from '../../infrastructure/eventstore/sqlEventStore';
import type { SqlExecutor } from '../../domain/ports/sql';
import type { TestDatabase } from '../support/databases';
import { rng } from '../support/random';
import { ev, Rollback } from './eventStore.contract';

const name = (s: string) => `${s}-${randomUUID().slice(0, 8)}`;
const a = (streamId: string, events: NewEvent[], expected: ExpectedRevision, outbox?: OutboxMessage[]): BatchAppend => ({
  streamId,
  events,
  expected,
  ...(outbox ? { options: { outbox } } : {}),
});
const message = (id = randomUUID()): OutboxMessage => ({ id, topic: 'settle.test.v1', key: 'k', value: { n: 1 } });

export function describeAppendBatch(adapter: string, make: () => Promise<TestDatabase>): void {
  describe(`append_batch: ${adapter}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await make();
    });
    afterAll(async () => {
      await t?.drop();
    });

    const batch = (appends: BatchAppend[]) => t.db.transaction((tx) => appendBatchIn(tx, appends));
    const streamRow = async (s: string) => (await t.db.query<{ revision: string | number }>('SELECT revision FROM streams WHERE stream_id = $1', [s])).rows.map((r) => Number(r.revision));
    const stored = async (s: string) =>
      (await t.db.query<{ event_id: string; stream_revision: string | number; global_position: string | number }>(
        'SELECT event_id::text AS event_id, stream_revision, global_position FROM events WHERE stream_id = $1 ORDER BY stream_revision',
        [s],
      )).rows.map((r) => ({ id: r.event_id, revision: Number(r.stream_revision), prepare: BigInt(r.global_position) }));

    test('three appends to one stream in one batch apply one after another', async () => {
      const s = name('thrice');
      const first = ev('First');
      const second = ev('Second');
      const rows = await batch([
        a(s, [first], 'no_stream'),
        a(s, [first], 'no_stream'), // sees the first: a duplicate, though the stream now exists
        a(s, [second], 0n),
        a(s, [ev('Stale')], 0n), // checked against the revision the third left
      ]);
      expect(rows.map((r) => [r.status, Number(r.revision)])).toEqual([
        ['appended', 0],
        ['duplicate', 0],
        ['appended', 1],
        ['wrong_expected_revision', 1],
      ]);
      expect(rows[1]!.events).toEqual(rows[0]!.events);
      const got = await stored(s);
      expect(got.map((e) => [e.id, e.revision])).toEqual([
        [first.id, 0],
        [second.id, 1],
      ]);
      expect(got[0]!.prepare < got[1]!.prepare).toBe(true);
      expect(await streamRow(s)).toEqual([1]);
    });

    test('a duplicate wins over a stale expected revision and returns the original positions', async () => {
      const s = name('dup');
      const x = ev('X');
      const y = ev('Y');
      const [original] = await batch([a(s, [x, y], 'no_stream')]);
      await batch([a(s, [ev('Z')], 1n)]);
      const rows = await batch([a(s, [y, x], 'no_stream'), a(name('other'), [ev()], 'no_stream')]);
      expect(rows[0]).toEqual({ status: 'duplicate', revision: 2, events: original!.events });
      expect(rows[1]!.status).toBe('appended');
      expect(await stored(s)).toHaveLength(3);
    });

    test('mixed duplicates name the ids already stored and write nothing', async () => {
      const s = name('mixed');
      const known = ev('Known');
      await batch([a(s, [known], 'no_stream')]);
      const fresh = ev('Fresh');
      const box = message();
      const rows = await batch([a(s, [known, fresh], 'any', [box])]);
      expect(rows[0]).toEqual({ status: 'mixed_duplicates', revision: 0, existing: [known.id] });
      expect(await stored(s)).toHaveLength(1);
      const { rows: outbox } = await t.db.query('SELECT 1 FROM outbox WHERE message_id = $1', [box.id]);
      expect(outbox).toHaveLength(0);
    });

    test('a stream row created for refused appends does not remain; a later append in the batch keeps it', async () => {
      const refused = name('refused');
      const twice = name('refused-twice');
      const revived = name('revived');
      const dupThenMixed = name('then-mixed');
      const e1 = ev();
      const rows = await batch([
        a(dupThenMixed, [e1], 'no_stream'),
        a(dupThenMixed, [e1, ev()], 'any'),
        a(refused, [ev()], 'stream_exists'),
        a(revived, [ev()], 3n),
        a(revived, [ev('Created')], 'no_stream'),
        a(twice, [ev()], 'stream_exists'),
        a(twice, [ev()], 0n),
      ]);
      expect(rows.map((r) => [r.status, Number(r.revision)])).toEqual([
        ['appended', 0],
        ['mixed_duplicates', 0],
        ['wrong_expected_revision', -1],
        ['wrong_expected_revision', -1],
        ['appended', 0],
        ['wrong_expected_revision', -1],
        ['wrong_expected_revision', -1],
      ]);
      expect(await streamRow(refused)).toEqual([]);
      expect(await streamRow(twice)).toEqual([]);
      expect(await streamRow(revived)).toEqual([0]);
      expect(await streamRow(dupThenMixed)).toEqual([0]);
      expect((await stored(revived)).map((e) => e.revision)).toEqual([0]);
    });

    test('outbox rows are written for appended events only, in batch order, with availableAt', async () => {
      const s = name('box');
      const e = ev();
      const later = new Date(Date.now() + 3_600_000);
      const m1 = message();
      const m2: OutboxMessage = { ...message(), availableAt: later.toISOString() };
      const m3 = message();
      await batch([a(s, [e], 'no_stream', [m1, m2]), a(s, [e], 'no_stream', [m3])]);
      const { rows } = await t.db.query<{ message_id: string; available_at: Date | string }>(
        'SELECT message_id::text AS message_id, available_at FROM outbox WHERE message_id = ANY($1::uuid[]) ORDER BY id',
        [[m1.id, m2.id, m3.id]],
      );
      expect(rows.map((r) => r.message_id)).toEqual([m1.id, m2.id]);
      expect(new Date(rows[1]!.available_at).getTime()).toBe(later.getTime());
    });

    test('an outbox message id that exists with other content raises, and the batch writes nothing (no stream row either)', async () => {
      const m = message();
      await batch([a(name('owner'), [ev()], 'no_stream', [m])]);
      const fresh = name('fresh');
      const clash = name('clash');
      await expect(batch([a(fresh, [ev()], 'no_stream'), a(clash, [ev()], 'no_stream', [{ ...m, value: { n: 2 } }])])).rejects.toMatchObject({ code: 'SO409' });
      expect(await streamRow(fresh)).toEqual([]);
      expect(await streamRow(clash)).toEqual([]);
      expect(await stored(fresh)).toEqual([]);
    });

    test('an outbox message id that exists with the same content is written once, and the rest of the batch is written', async () => {
      const m = message();
      await batch([a(name('owner2'), [ev()], 'no_stream', [m])]);
      const again = name('again');
      await batch([a(again, [ev()], 'no_stream', [m])]);
      expect(await stored(again)).toHaveLength(1);
      const { rows } = await t.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM outbox WHERE message_id = $1`, [m.id]);
      expect(Number(rows[0]!.n)).toBe(1);
    });

    test('an empty batch returns no results; an append without events raises as append_to_stream does', async () => {
      expect(await batch([])).toEqual([]);
      const s = name('empty');
      await expect(t.db.query('SELECT append_batch($1::jsonb)', [JSON.stringify([{ stream: s, kind: 'any', expected: null, events: [], outbox: [] }])])).rejects.toThrow(
        /at least one event/,
      );
      expect(await streamRow(s)).toEqual([]);
    });

    test('random batches: append_batch decides exactly as append_many (append_to_stream in a loop)', async () => {
      const random = rng(20260801);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const streams = Array.from({ length: 5 }, (_, i) => name(`r${i}`));
      const knownIds = new Map<string, string[]>(streams.map((s) => [s, []]));
      for (let round = 0; round < 60; round++) {
        const appends: BatchAppend[] = [];
        for (let i = 0, n = 1 + Math.floor(random() * 8); i < n; i++) {
          const s = pick(streams);
          const ids = new Set<string>();
          for (let k = 0, m = 1 + Math.floor(random() * 3); k < m; k++) {
            const seen = knownIds.get(s)!;
            // known ids of this stream (duplicates), of another stream (new here), or fresh
            const elsewhere: string[] = [...knownIds.values()].flat();
            const r = random();
            ids.add(r < 0.3 && seen.length ? pick(seen) : r < 0.4 && elsewhere.length ? pick(elsewhere) : randomUUID());
          }
          const events = [...ids].map((id): NewEvent => ({ ...ev(pick(['A', 'B']), { round, i }), id }));
          for (const e of events) knownIds.get(s)!.push(e.id);
          const expected: ExpectedRevision = pick(['no_stream', 'stream_exists', 'any', 'exact', 'exact', 'exact'] as const) === 'exact' ? BigInt(Math.floor(random() * 6) - 1) : pick(['no_stream', 'stream_exists', 'any'] as const);
          appends.push(a(s, events, expected, random() < 0.3 ? [message()] : undefined));
        }
        // in the order the flusher passes them
        const ordered = batchOrder(appends).map((i) => appends[i]!);
        const reference = await outcome(t, ordered, 'append_many', streams, true);
        const actual = await outcome(t, ordered, 'append_batch', streams, false);
        expect({ round, ...actual }).toEqual({ round, ...reference });
      }
    });
  });
}

/**
 * Runs one batch through one function inside a transaction and returns what an observer can see:
 * the statuses (positions of new events left out: the two runs are different transactions), the
 * stream rows and stored events of the streams, and the batch's outbox rows. rollback: leave the
 * database as it was, so the other function starts from the same state.
 */
async function outcome(t: TestDatabase, appends: BatchAppend[], fn: 'append_many' | 'append_batch', streams: string[], rollback: boolean) {
  let seen: unknown;
  const run = async (tx: SqlExecutor) => {
    const { rows } = await tx.query<{ r: AppendRow[] | string }>(`SELECT ${fn}($1::jsonb) AS r`, [batchPayload(appends)]);
    const r = rows[0]!.r;
    const self = (await tx.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
    // events written by this very transaction (appended, or duplicates of an earlier append of the
    // batch): their positions differ between the two runs, their ids and revisions must not
    const results = (typeof r === 'string' ? (JSON.parse(r) as AppendRow[]) : r).map((row) => ({
      ...row,
      ...(row.existing ? { existing: [...row.existing].sort() } : {}),
      ...(row.events ? { events: row.events.map((e) => (e.commit === self ? { id: e.id, revision: Number(e.revision), commit: 'this batch' } : e)) } : {}),
    }));
    const streamRows = (await tx.query('SELECT stream_id, revision::text AS rev FROM streams WHERE stream_id = ANY($1) ORDER BY stream_id', [streams])).rows;
    const events = (
      // aliases differ from the column names, so ORDER BY sorts the numbers, not their text
      await tx.query<{ stream_id: string; rev: string; event_id: string; event_type: string; pos: string }>(
        `SELECT stream_id, stream_revision::text AS rev, event_id::text AS event_id, event_type, global_position::text AS pos
           FROM events WHERE stream_id = ANY($1) ORDER BY stream_id, stream_revision`,
        [streams],
      )
    ).rows;
    // within a stream, revisions follow sequence numbers
    for (let i = 1; i < events.length; i++) {
      if (events[i]!.stream_id === events[i - 1]!.stream_id && BigInt(events[i]!.pos) < BigInt(events[i - 1]!.pos)) throw new Error(`${fn}: revisions out of sequence order`);
    }
    const ids = appends.flatMap((x) => (x.options?.outbox ?? []).map((m) => m.id));
    const outbox = (await tx.query('SELECT message_id::text AS message_id FROM outbox WHERE message_id = ANY($1::uuid[]) ORDER BY id', [ids])).rows;
    seen = { results, streamRows, events: events.map(({ pos: _, ...e }) => e), outbox };
  };
  if (rollback) {
    await t.db
      .transaction(async (tx) => {
        await run(tx);
        throw new Rollback('reference run');
      })
      .catch((err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      });
  } else {
    await t.db.transaction(run);
  }
  return seen as Record<string, unknown>;
}
