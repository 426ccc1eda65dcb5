/**
 * The contract subject for SqlEventStore on a test database (PostgreSQL or embedded PGlite):
 * the store, in group-commit mode or not, plus appendWithFate for the stress test (an append held
 * open in its own transaction, then committed or rolled back).
 */
import { SqlEventStore, appendIn, interpret } from '../../infrastructure/eventstore/sqlEventStore';
import type { TestDatabase } from '../support/databases';
import { Rollback, type ContractSubject } from './eventStore.contract';

export function sqlContractSubject(t: TestDatabase, groupCommit: boolean): ContractSubject & { store: SqlEventStore } {
  return {
    store: new SqlEventStore(t.db, undefined, { groupCommit }),
    async appendWithFate(streamId, events, expected, fate) {
      await t.db.transaction(async (tx) => {
        interpret(streamId, events, expected, await appendIn(tx, streamId, events, expected));
        await new Promise((r) => setTimeout(r, fate.delayMs));
        if (fate.rollback) throw new Rollback('rolled back on purpose');
      });
    },
    cleanup: () => t.drop(),
  };
}
