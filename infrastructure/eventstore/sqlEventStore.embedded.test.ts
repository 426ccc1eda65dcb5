/** Event store contract on the embedded default (PGlite, in memory), with and without group commit. */
import { describeEventStoreContract, Rollback } from '../../test/contract/eventStore.contract';
import { embeddedDatabase } from '../../test/support/databases';
import { describeGroupCommit } from '../../test/contract/groupCommit.contract';
import { SqlEventStore, appendIn, interpret } from './sqlEventStore';

for (const groupCommit of [true, false]) {
  describeEventStoreContract(
    `embedded PGlite, group commit ${groupCommit ? 'on' : 'off'}`,
    async () => {
      const t = await embeddedDatabase();
      const store = new SqlEventStore(t.db, undefined, { groupCommit });
      return {
        store,
        async appendWithFate(streamId, events, expected, fate) {
          await t.db.transaction(async (tx) => {
            interpret(streamId, events, expected, await appendIn(tx, streamId, events, expected));
            await new Promise((r) => setTimeout(r, fate.delayMs));
            if (fate.rollback) throw new Rollback('rolled back on purpose');
          });
        },
        cleanup: () => t.drop(),
      };
    },
    // PGlite is one session: transactions run one after another, so keep the held-open delays short.
    { maxDelayMs: 3, appendsPerWriter: 12 },
  );
}

describeGroupCommit('embedded PGlite', () => embeddedDatabase());
