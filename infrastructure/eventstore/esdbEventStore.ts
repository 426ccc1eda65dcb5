import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
  type AllStreamResolvedEvent,
  type ResolvedEvent,
} from '@eventstore/db-client';
import {
  MixedDuplicateBatch,
  WrongExpectedRevision,
  comparePositions,
  validateAppend,
  type AppendOptions,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
} from '../../domain/ports/eventStore';

/** Metadata key under which outbox messages travel with the last event of an append. */
export const OUTBOX_METADATA_KEY = 'settleOutbox';

const MAX_ATTEMPTS = 20;

/**
 * The event store on EventStoreDB (selected by EVENTSTORE_URL). EventStoreDB deduplicates a
 * retried append only when it carries the same expected revision as the first try, and with
 * `any` only within a recent-events cache; a retry with a stale expected revision is written a
 * second time. Settle's semantics are restored on top:
 *  1. read the stream and look for the batch's ids (all present: return the original positions;
 *     some present: MixedDuplicateBatch);
 *  2. check the caller's expected revision against the revision just read;
 *  3. append with that EXACT revision (never `any`/`stream_exists`), so a concurrent writer makes
 *     the append fail instead of interleaving; on WrongExpectedVersion go back to 1.
 * Every successful write therefore happened on a stream in which none of its ids existed.
 * Outbox messages ride in the metadata of the batch's last event and are copied into the SQL
 * outbox by a catch-up subscription (derived from the log, with a checkpoint).
 */
export class EsdbEventStore implements EventStore {
  private readonly client: EventStoreDBClient;

  constructor(connectionString: string) {
    this.client = EventStoreDBClient.connectionString(connectionString);
  }

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision, options: AppendOptions = {}): Promise<AppendResult> {
    validateAppend(streamId, events);
    const ids = events.map((e) => e.id.toLowerCase());
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.readStream(streamId);
      const byId = new Map(existing.map((e) => [e.id.toLowerCase(), e]));
      const found = ids.filter((id) => byId.has(id));
      if (found.length === ids.length) {
        const out = ids.flatMap((id) => {
          const e = byId.get(id);
          return e ? [{ id: e.id, revision: e.revision, position: e.position }] : [];
        });
        const last = out.reduce((a, b) => (b.revision > a.revision ? b : a));
        return { duplicate: true, nextExpectedRevision: last.revision, position: last.position, events: out };
      }
      if (found.length > 0) throw new MixedDuplicateBatch(streamId, found, ids.filter((id) => !byId.has(id)));

      const current: bigint | 'no_stream' = existing.at(-1)?.revision ?? 'no_stream';
      const ok =
        expected === 'any' ||
        (expected === 'no_stream' && current === 'no_stream') ||
        (expected === 'stream_exists' && current !== 'no_stream') ||
        (typeof expected === 'bigint' && current === expected);
      if (!ok) throw new WrongExpectedRevision(streamId, expected, current);

      const data = events.map((e, i) =>
        jsonEvent({
          id: e.id.toLowerCase(),
          type: e.type,
          data: e.data as Record<string, unknown>,
          metadata: { ...e.metadata, ...(i === events.length - 1 && options.outbox?.length ? { [OUTBOX_METADATA_KEY]: options.outbox } : {}) },
        }),
      );
      try {
        await this.client.appendToStream(streamId, data, { expectedRevision: current === 'no_stream' ? NO_STREAM : current });
      } catch (err) {
        if (err instanceof WrongExpectedVersionError) continue; // a concurrent writer won: re-check dedup and expectation
        throw err;
      }
      const first = current === 'no_stream' ? 0n : current + 1n;
      const written = await this.readStream(streamId, { fromRevision: first, maxCount: events.length });
      const out = written.map((e) => ({ id: e.id, revision: e.revision, position: e.position }));
      const last = out.at(-1);
      if (!last) throw new Error(`stream ${streamId}: the events just appended are not there to read`);
      return { duplicate: false, nextExpectedRevision: last.revision, position: last.position, events: out };
    }
    // Lost every race: report it as the conflict it is (the command loop retries or answers 409).
    const current = await this.readStream(streamId);
    throw new WrongExpectedRevision(streamId, expected, current.at(-1)?.revision ?? 'no_stream');
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    try {
      const reader = this.client.readStream(streamId, {
        fromRevision: options.fromRevision ?? START,
        direction: FORWARDS,
        maxCount: options.maxCount ?? 100_000,
      });
      for await (const resolved of reader) {
        const r = toRecorded(resolved);
        if (r) out.push(r);
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const want = options.maxCount ?? 1000;
    const out: RecordedEvent[] = [];
    let from: Position | null = options.after ?? null;
    // System events are skipped; keep paging so a page of only system events still advances.
    for (;;) {
      const page: AllStreamResolvedEvent[] = [];
      for await (const resolved of this.client.readAll({ fromPosition: from ?? START, direction: FORWARDS, maxCount: want + 1 })) {
        page.push(resolved);
      }
      let advanced = false;
      for (const resolved of page) {
        const pos = resolved.event?.position;
        if (!pos || (from && comparePositions(pos, from) <= 0)) continue;
        advanced = true;
        from = pos;
        const r = toRecorded(resolved);
        if (r) out.push(r);
        if (out.length >= want) return out;
      }
      if (!advanced || page.length < want + 1) return out;
    }
  }

  async headPosition(): Promise<Position | null> {
    for await (const resolved of this.client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 200 })) {
      const r = toRecorded(resolved);
      if (r) return r.position;
    }
    return null;
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | null {
  const e = resolved.event;
  if (!e || e.streamId.startsWith('$') || e.type.startsWith('$') || !e.position || !e.isJson) return null;
  // Outbox messages stay in the metadata: the outbox feeder reads them with outboxOf().
  const metadata = (e.metadata ?? {}) as Record<string, unknown>;
  return {
    id: e.id,
    type: e.type,
    data: e.data,
    metadata: metadata as unknown as EventMetadata,
    streamId: e.streamId,
    revision: e.revision,
    position: { commit: e.position.commit, prepare: e.position.prepare },
    recordedAt: e.created,
  };
}

/** Outbox messages carried by an event read from EventStoreDB (see OUTBOX_METADATA_KEY). */
export function outboxOf(resolvedMetadata: Record<string, unknown>): unknown[] {
  const v = resolvedMetadata[OUTBOX_METADATA_KEY];
  return Array.isArray(v) ? v : [];
}
