import type { SqlClient } from '../../domain/ports/sql';
import { outboxOf } from './esdbEventStore';
import { SqlCheckpointStore, type SubscriptionSink } from './catchUp';

/**
 * With EventStoreDB as the log there is no shared transaction with SQL, so outbox messages travel
 * in event metadata and this subscription copies them into the SQL outbox together with its
 * checkpoint (one transaction; message ids make a replay a no-op). The relay then works as usual.
 */
export function esdbOutboxFeeder(db: SqlClient): SubscriptionSink {
  const name = 'eventstoredb-outbox-feeder';
  const checkpoints = new SqlCheckpointStore(db);
  return {
    name,
    load: () => checkpoints.load(name),
    async handle(events) {
      const last = events[events.length - 1];
      if (!last) return;
      await db.transaction(async (tx) => {
        for (const e of events) {
          for (const m of outboxOf(e.metadata) as Array<Record<string, unknown>>) {
            await tx.query(
              `INSERT INTO outbox (message_id, topic, message_key, value, headers, available_at)
               VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, coalesce($6::timestamptz, clock_timestamp()))
               ON CONFLICT (message_id) DO NOTHING`,
              [m.id, m.topic, m.key, JSON.stringify(m.value), JSON.stringify(m.headers ?? {}), m.availableAt ?? null],
            );
          }
        }
        await tx.query(
          `INSERT INTO checkpoints (name, position_commit, position_prepare) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET position_commit = EXCLUDED.position_commit,
             position_prepare = EXCLUDED.position_prepare, updated_at = clock_timestamp()`,
          [name, last.position.commit.toString(), last.position.prepare.toString()],
        );
      });
    },
  };
}
