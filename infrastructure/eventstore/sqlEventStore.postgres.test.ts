/** Event store contract on a real PostgreSQL server (DATABASE_URL; `npm test` starts one). */
import { describeEventStoreContract, ev, Rollback } from '../../test/contract/eventStore.contract';
import { sqlContractSubject } from '../../test/contract/sqlSubject';
import { postgresDatabase } from '../../test/support/databases';
import { SqlEventStore, appendIn, interpret } from './sqlEventStore';
import { describeGroupCommit } from '../../test/contract/groupCommit.contract';
import { describeAppendBatch } from '../../test/contract/appendBatch.contract';
import { describeQueryAutocommit } from '../../test/contract/queryAutocommit.contract';

// Both modes of the store: group commit (the default) and one transaction per append.
for (const groupCommit of [true, false]) {
  describeEventStoreContract(`PostgreSQL, group commit ${groupCommit ? 'on' : 'off'}`, async () => sqlContractSubject(await postgresDatabase({ max: 40 }), groupCommit));
}

describeGroupCommit('PostgreSQL', () => postgresDatabase({ max: 8 }));
describeAppendBatch('PostgreSQL', () => postgresDatabase({ max: 4 }));
describeQueryAutocommit('PostgreSQL', () => postgresDatabase({ max: 2 }));

/**
 * The types readAll returns once at least `n` events are visible. Transactions of other tests
 * (other databases of the same cluster) also hold the snapshot xmin back for a moment, so
 * "readable" may trail "committed"; what these tests pin is the order and the absence of skips.
 */
async function typesOnceVisible(store: SqlEventStore, head: Awaited<ReturnType<SqlEventStore['headPosition']>>, n: number): Promise<string[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const seen = await store.readAll({ after: head });
    if (seen.length >= n || Date.now() > deadline) return seen.map((e) => e.type);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('global order on PostgreSQL: the slow-transaction trap', () => {
  test('an event of a later commit is held back until the earlier, slower transaction ends, so a reader never skips it', async () => {
    const t = await postgresDatabase({ max: 6 });
    try {
      const store = new SqlEventStore(t.db);
      const head = await store.headPosition();
      let releaseA!: () => void;
      const aMayCommit = new Promise<void>((r) => (releaseA = r));
      let aWrote!: () => void;
      const aHasWritten = new Promise<void>((r) => (aWrote = r));
      const slowA = t.db.transaction(async (tx) => {
        const a = [ev('A')];
        interpret('slow', a, 'no_stream', await appendIn(tx, 'slow', a, 'no_stream'));
        aWrote();
        await aMayCommit;
      });
      await aHasWritten;
      await store.append('fast', [ev('B')], 'no_stream'); // commits first, with a higher sequence number

      // A reader trusting the sequence would see B now and move past A's lower number for good:
      const naive = await t.db.query<{ event_type: string }>(
        `SELECT event_type FROM events WHERE global_position > $1 ORDER BY global_position`,
        [head?.prepare.toString() ?? '0'],
      );
      expect(naive.rows.map((r) => r.event_type)).toEqual(['B']);
      // Settle's reader holds B back while A may still commit:
      expect(await store.readAll({ after: head })).toEqual([]);

      releaseA();
      await slowA;
      expect(await typesOnceVisible(store, head, 2)).toEqual(['A', 'B']);
    } finally {
      await t.drop();
    }
  });

  test('a rolled-back transaction does not block the reader', async () => {
    const t = await postgresDatabase({ max: 6 });
    try {
      const store = new SqlEventStore(t.db);
      const head = await store.headPosition();
      let releaseA!: () => void;
      const aMayEnd = new Promise<void>((r) => (releaseA = r));
      let aWrote!: () => void;
      const aHasWritten = new Promise<void>((r) => (aWrote = r));
      const doomed = t.db
        .transaction(async (tx) => {
          await appendIn(tx, 'doomed', [ev('A')], 'no_stream');
          aWrote();
          await aMayEnd;
          throw new Rollback('abort');
        })
        .catch((e: unknown) => e);
      await aHasWritten;
      await store.append('fine', [ev('B')], 'no_stream');
      expect(await store.readAll({ after: head })).toEqual([]);
      releaseA();
      expect(await doomed).toBeInstanceOf(Rollback);
      expect(await typesOnceVisible(store, head, 1)).toEqual(['B']);
    } finally {
      await t.drop();
    }
  });
});
