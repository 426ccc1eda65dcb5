import { comparePositions, type EventStore, type Position, type RecordedEvent } from '../../domain/ports/eventStore';
import type { SqlClient } from '../../domain/ports/sql';
import type { LeaderLease } from '../../domain/ports/leaderLease';
import { toBigInt } from '../../domain/ports/sql';
import { PollLoop, type PassResult } from '../background';

/**
 * Where a catch-up subscription delivers, and where its checkpoint lives. handle() must make the
 * batch's effects and the new checkpoint durable together (one transaction for SQL read models),
 * or be idempotent when they are stored separately (checkpointed()).
 */
export interface SubscriptionSink {
  readonly name: string;
  load(): Promise<Position | null>;
  handle(events: readonly RecordedEvent[]): Promise<void>;
  /** Makes durable what handle() left pending (a checkpoint stored lazily); called when the subscription stops. */
  flush?(): Promise<void>;
}

export interface CheckpointStore {
  load(name: string): Promise<Position | null>;
  store(name: string, position: Position): Promise<void>;
}

export class SqlCheckpointStore implements CheckpointStore {
  constructor(private readonly db: SqlClient) {}

  async load(name: string): Promise<Position | null> {
    const { rows } = await this.db.query<{ c: string; p: string }>(
      `SELECT position_commit AS c, position_prepare AS p FROM checkpoints WHERE name = $1`,
      [name],
    );
    const r = rows[0];
    return r ? { commit: toBigInt(r.c), prepare: toBigInt(r.p) } : null;
  }

  async store(name: string, position: Position): Promise<void> {
    await this.db.query(
      `INSERT INTO checkpoints (name, position_commit, position_prepare) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET position_commit = EXCLUDED.position_commit,
         position_prepare = EXCLUDED.position_prepare, updated_at = clock_timestamp()`,
      [name, position.commit.toString(), position.prepare.toString()],
    );
  }
}

/**
 * A sink that runs a handler then stores the checkpoint: at-least-once, so the handler must be
 * idempotent. `storeEveryMs`: the checkpoint is written at most that often (and when the
 * subscription stops), not after every batch: a reactor that reads every event of the log for
 * the few it acts on would otherwise write its checkpoint several times a second under load; after
 * a crash it handles again at most that much of the log (idempotent, so nothing happens twice).
 */
export function checkpointed(
  name: string,
  checkpoints: CheckpointStore,
  handler: (events: readonly RecordedEvent[]) => Promise<void>,
  opts: { storeEveryMs?: number; now?: () => number } = {},
): SubscriptionSink {
  const every = opts.storeEveryMs ?? 0;
  const now = opts.now ?? Date.now;
  let storedAt = Number.NEGATIVE_INFINITY;
  let pending: Position | null = null;
  const store = async (position: Position) => {
    await checkpoints.store(name, position);
    storedAt = now();
    if (pending === position) pending = null;
  };
  return {
    name,
    load: () => {
      pending = null;
      return checkpoints.load(name);
    },
    async handle(events) {
      await handler(events);
      const last = events[events.length - 1];
      if (!last) return;
      pending = last.position;
      if (now() - storedAt >= every) await store(last.position);
    },
    async flush() {
      if (pending) await store(pending);
    },
  };
}

export interface SubscriptionStatus {
  readonly name: string;
  readonly position: Position | null;
  readonly caughtUp: boolean;
  /** Seconds between now and the recording of the oldest event not yet handled (0 when caught up). */
  readonly lagSeconds: number;
  readonly lastProgressAt: Date;
  readonly lastError: string | null;
  readonly running: boolean;
}

export interface CatchUpOptions {
  batchSize?: number;
  /** Poll interval while caught up; wake() cuts it short when this process appends. */
  idleDelayMs?: number;
  /**
   * Least time between two reads while caught up, however often wake() is called (default 20 ms):
   * under load a pass then takes every event of the last 20 ms in one batch, instead of one
   * batch (and one transaction) per append.
   */
  wakeFloorMs?: number;
  maxRetryDelayMs?: number;
  onError?: (err: unknown, sink: string) => void;
  onBatch?: (sink: string, events: readonly RecordedEvent[]) => void;
  /**
   * After a full batch, start reading the next one while the sink handles this one, so the sink
   * and the read overlap instead of taking turns (catching up, rebuilding). The read-ahead is used
   * only if the batch is handled and the position is then exactly where that read started.
   */
  readAhead?: boolean;
  /** When set, the subscription only runs while it holds this lease (one runner per cluster). */
  lease?: LeaderLease;
  leaseRetryMs?: number;
}


/**
 * Catch-up subscription over all streams. Reads in global order after the sink's checkpoint,
 * hands batches to the sink, and polls when caught up. Because readAll() never returns an event
 * while an older transaction may still commit, the subscription never skips a committed event;
 * a rolled-back transaction ends, so it cannot block the reader. A failing batch is retried with
 * backoff from the same checkpoint: events are never skipped to "get past" an error.
 */
export class CatchUpSubscription {
  private position: Position | null = null;
  private readonly loop: PollLoop;
  /** The checkpoint was loaded since the lease was (re)acquired or a batch failed. */
  private loaded = false;
  /** The read of the batch after `ahead.after`, started while the previous batch was handled. */
  private ahead: ReadAhead | null = null;
  private caughtUp = false;
  private lagSeconds = 0;
  private lastProgressAt = new Date();
  private lastError: string | null = null;
  private readonly batchSize: number;
  private readonly idleDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly wakeFloorMs: number;

  constructor(
    private readonly store: EventStore,
    readonly sink: SubscriptionSink,
    private readonly opts: CatchUpOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 500;
    this.idleDelayMs = opts.idleDelayMs ?? 200;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 5000;
    this.wakeFloorMs = opts.wakeFloorMs ?? 20;
    this.loop = new PollLoop(() => this.pass(), {
      idleMs: this.idleDelayMs,
      wakeFloorMs: this.wakeFloorMs,
      maxFailureDelayMs: this.maxRetryDelayMs,
      ...(opts.lease ? { lease: opts.lease } : {}),
      leaseRetryMs: opts.leaseRetryMs ?? 2000,
      onLeaseMissing: async () => {
        // another instance runs this subscription: nothing is behind here
        this.caughtUp = true;
        this.lagSeconds = 0;
        this.lastProgressAt = new Date();
        this.loaded = false;
        await this.discardAhead();
      },
      onError: async (err) => {
        this.lastError = err instanceof Error ? err.message : String(err);
        this.opts.onError?.(err, this.sink.name);
        this.loaded = false; // reload the checkpoint: the failed batch may have been partly committed elsewhere
        await this.discardAhead();
      },
    });
  }

  start(): void {
    if (this.loop.running) return;
    this.loaded = false; // a (re)start reads from the sink's checkpoint
    this.loop.start();
  }

  /** Stops after the batch in flight is handled (its checkpoint committed). */
  async stop(): Promise<void> {
    await this.loop.stop();
    // wait for a read-ahead, so no query of this subscription outlives stop()
    await this.discardAhead();
    await this.sink.flush?.();
  }

  wake(): void {
    this.loop.wake();
  }

  status(): SubscriptionStatus {
    return {
      name: this.sink.name,
      position: this.position,
      caughtUp: this.caughtUp,
      lagSeconds: this.lagSeconds,
      lastProgressAt: this.lastProgressAt,
      lastError: this.lastError,
      running: this.loop.running,
    };
  }

  /** Resolves once the subscription has handled everything up to `target` (or the head). */
  async waitFor(target: Position | null, timeoutMs = 30_000): Promise<void> {
    const goal = target ?? (await this.store.headPosition());
    const deadline = Date.now() + timeoutMs;
    while (goal && (!this.position || comparePositions(this.position, goal) < 0)) {
      if (Date.now() > deadline) throw new Error(`subscription ${this.sink.name} did not reach ${goal.commit}/${goal.prepare} in ${timeoutMs} ms`);
      this.wake();
      await sleep(20);
    }
  }

  /** Waits for a read-ahead in flight and drops it. */
  private async discardAhead(): Promise<void> {
    const a = this.ahead;
    this.ahead = null;
    if (a) await a.read;
  }

  /** One batch from the checkpoint; `idle` when it reached the head. A failure reloads the checkpoint (onError above). */
  private async pass(): Promise<PassResult> {
    if (!this.loaded) {
      await this.discardAhead();
      this.position = await this.sink.load();
      this.loaded = true;
    }
    let events: RecordedEvent[] | null = null;
    if (this.ahead) {
      const a: ReadAhead = this.ahead;
      this.ahead = null;
      // A batch read after this exact position is what a read now would return, or (when it
      // came back short) a prefix of it: either way nothing is skipped or repeated.
      if (this.position && comparePositions(a.after, this.position) === 0) events = await a.read;
      else await a.read;
    }
    // null: no read-ahead, or it failed (then read again here, where failures are handled)
    events ??= await this.store.readAll({ after: this.position, maxCount: this.batchSize });
    if (events.length === 0) {
      this.caughtUp = true;
      this.lagSeconds = 0;
      this.lastProgressAt = new Date();
      return 'idle';
    }
    this.caughtUp = false;
    const [firstEvent] = events;
    const lastEvent = events.at(-1);
    if (!firstEvent || !lastEvent) return 'idle';
    this.lagSeconds = Math.max(0, (Date.now() - firstEvent.recordedAt.getTime()) / 1000);
    const last: Position = lastEvent.position;
    // Only after a full batch: a short one means the head is near, and a read started now
    // would miss what commits while this batch is handled (the next read would then wait).
    if (this.opts.readAhead && events.length === this.batchSize) {
      this.ahead = { after: last, read: this.store.readAll({ after: last, maxCount: this.batchSize }).catch(() => null) };
    }
    await this.sink.handle(events);
    this.position = last;
    this.lastProgressAt = new Date();
    this.lastError = null;
    this.opts.onBatch?.(this.sink.name, events);
    if (events.length < this.batchSize) {
      // it read everything there was: wait for more (a short batch is a sign of no backlog)
      this.caughtUp = true;
      this.lagSeconds = 0;
      return 'idle';
    }
    return 'more';
  }
}

interface ReadAhead {
  readonly after: Position;
  /** null when the read failed: the loop then reads again itself. */
  readonly read: Promise<RecordedEvent[] | null>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
