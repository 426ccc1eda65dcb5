/**
 * The event store port. The domain and the command layer own this contract; adapters in
 * infrastructure/eventstore implement it (PostgreSQL, embedded PGlite, EventStoreDB) and are all
 * proved by one contract suite (test/contract/eventStore.contract.ts).
 *
 * Semantics (also in ARCHITECTURE.md, "Event store"):
 * - append is atomic: every event of one call is written, or none is. appendAtomically extends
 *   that to several streams where the store has multi-stream transactions (PostgreSQL, PGlite).
 * - Dedup at the stream level: if every event id of the call already exists in that stream, nothing
 *   is written and the call succeeds with the ORIGINAL revisions and positions, whatever the expected
 *   revision says (a retry with a stale expected revision is still a duplicate, not a conflict).
 *   If some ids exist and some do not, the call fails with MixedDuplicateBatch and writes nothing.
 * - Otherwise the expected revision is checked; a mismatch raises WrongExpectedRevision carrying
 *   the stream's actual revision.
 * - Revisions are 0-based per stream; a stream with no events has no revision ('no_stream').
 * - Global order is (commit, prepare): the committing transaction id, then the sequence number.
 *   Readers of the global log only see positions below the oldest running transaction, so a slow
 *   transaction can never be skipped.
 */

export type ExpectedRevision = bigint | 'no_stream' | 'stream_exists' | 'any';

/**
 * Position in the global log. Ordered by commit, then prepare. The two names are EventStoreDB's
 * (its commit and prepare positions in the transaction log); here they mean:
 * - `commit`: the id of the transaction that wrote the event (`xid8`, `pg_current_xact_id()`; on
 *   EventStoreDB its commit position);
 * - `prepare`: the event's own sequence number (`events.seq`, taken before commit; on
 *   EventStoreDB its prepare position).
 * Serialised as `<commit>/<prepare>` (`formatPosition`, the API's `Settle-Position`).
 */
export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export interface EventMetadata {
  /** The business flow this event belongs to (request id, provider event id...). */
  readonly correlationId: string;
  /** The id of the message (command, webhook, event) that directly caused this event. */
  readonly causationId: string;
  readonly tenantId: string;
  readonly schemaVersion: number;
  /** Free-form extra keys (actor, source...). */
  readonly [key: string]: unknown;
}

export interface NewEvent<Type extends string = string, Data = unknown> {
  /** UUID. Deterministic when the trigger is external, so a replay is deduplicated. */
  readonly id: string;
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> extends NewEvent<Type, Data> {
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: Position;
  /** Set by the store when the event was committed. */
  readonly recordedAt: Date;
}

/** A message for the transactional outbox, written in the same transaction as the append. */
export interface OutboxMessage {
  readonly id: string;
  readonly topic: string;
  /** Partition key: the aggregate id, so per-aggregate order holds on the bus. */
  readonly key: string;
  readonly value: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Publish no earlier than this (ISO-8601): delayed retries. Default: at once. */
  readonly availableAt?: string;
}

export interface AppendOptions {
  readonly outbox?: readonly OutboxMessage[];
}

export interface AppendResult {
  /** True when every event already existed: nothing was written this time. */
  readonly duplicate: boolean;
  /** Revision of the last event of this call (the original one for a duplicate). */
  readonly nextExpectedRevision: bigint;
  /** Position of the last event of this call. */
  readonly position: Position;
  readonly events: ReadonlyArray<{ readonly id: string; readonly revision: bigint; readonly position: Position }>;
}

export interface ReadStreamOptions {
  /** First revision to return (inclusive). Default 0. */
  readonly fromRevision?: bigint;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Return events strictly after this position. Default: from the start. */
  readonly after?: Position | null;
  readonly maxCount?: number;
}

/** One stream's part of an atomic multi-stream append. */
export interface StreamAppend {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expected: ExpectedRevision;
  readonly options?: AppendOptions;
}

export interface EventStore {
  append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision, options?: AppendOptions): Promise<AppendResult>;
  /**
   * Appends to several streams in one transaction: every part is written, or none is. Each part
   * has the semantics of `append` (dedup, expected revision); the first part that fails raises its
   * error and nothing of any part is written. Results are in the order of the parts.
   * Optional: stores without multi-stream transactions (EventStoreDB) leave it out, and callers
   * fall back to one append per stream with compensation.
   */
  appendAtomically?(parts: readonly StreamAppend[]): Promise<AppendResult[]>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Events of all streams in global order; never returns an event while an older transaction could still commit before it. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** The position of the newest event a reader can see now (null when the log is empty). */
  headPosition(): Promise<Position | null>;
  close(): Promise<void>;
}

export class WrongExpectedRevision extends Error {
  override readonly name = 'WrongExpectedRevision';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's revision at the time of the check; 'no_stream' when it has no events. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
  }
}

export class MixedDuplicateBatch extends Error {
  override readonly name = 'MixedDuplicateBatch';
  constructor(
    readonly streamId: string,
    readonly existingIds: readonly string[],
    readonly newIds: readonly string[],
  ) {
    super(
      `stream ${streamId}: the batch mixes event ids already in the stream (${existingIds.join(', ')}) with new ones (${newIds.join(', ')}); nothing was written`,
    );
  }
}

export class InvalidAppend extends Error {
  override readonly name = 'InvalidAppend';
}

/**
 * An outbox message id that already exists with other content (topic, key, value or headers):
 * nothing of the append was written. The same id with the same content is not an error (the
 * message is written once).
 */
export class OutboxMessageConflict extends Error {
  override readonly name = 'OutboxMessageConflict';
  constructor(
    readonly streamId: string,
    detail: string,
  ) {
    super(`stream ${streamId}: ${detail}; nothing was written`);
  }
}

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

export function formatPosition(p: Position): string {
  return `${p.commit}/${p.prepare}`;
}

export function parsePosition(s: string): Position | null {
  const m = /^(\d{1,20})\/(\d{1,20})$/.exec(s);
  const [, commit, prepare] = m ?? [];
  if (commit === undefined || prepare === undefined) return null;
  return { commit: BigInt(commit), prepare: BigInt(prepare) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The longest stream id: above the longest Settle builds from ids the API accepts
 * (`subscription-` + 100-character tenant + `.` + 100-character id = 214 characters).
 */
export const MAX_STREAM_ID_LENGTH = 256;

/** Checks an append request before any adapter touches storage; throws InvalidAppend. */
export function validateAppend(streamId: string, events: readonly NewEvent[]): void {
  if (!streamId || streamId.length > MAX_STREAM_ID_LENGTH || streamId.startsWith('$')) throw new InvalidAppend(`invalid stream id "${streamId}"`);
  if (events.length === 0) throw new InvalidAppend('append needs at least one event');
  const seen = new Set<string>();
  for (const e of events) {
    if (!UUID.test(e.id)) throw new InvalidAppend(`event id "${e.id}" is not a UUID`);
    const id = e.id.toLowerCase();
    if (seen.has(id)) throw new InvalidAppend(`event id ${e.id} appears twice in one append`);
    seen.add(id);
    if (!e.type) throw new InvalidAppend('event type is required');
    const m = e.metadata;
    if (!m.correlationId || !m.causationId || !m.tenantId || !Number.isInteger(m.schemaVersion)) {
      throw new InvalidAppend(`event ${e.id}: metadata needs correlationId, causationId, tenantId and an integer schemaVersion`);
    }
  }
}
