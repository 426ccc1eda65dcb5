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
import { newId } from './ids';
import { deterministicUuid } from '../domain/shared/ids';
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

/** A stream's folded state without its events (what deciding needs). */
export type Folded<S> = Omit<Loaded<S>, 'events'>;

/**
 * Folded states of recently decided streams, per store and decider, so deciding on a long stream
 * (a departure many people book) reads only the events appended since the last decision instead
 * of the whole stream every time. Sound because streams are append-only and evolve is pure: the
 * state at revision r never changes, and `readStream(fromRevision: r + 1)` returns everything
 * other writers (other processes too) appended since. Least recently used entries are dropped.
 */
const folds = new Map<string, { store: EventStore; decider: object; state: unknown; revision: bigint; position: Position }>();
export const FOLD_CACHE_SIZE = 2000;

export async function loadFolded<C extends Command, E extends DomainEvent, S>(store: EventStore, streamId: string, decider: Decider<C, E, S>): Promise<Folded<S>> {
  const hit = folds.get(streamId);
  const base = hit && hit.store === store && hit.decider === decider ? hit : undefined;
  const events = await store.readStream(streamId, base ? { fromRevision: base.revision + 1n } : {});
  let state = base ? (base.state as S) : decider.initialState;
  for (const e of events) state = decider.evolve(state, { type: e.type, data: e.data } as E);
  const last = events[events.length - 1];
  const revision = last ? last.revision : (base?.revision ?? null);
  const position = last ? last.position : (base?.position ?? null);
  if (revision !== null && position !== null) {
    folds.delete(streamId);
    folds.set(streamId, { store, decider, state, revision, position });
    const oldest = folds.size > FOLD_CACHE_SIZE ? folds.keys().next() : null;
    if (oldest && !oldest.done) folds.delete(oldest.value);
  }
  return { state, revision, position };
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

/** The events, ids, metadata and outbox messages one decision appends to one stream. */
interface Prepared<E, S> {
  readonly decided: readonly E[];
  readonly stateAfter: S;
  readonly toAppend: NewEvent[];
  readonly outbox: OutboxMessage[];
}

function prepare<C extends Command, E extends DomainEvent, S>(
  streamId: string,
  decider: Decider<C, E, S>,
  loaded: Folded<S>,
  command: C,
  ctx: CommandContext,
  opts: HandleOptions<E, S>,
): Prepared<E, S> {
  const decided = decider.decide(command, loaded.state);
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
  const outbox = decided.length === 0 ? [] : [...messagesFor(streamId, toAppend.map((e) => e.id), decided, ctx, stateAfter), ...(opts.outbox?.(decided, stateAfter) ?? [])];
  return { decided, stateAfter, toAppend, outbox };
}

async function conflictPause(attempt: number): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10 * Math.min(attempt, 10))));
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
    const loaded = await loadFolded(store, streamId, decider);
    const p = prepare(streamId, decider, loaded, makeCommand(loaded.state), ctx, opts);
    if (p.decided.length === 0) return { state: loaded.state, newEvents: [], revision: loaded.revision, position: loaded.position, unchanged: true };
    try {
      const r = await store.append(streamId, p.toAppend, loaded.revision ?? 'no_stream', { outbox: p.outbox });
      if (r.duplicate) {
        const again = await loadFolded(store, streamId, decider);
        return { state: again.state, newEvents: [], revision: again.revision, position: r.position, unchanged: true };
      }
      return { state: p.stateAfter, newEvents: p.decided, revision: r.nextExpectedRevision, position: r.position, unchanged: false };
    } catch (err) {
      if (err instanceof WrongExpectedRevision && attempt < maxAttempts) {
        await conflictPause(attempt);
        continue;
      }
      if (err instanceof WrongExpectedRevision) throw new ConcurrencyConflict(streamId, attempt);
      throw err;
    }
  }
}

/** One stream's part of a decision that spans two streams (see handleBoth). */
export interface Part<C extends Command, E extends DomainEvent, S> {
  readonly streamId: string;
  readonly decider: Decider<C, E, S>;
  readonly ctx: CommandContext;
  readonly opts?: HandleOptions<E, S>;
}

/**
 * A decision on two streams written in ONE transaction (EventStore.appendAtomically): the second
 * command is made from the first stream's state after its decision (a booking gets the placement
 * its seat allocation produced). Both streams are loaded, both commands decided, and both appends
 * committed together with their expected revisions; on a conflict on either stream both are
 * reloaded and decided again. `second` may return null to stop after loading (the caller then
 * answers from the loaded states, e.g. a retried request that already happened).
 * Queues on both streams in a fixed order (first, then second), so two such calls cannot deadlock.
 */
export function handleBoth<C1 extends Command, E1 extends DomainEvent, S1, C2 extends Command, E2 extends DomainEvent, S2>(
  store: EventStore,
  a: Part<C1, E1, S1> & { readonly makeCommand: (state: S1) => C1 },
  b: Part<C2, E2, S2> & { readonly makeCommand: (state: S2, firstAfter: S1, firstLoaded: Folded<S1>) => C2 | null },
  maxAttempts = 25,
): Promise<{ first: Handled<S1, E1>; second: Handled<S2, E2> } | { stopped: Folded<S2>; first: Folded<S1> }> {
  if (!store.appendAtomically) return Promise.reject(new Error('handleBoth needs an event store with appendAtomically'));
  const appendAtomically = store.appendAtomically.bind(store);
  return serialized(a.streamId, () =>
    serialized(b.streamId, async () => {
      for (let attempt = 1; ; attempt++) {
        const [la, lb] = await Promise.all([loadFolded(store, a.streamId, a.decider), loadFolded(store, b.streamId, b.decider)]);
        const pa = prepare(a.streamId, a.decider, la, a.makeCommand(la.state), a.ctx, a.opts ?? {});
        const cb = b.makeCommand(lb.state, pa.stateAfter, la);
        if (cb === null) return { stopped: lb, first: la };
        const pb = prepare(b.streamId, b.decider, lb, cb, b.ctx, b.opts ?? {});
        const parts = [
          ...(pa.decided.length > 0 ? [{ streamId: a.streamId, events: pa.toAppend, expected: la.revision ?? ('no_stream' as const), options: { outbox: pa.outbox } }] : []),
          ...(pb.decided.length > 0 ? [{ streamId: b.streamId, events: pb.toAppend, expected: lb.revision ?? ('no_stream' as const), options: { outbox: pb.outbox } }] : []),
        ];
        try {
          const results = parts.length > 0 ? await appendAtomically(parts) : [];
          const ra = pa.decided.length > 0 ? results[0] : undefined;
          const rb = pb.decided.length > 0 ? results[results.length - 1] : undefined;
          if (ra?.duplicate || rb?.duplicate) {
            // a concurrent twin (same deterministic ids) wrote it first: reload and answer from what it wrote
            if (attempt >= maxAttempts) throw new ConcurrencyConflict(b.streamId, attempt);
            continue;
          }
          return {
            first: ra
              ? { state: pa.stateAfter, newEvents: pa.decided, revision: ra.nextExpectedRevision, position: ra.position, unchanged: false }
              : { state: la.state, newEvents: [], revision: la.revision, position: la.position, unchanged: true },
            second: rb
              ? { state: pb.stateAfter, newEvents: pb.decided, revision: rb.nextExpectedRevision, position: rb.position, unchanged: false }
              : { state: lb.state, newEvents: [], revision: lb.revision, position: lb.position, unchanged: true },
          };
        } catch (err) {
          if (err instanceof WrongExpectedRevision && attempt < maxAttempts) {
            await conflictPause(attempt);
            continue;
          }
          if (err instanceof WrongExpectedRevision) throw new ConcurrencyConflict(err.streamId, attempt);
          throw err;
        }
      }
    }),
  );
}
