import {
  InvalidAppend,
  MixedDuplicateBatch,
  OutboxMessageConflict,
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
import { CommitFailed, isStatementError } from '../sql/client';
import { toBigInt, type SqlClient, type SqlExecutor } from '../../domain/ports/sql';
import { Coalescer } from '../sql/coalescer';

export interface AppendRow {
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

/**
 * The columns of a RecordedEvent, from `events` or (with a prefix such as `e.`) an alias of it.
 * Aliases must not shadow column names: ORDER BY would then sort by the text alias.
 */
const eventColumns = (t = ''): string => `${t}global_position, ${t}transaction_id::text AS commit_position, ${t}stream_id, ${t}stream_revision,
  ${t}event_id::text AS event_id, ${t}event_type, ${t}data, ${t}metadata, ${t}recorded_at`;
const EVENT_COLUMNS = eventColumns();
const QUALIFIED_EVENT_COLUMNS = eventColumns('e.');

/** Most events one readStream call returns when it is given no maxCount. */
const STREAM_READ_LIMIT = 100_000;

export interface SqlEventStoreOptions {
  /**
   * Group commit (default on): concurrent appends queue, and one flusher runs everything queued
   * (up to maxBatch) in one transaction through append_batch(). Off: one transaction per append.
   */
  groupCommit?: boolean;
  /** Most appends in one group-commit transaction. Default 256. */
  maxBatch?: number;
  /**
   * Group-commit transactions in flight at once (default 2 on PostgreSQL, always 1 on PGlite):
   * while one waits for its COMMIT to be flushed, the next runs its appends. What is queued is
   * shared among idle flushers. Batches take stream locks in stream order, so they cannot deadlock
   * each other.
   */
  maxConcurrentBatches?: number;
  /** Called when an append is refused because an outbox message id exists with other content (log, metric). */
  onOutboxConflict?: (err: OutboxMessageConflict) => void;
}

/** Counters of the group-commit flusher (for tests and benchmarks). */
export interface GroupCommitStats {
  /** Transactions run by the flusher (batches, including batches of one). */
  batches: number;
  /** Appends that went through a batch. */
  appends: number;
  /** Batches whose statement failed and whose appends were then run one by one. */
  fallbacks: number;
  /** Batches whose COMMIT failed: every caller was rejected. */
  commitFailures: number;
}

interface PendingAppend {
  streamId: string;
  events: readonly NewEvent[];
  expected: ExpectedRevision;
  options: AppendOptions;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

/**
 * The event store on PostgreSQL, written once against SqlClient so the server (`pg`) and the
 * embedded default (PGlite) run the same SQL. An append alone is decided by the append_to_stream()
 * function (see migrations.ts); with group commit, concurrent appends share one transaction and
 * append_batch() decides them all with the same rules, set-based. The observable result of each
 * is what it would have been alone (see ARCHITECTURE.md).
 */
export class SqlEventStore implements EventStore {
  readonly groupCommit: boolean;
  readonly stats: GroupCommitStats = { batches: 0, appends: 0, fallbacks: 0, commitFailures: 0 };
  private readonly maxBatch: number;
  private readonly maxConcurrentBatches: number;
  private readonly queue: PendingAppend[] = [];
  private flushers = 0;
  private busy = 0;
  private readonly onOutboxConflict?: (err: OutboxMessageConflict) => void;

  constructor(
    readonly db: SqlClient,
    private readonly onAppended?: () => void,
    options: SqlEventStoreOptions = {},
  ) {
    this.groupCommit = options.groupCommit ?? true;
    this.onOutboxConflict = options.onOutboxConflict;
    this.maxBatch = Math.max(1, options.maxBatch ?? 256);
    // the embedded database is one session: a second batch could only wait for the first
    this.maxConcurrentBatches = db.kind === 'pglite' ? 1 : Math.max(1, options.maxConcurrentBatches ?? 2);
  }

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision, options: AppendOptions = {}): Promise<AppendResult> {
    validateAppend(streamId, events);
    if (!this.groupCommit) return this.appendAlone(streamId, events, expected, options);
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ streamId, events, expected, options, resolve, reject });
      this.startFlusher();
    });
  }

  private async appendAlone(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision, options: AppendOptions): Promise<AppendResult> {
    // one statement, so one implicit transaction: a single round trip
    const row = await appendIn(this.db, streamId, events, expected, options).catch((err: unknown) => {
      if (err instanceof OutboxMessageConflict) this.onOutboxConflict?.(err);
      throw err;
    });
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
    const order = parts.map((p, i) => ({ p, i })).sort((a, b) => (a.p.streamId < b.p.streamId ? -1 : 1));
    const results = await this.db.transaction(async (tx) => {
      // (an OutboxMessageConflict raised inside is reported below, after the rollback)
      const out: AppendResult[] = new Array<AppendResult>(parts.length);
      for (const { p, i } of order) {
        // interpret() throws on a conflict or a mixed batch, which rolls the whole transaction back
        out[i] = interpret(p.streamId, p.events, p.expected, await appendIn(tx, p.streamId, p.events, p.expected, p.options));
      }
      return out;
    }).catch((err: unknown) => {
      if (err instanceof OutboxMessageConflict) this.onOutboxConflict?.(err);
      throw err;
    });
    if (results.some((r) => !r.duplicate)) this.onAppended?.();
    return results;
  }

  private startFlusher(): void {
    if (this.flushers >= this.maxConcurrentBatches) return;
    this.flushers += 1;
    // Start after the current tick, so appends issued together share one batch.
    queueMicrotask(() => void this.drain());
  }

  /** A flusher: while appends are queued, take them in batches and run each in one transaction. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        // Share what is queued with the flushers that may still start, so batches overlap
        // (one executes while another commits) instead of marching in lockstep.
        const share = Math.ceil(this.queue.length / (this.maxConcurrentBatches - this.busy));
        this.busy += 1;
        try {
          await this.flush(this.queue.splice(0, Math.min(this.maxBatch, share)));
        } finally {
          this.busy -= 1;
        }
      }
    } finally {
      this.flushers -= 1;
      if (this.queue.length > 0) this.startFlusher();
    }
  }

  private async flush(batch: PendingAppend[]): Promise<void> {
    this.stats.batches += 1;
    this.stats.appends += batch.length;
    const ordered = batchOrder(batch).flatMap((i) => (batch[i] ? [{ p: batch[i] }] : []));
    if (batch.length === 1) {
      // Alone in its batch: one statement in its own implicit transaction (one round trip). Any
      // failure, at the statement or its commit, is this caller's alone.
      const [p] = ordered.map((o) => o.p);
      if (!p) return;
      await this.appendAlone(p.streamId, p.events, p.expected, p.options).then(
        (r) => p.resolve(r),
        (e: unknown) => p.reject(e),
      );
      return;
    }
    let rows: AppendRow[];
    try {
      // One statement in a transaction of its own: one round trip, its COMMIT at the same Sync.
      rows = await appendBatchAlone(this.db, ordered.map(({ p }) => p));
    } catch (err) {
      if (err instanceof CommitFailed || !isStatementError(err)) {
        // The COMMIT failed (or the connection did): no append of the batch is acknowledged.
        if (err instanceof CommitFailed) this.stats.commitFailures += 1;
        const reason = err instanceof CommitFailed ? err.cause : err;
        for (const p of batch) p.reject(reason);
        return;
      }
      // A statement raised (say, an outbox message id that already exists): the transaction
      // rolled back and wrote nothing. Each append then runs alone, in the batch's order (so two
      // appends to one stream keep theirs), and gets its own outcome.
      this.stats.fallbacks += 1;
      for (const { p } of ordered) {
        await this.appendAlone(p.streamId, p.events, p.expected, p.options).then(
          (r) => p.resolve(r),
          (e: unknown) => p.reject(e),
        );
      }
      return;
    }
    let wrote = false as boolean; // set inside the callback below
    ordered.forEach(({ p }, k) => {
      const row = rows[k];
      if (!row) { p.reject(new Error('append_batch returned fewer results than appends')); return; }
      try {
        const result = interpret(p.streamId, p.events, p.expected, row);
        wrote ||= !result.duplicate;
        p.resolve(result);
      } catch (err) {
        p.reject(err);
      }
    });
    if (wrote) this.onAppended?.();
  }

  /**
   * Whole-stream reads (no maxCount) made at the same time share one query: deciding a command
   * reads its stream from the cached revision on, and concurrent webhooks each do so. Each read
   * still starts after its call, so it sees everything committed before it was asked for.
   */
  private readonly streamReads = new Coalescer<{ streamId: string; from: bigint }, RecordedEvent[]>(async (items) => {
    const { rows } = await this.db.query<EventRow & { k: string | number }>(
      `SELECT q.k, ${QUALIFIED_EVENT_COLUMNS}
         FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS q(stream_id, from_revision, k)
         JOIN events e ON e.stream_id = q.stream_id AND e.stream_revision >= q.from_revision AND e.stream_revision < q.from_revision + $3
        ORDER BY q.k, e.stream_revision`,
      [items.map((i) => i.streamId), items.map((i) => i.from.toString()), STREAM_READ_LIMIT],
    );
    const out = items.map((): RecordedEvent[] => []);
    for (const r of rows) out[Number(r.k) - 1]?.push(toRecorded(r));
    return out;
  });

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const from = options.fromRevision ?? 0n;
    // revisions are dense (0, 1, 2, ...), so "the next n from `from`" is a revision range
    if (options.maxCount === undefined) return this.streamReads.call({ streamId, from });
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_revision >= $2
        ORDER BY stream_revision LIMIT $3`,
      [streamId, from.toString(), options.maxCount],
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
  const { rows } = await tx
    .query<{ r: AppendRow }>(`SELECT append_to_stream($1, $2, $3, $4::jsonb, $5::jsonb) AS r`, [
      streamId,
      kind,
      typeof expected === 'bigint' ? expected.toString() : null,
      JSON.stringify(payload),
      JSON.stringify(options.outbox ?? []),
    ])
    .catch((err: unknown) => {
      // the outbox_write_once trigger (migration 11): same message id, other content
      if ((err as { code?: unknown } | null)?.code === 'SO409') throw new OutboxMessageConflict(streamId, (err as Error).message);
      throw err;
    });
  const r = rows[0]?.r;
  if (!r) throw new Error('append_to_stream returned nothing');
  return typeof r === 'string' ? (JSON.parse(r) as AppendRow) : r;
}

export interface BatchAppend {
  streamId: string;
  events: readonly NewEvent[];
  expected: ExpectedRevision;
  options?: AppendOptions;
}

/** The jsonb argument of append_batch (and of append_many, migration 9, which takes the same shape). */
export function batchPayload(appends: readonly BatchAppend[]): string {
  return JSON.stringify(
    appends.map((a) => ({
      stream: a.streamId,
      kind: typeof a.expected === 'bigint' ? 'exact' : a.expected,
      expected: typeof a.expected === 'bigint' ? a.expected.toString() : null,
      events: a.events.map((e) => ({ id: e.id.toLowerCase(), type: e.type, data: e.data, metadata: e.metadata })),
      outbox: a.options?.outbox ?? [],
    })),
  );
}

const APPEND_BATCH = `SELECT append_batch($1::jsonb) AS r`;

/**
 * Several appends inside an open transaction, in the given order, one round trip (append_batch,
 * set-based). The caller passes them in batchOrder: append_batch locks streams in the order they
 * first appear.
 */
export async function appendBatchIn(tx: SqlExecutor, appends: readonly BatchAppend[]): Promise<AppendRow[]> {
  return batchRows((await tx.query<{ r: AppendRow[] | string }>(APPEND_BATCH, [batchPayload(appends)])).rows);
}

/** appendBatchIn as a transaction of its own (queryAutocommit: a failed commit is CommitFailed). */
export async function appendBatchAlone(db: SqlClient, appends: readonly BatchAppend[]): Promise<AppendRow[]> {
  return batchRows((await db.queryAutocommit<{ r: AppendRow[] | string }>(APPEND_BATCH, [batchPayload(appends)])).rows);
}

function batchRows(rows: ReadonlyArray<{ r: AppendRow[] | string }>): AppendRow[] {
  const r = rows[0]?.r;
  if (!r) throw new Error('append_batch returned nothing');
  return typeof r === 'string' ? (JSON.parse(r) as AppendRow[]) : r;
}

/**
 * The order a group-commit batch runs in, as indexes into it: round by round (the r-th append to
 * each stream after every stream's (r-1)-th), streams in stream-id order within a round. So the
 * first round names every stream of the batch once, in stream order, and append_batch takes its
 * stream locks in that order, like every other batch and appendAtomically: batches in two
 * processes cannot deadlock. A stream's appends keep their arrival order, and each round is one
 * set-based statement whose inserts follow this order, so sequence numbers do too.
 */
export function batchOrder(batch: ReadonlyArray<{ streamId: string }>): number[] {
  const seen = new Map<string, number>();
  const round = batch.map((p) => {
    const r = seen.get(p.streamId) ?? 0;
    seen.set(p.streamId, r + 1);
    return r;
  });
  return batch
    .map((p, i) => ({ i, round: round[i] ?? 0, streamId: p.streamId }))
    .sort((a, b) => a.round - b.round || (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0))
    .map((k) => k.i);
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
      throw new InvalidAppend(`unexpected append status ${JSON.stringify((row as { status: unknown }).status)}`);
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
