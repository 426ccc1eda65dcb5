/**
 * A read model with one row per aggregate stream, computed with the aggregate's own `evolve`:
 * the row keeps the folded state (jsonb) plus the columns queries filter on. One source of truth
 * for what an event means: the domain. A batch loads the touched rows once, evolves in memory
 * and upserts the touched rows in one statement per column set.
 */
import type { RecordedEvent } from '../domain/ports/eventStore';
import type { SqlExecutor } from '../domain/ports/sql';

export interface RowContext {
  readonly streamId: string;
  /** The aggregate id (the part after the tenant in the stream name). */
  readonly id: string;
  readonly tenantId: string;
  readonly createdAt: Date;
  readonly last: RecordedEvent;
}

export interface AggregateRowsSpec<S> {
  /** Stream category prefix, e.g. `invoice-`. */
  readonly category: string;
  readonly initialState: S;
  evolve(state: S, event: { type: string; data: unknown }): S;
  /** Columns to write besides stream_id, tenant_id, id, state, created_at, updated_at, revision, position. */
  columns(state: S, ctx: RowContext): Record<string, unknown>;
}

interface Row<S> {
  state: S;
  createdAt: Date;
  revision: bigint;
  last: RecordedEvent | null;
}

/** `booking-acme.bk_1` -> { tenantId: 'acme', id: 'bk_1' } */
export function parseStream(category: string, streamId: string): { tenantId: string; id: string } | null {
  if (!streamId.startsWith(category)) return null;
  const rest = streamId.slice(category.length);
  const dot = rest.indexOf('.');
  if (dot <= 0) return null;
  return { tenantId: rest.slice(0, dot), id: rest.slice(dot + 1) };
}

export async function applyAggregateRows<S>(tx: SqlExecutor, table: string, spec: AggregateRowsSpec<S>, events: readonly RecordedEvent[]): Promise<void> {
  const mine = events.filter((e) => e.streamId.startsWith(spec.category));
  if (mine.length === 0) return;
  const streamIds = [...new Set(mine.map((e) => e.streamId))];
  const { rows } = await tx.query<{ stream_id: string; state: S; created_at: Date; revision: string }>(
    `SELECT stream_id, state, created_at, revision FROM ${table} WHERE stream_id = ANY($1::text[])`,
    [streamIds],
  );
  const current = new Map<string, Row<S>>(
    rows.map((r) => [r.stream_id, { state: (typeof r.state === 'string' ? JSON.parse(r.state) : r.state) as S, createdAt: new Date(r.created_at), revision: BigInt(r.revision), last: null }]),
  );
  for (const e of mine) {
    const row = current.get(e.streamId) ?? { state: spec.initialState, createdAt: e.recordedAt, revision: -1n, last: null };
    // Exactly once: an event at or below the row's revision was applied already. A gap is an
    // event dead-lettered in skip mode: the row moves on without it rather than freezing.
    if (e.revision <= row.revision) continue;
    current.set(e.streamId, { state: spec.evolve(row.state, { type: e.type, data: e.data }), createdAt: row.createdAt, revision: e.revision, last: e });
  }
  // One upsert per column set: the rows travel as one jsonb array and jsonb_populate_recordset
  // types each field by the table's own column type, so the statement's plan does not grow with
  // the row count (a multi-row VALUES list of thousands of parameters cost more to bind and plan
  // than to execute). Each stream appears once, so no statement touches a row twice. Object
  // values are embedded as JSON (for jsonb columns); Dates become ISO-8601 (timestamptz columns).
  const pending = new Map<string, { names: string[]; rows: Record<string, unknown>[] }>();
  for (const [streamId, row] of current) {
    if (!row.last) continue;
    const parsed = parseStream(spec.category, streamId);
    if (!parsed) throw new Error(`${table}: unexpected stream name ${streamId}`);
    const cols = spec.columns(row.state, { streamId, id: parsed.id, tenantId: parsed.tenantId, createdAt: row.createdAt, last: row.last });
    const all: Record<string, unknown> = {
      stream_id: streamId,
      tenant_id: parsed.tenantId,
      state: row.state,
      created_at: row.createdAt,
      updated_at: row.last.recordedAt,
      revision: row.revision.toString(),
      position: `${row.last.position.commit}/${row.last.position.prepare}`,
      ...cols,
    };
    const names = Object.keys(all);
    const key = names.join(',');
    const group = pending.get(key) ?? { names, rows: [] };
    group.rows.push(all);
    pending.set(key, group);
  }
  for (const { names, rows: values } of pending.values()) {
    await tx.query(
      `INSERT INTO ${table} (${names.join(', ')})
       SELECT ${names.join(', ')} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)
       ON CONFLICT (stream_id) DO UPDATE SET ${names.filter((n) => n !== 'stream_id' && n !== 'created_at').map((n) => `${n} = EXCLUDED.${n}`).join(', ')}`,
      [JSON.stringify(values)],
    );
  }
}

/** Columns every aggregate-row table has (prepend to a projection's own columns). */
export const AGGREGATE_ROW_COLUMNS = `
  stream_id  text        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  state      jsonb       NOT NULL,
  revision   bigint      NOT NULL,
  position   text        NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL`;
