/**
 * The one way commands change state: load the stream, fold it, decide, append with the expected
 * revision. On a concurrency conflict the stream is reloaded and the command decided again, a
 * bounded number of times, then ConcurrencyConflict (409). Every event gets the command's
 * correlation id and the causation id of what triggered it; event ids are derived from
 * `idSeed` when the trigger is external (a provider event id, an idempotency key), so a replay
 * is deduplicated by the event store.
 */
import {
  WrongExpectedRevision,
  type EventStore,
  type NewEvent,
  type OutboxMessage,
  type Position,
  type RecordedEvent,
} from '../domain/ports/eventStore';
import type { Command, Decider, DomainEvent } from '../domain/shared/decider';
import { deterministicUuid, newId } from './ids';
import { messagesFor } from './messages';

export interface CommandContext {
  readonly tenantId: string;
  readonly correlationId: string;
  /** Id of the message that caused this command (request id, provider event id...). */
  readonly causationId: string;
  /** Seed for deterministic event ids; random ids when absent. */
  readonly idSeed?: string;
  /** Who asked: recorded in event metadata. */
  readonly actor?: { kind: 'api_key' | 'admin' | 'provider' | 'system'; id: string };
  readonly now: Date;
  /** Part of a batch retry that carries its own message: no per-booking retry message. */
  readonly batchRetry?: boolean;
}

export interface Loaded<S> {
  readonly state: S;
  /** Revision of the last event, null when the stream is empty. */
  readonly revision: bigint | null;
  readonly position: Position | null;
  readonly events: readonly RecordedEvent[];
}

export interface Handled<S, E> {
  readonly state: S;
  readonly newEvents: readonly E[];
  readonly revision: bigint | null;
  readonly position: Position | null;
  /** True when nothing new was appended (the decision was empty, or the append was a replay). */
  readonly unchanged: boolean;
}

export class ConcurrencyConflict extends Error {
  override readonly name = 'ConcurrencyConflict';
  constructor(
    readonly streamId: string,
    readonly attempts: number,
  ) {
    super(`stream ${streamId} kept changing while the command was decided (${attempts} attempts); retry the request`);
  }
}

export async function load<C extends Command, E extends DomainEvent, S>(store: EventStore, streamId: string, decider: Decider<C, E, S>): Promise<Loaded<S>> {
  const events = await store.readStream(streamId);
  let state = decider.initialState;
  for (const e of events) state = decider.evolve(state, { type: e.type, data: e.data } as E);
  const last = events[events.length - 1];
  return { state, revision: last ? last.revision : null, position: last ? last.position : null, events };
}

export interface HandleOptions<E, S> {
  readonly maxAttempts?: number;
  /** Extra integration messages to write in the same transaction as the events (besides `messagesFor`). */
  readonly outbox?: (newEvents: readonly E[], stateAfter: S) => OutboxMessage[];
}

/**
 * Commands on one stream within this process run one at a time: a hot stream (a departure many
 * people book at once) then costs a short queue instead of a storm of optimistic conflicts.
 * Other processes still meet through the expected revision.
 */
const streamQueues = new Map<string, Promise<unknown>>();

function serialized<T>(streamId: string, fn: () => Promise<T>): Promise<T> {
  const previous = streamQueues.get(streamId) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.catch(() => undefined);
  streamQueues.set(streamId, tail);
  void tail.then(() => {
    if (streamQueues.get(streamId) === tail) streamQueues.delete(streamId);
  });
  return run;
}

export function handle<C extends Command, E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Decider<C, E, S>,
  makeCommand: (state: S) => C,
  ctx: CommandContext,
  opts: HandleOptions<E, S> = {},
): Promise<Handled<S, E>> {
  return serialized(streamId, () => handleNow(store, streamId, decider, makeCommand, ctx, opts));
}

async function handleNow<C extends Command, E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Decider<C, E, S>,
  makeCommand: (state: S) => C,
  ctx: CommandContext,
  opts: HandleOptions<E, S>,
): Promise<Handled<S, E>> {
  const maxAttempts = opts.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const loaded = await load(store, streamId, decider);
    const decided = decider.decide(makeCommand(loaded.state), loaded.state);
    if (decided.length === 0) return { state: loaded.state, newEvents: [], revision: loaded.revision, position: loaded.position, unchanged: true };
    const stateAfter = decided.reduce((s, e) => decider.evolve(s, e), loaded.state);
    const toAppend: NewEvent[] = decided.map((e, i) => ({
      id: ctx.idSeed ? deterministicUuid(`${ctx.idSeed}|${streamId}|${i}|${e.type}`) : newId(),
      type: e.type,
      data: e.data,
      metadata: {
        correlationId: ctx.correlationId,
        causationId: ctx.causationId,
        tenantId: ctx.tenantId,
        schemaVersion: 1,
        ...(ctx.actor ? { actor: ctx.actor } : {}),
      },
    }));
    try {
      const outbox = [
        ...messagesFor(streamId, toAppend.map((e) => e.id), decided, ctx, stateAfter),
        ...(opts.outbox?.(decided, stateAfter) ?? []),
      ];
      const r = await store.append(streamId, toAppend, loaded.revision ?? 'no_stream', { outbox });
      if (r.duplicate) {
        const again = await load(store, streamId, decider);
        return { state: again.state, newEvents: [], revision: again.revision, position: r.position, unchanged: true };
      }
      return { state: stateAfter, newEvents: decided, revision: r.nextExpectedRevision, position: r.position, unchanged: false };
    } catch (err) {
      if (err instanceof WrongExpectedRevision && attempt < maxAttempts) {
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10 * Math.min(attempt, 10))));
        continue;
      }
      if (err instanceof WrongExpectedRevision) throw new ConcurrencyConflict(streamId, attempt);
      throw err;
    }
  }
}
