import type { Position } from '../../domain/ports/eventStore';
import type { SqlExecutor } from '../../domain/ports/sql';

/** Events recorded after a position (a subscription's checkpoint), counted up to a million: the `settle_projection_events_behind` gauge. */
export async function eventsAfter(db: SqlExecutor, pos: Position | null): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint) LIMIT 1000000) x`,
    [pos?.commit.toString() ?? '0', pos?.prepare.toString() ?? '0'],
  );
  return Number(rows[0]?.n ?? 0);
}
