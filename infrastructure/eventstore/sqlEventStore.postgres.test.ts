/** Event store contract on a real PostgreSQL server (DATABASE_URL; `npm test` starts one). */
import { describeEventStoreContract, Rollback } from '../../test/contract/eventStore.contract';
import { postgresDatabase } from '../../test/support/databases';
import { SqlEventStore, appendIn, interpret } from './sqlEventStore';

describeEventStoreContract('PostgreSQL', async () => {
  const t = await postgresDatabase({ max: 40 });
  const store = new SqlEventStore(t.db);
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
});
