/**
 * The event store an application-level suite (commands, reactors, sagas) runs on: in memory for
 * the fast run beside the code (`*.test.ts`), PostgreSQL for the integration run
 * (`*.postgres.test.ts`). The memory store passes the same EventStore contract as PostgreSQL
 * (infrastructure/eventstore/memoryEventStore.test.ts), which is what makes the fast run faithful.
 */
import type { EventStore } from '../../domain/ports/eventStore';
import { MemoryEventStore } from '../../infrastructure/eventstore/memoryEventStore';
import { SqlEventStore } from '../../infrastructure/eventstore/sqlEventStore';
import { postgresDatabase } from '../support/databases';

export interface StoreUnderTest {
  readonly store: EventStore;
  /** A second store over the same storage, as another process would open it (memory: the same store). */
  another(): EventStore;
  close(): Promise<void>;
}

export async function memoryStore(): Promise<StoreUnderTest> {
  const store = new MemoryEventStore();
  return { store, another: () => store, close: async () => {} };
}

export async function postgresStore(): Promise<StoreUnderTest> {
  const t = await postgresDatabase({ max: 30 });
  return { store: new SqlEventStore(t.db), another: () => new SqlEventStore(t.db), close: () => t.drop() };
}
