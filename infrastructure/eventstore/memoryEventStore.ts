/**
 * The event store in process memory: the same semantics as SqlEventStore (proved by the same
 * contract suite, memoryEventStore.test.ts), for application-level tests of commands, reactors
 * and sagas that need no SQL and should run in milliseconds. Not a production adapter: nothing
 * survives the process.
 *
 * Every append decides and writes synchronously (no `await` between the checks and the write),
 * so on Node's one thread it is atomic and concurrent callers serialise exactly as they do on the
 * stream row lock in PostgreSQL. One append (or one appendAtomically call) is one "transaction":
 * its events share `position.commit`, and `prepare` is a global sequence number. Every write is
 * visible at once, so readAll needs no horizon. Outbox messages of an append are kept in `outbox`
 * (same id and same content: written once; same id, other content: OutboxMessageConflict, nothing
 * written).
 */
import {
  InvalidAppend,
  MixedDuplicateBatch,
  OutboxMessageConflict,
  WrongExpectedRevision,
  comparePositions,
  validateAppend,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type OutboxMessage,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamAppend,
} from '../../domain/ports/eventStore';
import { systemClock, type Clock } from '../../domain/ports/clock';

interface Planned {
  readonly streamId: string;
  readonly result: AppendResult;
  readonly write: RecordedEvent[];
  readonly outbox: readonly OutboxMessage[];
}

/** Deep copy through JSON, as a database round trip does: callers never share objects with the store. */
const copy = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/**
 * Runs `work` synchronously now (so an append stays atomic on Node's one thread) and answers its
 * result as a promise: what it throws becomes a rejection, never a synchronous throw, as callers
 * of an EventStore (and the contract suite) expect.
 */
const settled = <T>(work: () => T): Promise<T> =>
  new Promise<T>((resolve) => {
    resolve(work());
  });

export class MemoryEventStore implements EventStore {
  private readonly log: RecordedEvent[] = [];
  private readonly streams = new Map<string, RecordedEvent[]>();
  private readonly outboxById = new Map<string, OutboxMessage>();
  /** Outbox messages in the order they were written (what a relay would publish). */
  readonly outbox: OutboxMessage[] = [];
  private commit = 0n;
  private prepare = 0n;
  private closed = false;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly onAppended?: () => void,
  ) {}

  append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision, options: AppendOptions = {}): Promise<AppendResult> {
    return settled(() => {
      const [r] = this.run([{ streamId, events, expected, options }]);
      if (!r) throw new Error('an append of one stream answered no result');
      return r;
    });
  }

  appendAtomically(parts: readonly StreamAppend[]): Promise<AppendResult[]> {
    return settled(() => {
      const seen = new Set<string>();
      for (const p of parts) {
        if (seen.has(p.streamId)) throw new InvalidAppend(`stream ${p.streamId} appears twice in one atomic append`);
        seen.add(p.streamId);
      }
      return this.run(parts);
    });
  }

  readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    return settled(() => {
      this.open();
      const from = options.fromRevision ?? 0n;
      const all = (this.streams.get(streamId) ?? []).filter((e) => e.revision >= from);
      return (options.maxCount === undefined ? all : all.slice(0, options.maxCount)).map(copy2);
    });
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return settled(() => {
      this.open();
      const after = options.after ?? null;
      // the log is in position order; find the first event after `after`
      let lo = 0;
      if (after) {
        let hi = this.log.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          const at = this.log[mid];
          if (at && comparePositions(at.position, after) <= 0) lo = mid + 1;
          else hi = mid;
        }
      }
      const end = options.maxCount === undefined ? this.log.length : Math.min(this.log.length, lo + options.maxCount);
      return this.log.slice(lo, end).map(copy2);
    });
  }

  headPosition(): Promise<Position | null> {
    return settled(() => {
      this.open();
      return this.log.at(-1)?.position ?? null;
    });
  }

  close(): Promise<void> {
    return settled(() => {
      this.closed = true;
    });
  }

  private open(): void {
    if (this.closed) throw new Error('the memory event store is closed');
  }

  /** Decides every part against the current state (and the earlier parts), then writes all or nothing. */
  private run(parts: readonly StreamAppend[]): AppendResult[] {
    this.open();
    for (const p of parts) validateAppend(p.streamId, p.events);
    const commit = this.commit + 1n;
    let prepare = this.prepare;
    const recordedAt = this.clock.now();
    const planned: Planned[] = [];
    const outboxSeen = new Map<string, OutboxMessage>();
    for (const p of parts) {
      const existing = this.streams.get(p.streamId) ?? [];
      const byId = new Map(existing.map((e) => [e.id.toLowerCase(), e]));
      const present = p.events.filter((e) => byId.has(e.id.toLowerCase()));
      if (present.length === p.events.length) {
        const originals = p.events.flatMap((e) => byId.get(e.id.toLowerCase()) ?? []);
        const last = originals.reduce((a, b) => (a.revision > b.revision ? a : b));
        planned.push({ streamId: p.streamId, write: [], outbox: [], result: { duplicate: true, nextExpectedRevision: last.revision, position: last.position, events: originals.map((e) => ({ id: e.id, revision: e.revision, position: e.position })) } });
        continue;
      }
      if (present.length > 0) {
        throw new MixedDuplicateBatch(
          p.streamId,
          present.map((e) => e.id),
          p.events.filter((e) => !byId.has(e.id.toLowerCase())).map((e) => e.id),
        );
      }
      const actual: bigint | 'no_stream' = existing.at(-1)?.revision ?? 'no_stream';
      if (!revisionMatches(p.expected, actual)) throw new WrongExpectedRevision(p.streamId, p.expected, actual);
      let revision = actual === 'no_stream' ? -1n : actual;
      const write = p.events.map((e): RecordedEvent => {
        revision += 1n;
        prepare += 1n;
        return { id: e.id, type: e.type, data: copy(e.data), metadata: copy(e.metadata), streamId: p.streamId, revision, position: { commit, prepare }, recordedAt };
      });
      const outbox: OutboxMessage[] = [];
      for (const m of p.options?.outbox ?? []) {
        const before = this.outboxById.get(m.id) ?? outboxSeen.get(m.id);
        if (before) {
          if (!sameMessage(before, m)) throw new OutboxMessageConflict(p.streamId, `outbox message ${m.id} already exists with other content`);
          continue;
        }
        outboxSeen.set(m.id, m);
        outbox.push(copy(m));
      }
      const last = write.at(-1);
      if (!last) throw new InvalidAppend('append needs at least one event');
      planned.push({ streamId: p.streamId, write, outbox, result: { duplicate: false, nextExpectedRevision: last.revision, position: last.position, events: write.map((e) => ({ id: e.id, revision: e.revision, position: e.position })) } });
    }
    // every check passed: write all of it
    const wrote = planned.some((p) => p.write.length > 0);
    if (wrote) {
      this.commit = commit;
      this.prepare = prepare;
      for (const p of planned) {
        if (p.write.length === 0) continue;
        const s = this.streams.get(p.streamId) ?? [];
        s.push(...p.write);
        this.streams.set(p.streamId, s);
        this.log.push(...p.write);
        for (const m of p.outbox) {
          this.outboxById.set(m.id, m);
          this.outbox.push(m);
        }
      }
      this.onAppended?.();
    }
    return planned.map((p) => p.result);
  }
}

function revisionMatches(expected: ExpectedRevision, actual: bigint | 'no_stream'): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return actual === 'no_stream';
  if (expected === 'stream_exists') return actual !== 'no_stream';
  return actual === expected;
}

function sameMessage(a: OutboxMessage, b: OutboxMessage): boolean {
  return a.topic === b.topic && a.key === b.key && JSON.stringify(a.value) === JSON.stringify(b.value) && JSON.stringify(a.headers ?? {}) === JSON.stringify(b.headers ?? {});
}

/** A recorded event as a reader gets it: its own copy of data and metadata. */
function copy2(e: RecordedEvent): RecordedEvent {
  return { ...e, data: copy(e.data), metadata: copy(e.metadata), recordedAt: new Date(e.recordedAt.getTime()) };
}
