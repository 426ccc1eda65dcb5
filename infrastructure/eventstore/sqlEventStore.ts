import {
  InvalidAppend,
  MixedDuplicateBatch,
  WrongExpectedRevision,
  validateAppend,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamAppend,
} from '../../domain/ports/eventStore';
import { toBigInt, type SqlClient, type SqlExecutor } from '../sql/client';

interface AppendRow {
  status: 'appended' | 'duplicate' | 'wrong_expected_revision' | 'mixed_duplicates';
  revision: number | string;
  events?: Array<{ id: string; revision: number | string; commit: string; prepare: number | string }>;
  existing?: string[];
}

interface EventRow {
  global_position: string | number | bigint;
  commit_position: string;
  stream_id: string;
  stream_revision: string | number | bigint;
  event_id: string;
  event_type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  recorded_at: Date | string;
}

// Aliases must not shadow column names: ORDER BY would then sort by the text alias.
const EVENT_COLUMNS = `global_position, transaction_id::text AS commit_position, stream_id, stream_revision,
  event_id::text AS event_id, event_type, data, metadata, recorded_at`;

/**
 * The event store on PostgreSQL, written once against SqlClient so the server (`pg`) and the
 * embedded default (PGlite) run the same SQL. An append is one call of the append_to_stream()
 * function (see migrations.ts) in one transaction.
 */
export class SqlEventStore implements EventStore {
  constructor(
    readonly db: SqlClient,
    private readonly onAppended?: () => void,
  ) {}

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision, options: AppendOptions = {}): Promise<AppendResult> {
    validateAppend(streamId, events);
    const row = await this.db.transaction((tx) => appendIn(tx, streamId, events, expected, options));
    const result = interpret(streamId, events, expected, row);
    if (!result.duplicate) this.onAppended?.();
    return result;
  }

  async appendAtomically(parts: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (parts.length === 0) return [];
    const ids = new Set<string>();
    for (const p of parts) {
      validateAppend(p.streamId, p.events);
      if (ids.has(p.streamId)) throw new InvalidAppend(`stream ${p.streamId} appears twice in one atomic append`);
      ids.add(p.streamId);
    }
    // Stream locks are taken in stream-id order, whatever the order of the parts, so two atomic
    // appends (or an atomic append and a group-commit batch) over the same streams cannot deadlock.
    const order = parts.map((_, i) => i).sort((a, b) => (parts[a]!.streamId < parts[b]!.streamId ? -1 : 1));
    const results = await this.db.transaction(async (tx) => {
      const out: AppendResult[] = new Array<AppendResult>(parts.length);
      for (const i of order) {
        const p = parts[i]!;
        // interpret() throws on a conflict or a mixed batch, which rolls the whole transaction back
        out[i] = interpret(p.streamId, p.events, p.expected, await appendIn(tx, p.streamId, p.events, p.expected, p.options));
      }
      return out;
    });
    if (results.some((r) => !r.duplicate)) this.onAppended?.();
    return results;
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const from = options.fromRevision ?? 0n;
    const limit = options.maxCount ?? 100_000;
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_revision >= $2
        ORDER BY stream_revision LIMIT $3`,
      [streamId, from.toString(), limit],
    );
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? { commit: 0n, prepare: 0n };
    const limit = options.maxCount ?? 1000;
    // Only transactions older than the oldest running one are final: everything below the
    // snapshot's xmin has committed or rolled back, and any later writer gets a larger id.
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events
        WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id, global_position
        LIMIT $3`,
      [after.commit.toString(), after.prepare.toString(), limit],
    );
    return rows.map(toRecorded);
  }

  async headPosition(): Promise<Position | null> {
    const { rows } = await this.db.query<{ commit_position: string; global_position: string }>(
      `SELECT transaction_id::text AS commit_position, global_position FROM events
        WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
    );
    const r = rows[0];
    return r ? { commit: toBigInt(r.commit_position), prepare: toBigInt(r.global_position) } : null;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** One append inside an open transaction (also used by group commit and tests). */
export async function appendIn(
  tx: SqlExecutor,
  streamId: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
  options: AppendOptions = {},
): Promise<AppendRow> {
  const kind = typeof expected === 'bigint' ? 'exact' : expected;
  const payload = events.map((e) => ({ id: e.id.toLowerCase(), type: e.type, data: e.data, metadata: e.metadata }));
  const { rows } = await tx.query<{ r: AppendRow }>(`SELECT append_to_stream($1, $2, $3, $4::jsonb, $5::jsonb) AS r`, [
    streamId,
    kind,
    typeof expected === 'bigint' ? expected.toString() : null,
    JSON.stringify(payload),
    JSON.stringify(options.outbox ?? []),
  ]);
  const r = rows[0]?.r;
  if (!r) throw new Error('append_to_stream returned nothing');
  return typeof r === 'string' ? (JSON.parse(r) as AppendRow) : r;
}

export function interpret(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision, row: AppendRow): AppendResult {
  const actual = toBigInt(row.revision);
  switch (row.status) {
    case 'wrong_expected_revision':
      throw new WrongExpectedRevision(streamId, expected, actual < 0n ? 'no_stream' : actual);
    case 'mixed_duplicates': {
      const existing = new Set((row.existing ?? []).map((x) => x.toLowerCase()));
      const ids = events.map((e) => e.id.toLowerCase());
      throw new MixedDuplicateBatch(streamId, ids.filter((i) => existing.has(i)), ids.filter((i) => !existing.has(i)));
    }
    case 'appended':
    case 'duplicate': {
      const byId = new Map((row.events ?? []).map((e) => [e.id.toLowerCase(), e]));
      const out = events.map((e) => {
        const w = byId.get(e.id.toLowerCase());
        if (!w) throw new Error(`append result misses event ${e.id}`);
        return { id: e.id, revision: toBigInt(w.revision), position: { commit: toBigInt(w.commit), prepare: toBigInt(w.prepare) } };
      });
      const last = out.reduce((a, b) => (b.revision > a.revision ? b : a));
      return { duplicate: row.status === 'duplicate', nextExpectedRevision: last.revision, position: last.position, events: out };
    }
    default:
      throw new InvalidAppend(`unexpected append status ${(row as AppendRow).status}`);
  }
}

function toRecorded(r: EventRow): RecordedEvent {
  const m = r.metadata;
  return {
    id: r.event_id,
    type: r.event_type,
    data: r.data,
    metadata: m as RecordedEvent['metadata'],
    streamId: r.stream_id,
    revision: toBigInt(r.stream_revision),
    position: { commit: toBigInt(r.commit_position), prepare: toBigInt(r.global_position) },
    recordedAt: r.recorded_at instanceof Date ? r.recorded_at : new Date(r.recorded_at),
  };
}
