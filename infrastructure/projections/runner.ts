/**
 * The projection runtime. A projection owns a set of tables; it consumes the event store's
 * catch-up subscription and commits its read-model writes AND its checkpoint in one transaction,
 * so a crash or a redelivery never applies an event twice or skips one.
 *
 * - Generations: a projection's tables exist as `<table>__g<n>`; queries read the view `<table>`,
 *   which points at the active generation. A rebuild fills generation n+1 from position zero and
 *   then swaps the views in one transaction: queries see the old model or the new one, never half.
 * - One active runner per projection across instances (leader lease); a batch transaction also
 *   takes the projection's transaction-scoped advisory lock, checks the checkpoint still holds the
 *   position the batch started from, and moves it only from that position (compare and set), so
 *   even two runners that both believe they lead cannot apply a batch twice.
 * - An event the projection cannot apply goes to projection_dead_letters with its error and
 *   position; the projection then skips it or halts (PROJECTION_ON_ERROR), visible in /readyz
 *   and metrics.
 */
import { createHash } from 'node:crypto';
import { Wakeable } from '../background';
import { comparePositions, type EventStore, type Position, type RecordedEvent } from '../../domain/ports/eventStore';
import type { SharedReads } from '../eventstore/sharedReads';
import { CatchUpSubscription, type SubscriptionSink, type SubscriptionStatus } from '../eventstore/catchUp';
import { toBigInt, type SqlClient, type SqlExecutor } from '../../domain/ports/sql';
import type { LeaderLease } from '../../domain/ports/leaderLease';
import type { Logger } from '../../domain/ports/logger';
import type { OnError, ProjectionControl, ProjectionDefinition, ProjectionOverview, Tables } from '../../domain/ports/projection';

/** First key of the projection fences' advisory locks (two-key form); any fixed number, kept forever. */
const FENCE_LOCK_CLASS = 0x5e771e;

export interface ProjectionStatus extends SubscriptionStatus {
  readonly generation: number;
  readonly leader: boolean;
  readonly rebuilding: boolean;
  readonly halted: string | null;
  readonly deadLetters: number;
  readonly applied: number;
}

/** Identifies a projection's table definitions (generation-independent). */
export function definitionHash(def: ProjectionDefinition): string {
  const t = tablesFor(def, 0);
  const ddl = def.queryIndexes ? `${def.ddl(t)}\n${def.queryIndexes(t)}` : def.ddl(t);
  return createHash('sha256').update(ddl).digest('hex').slice(0, 32);
}

export function tablesFor<T extends string>(def: ProjectionDefinition<T>, generation: number): Tables<T> {
  return Object.fromEntries(def.tables.map((t) => [t, `${t}__g${generation}`])) as Tables<T>;
}

function checkpointName(def: ProjectionDefinition, generation: number): string {
  return `projection:${def.name}:g${generation}`;
}

/** Errors worth retrying (connection, serialization, resources) as opposed to a bad event. */
export function isTransient(err: unknown): boolean {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  if (typeof e.code === 'string' && /^(08|40|53|57|58)/.test(e.code)) return true;
  if (typeof e.code === 'string' && /^E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT)$/.test(e.code)) return true;
  return typeof e.message === 'string' && /Connection terminated|connection error|timeout exceeded|Client has encountered a connection error|embedded database is closed/i.test(e.message);
}

class FenceLost extends Error {
  override readonly name = 'FenceLost';
}

/** The projection refused the batch as a whole (not a transient error): it is applied again one event at a time. */
class BatchRefused extends Error {
  override readonly name = 'BatchRefused';
  constructor(override readonly cause: unknown) {
    super('the batch was refused; applying it one event at a time');
  }
}

class Halted extends Error {
  override readonly name = 'Halted';
}

export interface ProjectionRunnerOptions {
  readonly onError?: OnError;
  readonly batchSize?: number;
  /** Events per batch while rebuilding (default 2000). */
  readonly rebuildBatchSize?: number;
  /**
   * Shared by the runners of one process: projections rebuilding at the same time read and parse
   * each batch of the log once between them (see SharedReads). Live reads are never shared.
   */
  readonly sharedReads?: SharedReads;
  readonly idleDelayMs?: number;
  readonly leaseRetryMs?: number;
  readonly logger?: Logger;
  /**
   * Told after a batch that changed the read model committed (in this process), e.g. to push
   * live status to open pages.
   */
  readonly onCommitted?: (projection: string) => void;
  /** PostgreSQL: NOTIFY this channel (payload `<schema>:<projection>`) in the batch transaction, so other instances learn it at commit. */
  readonly notify?: { readonly channel: string; readonly payload: string };
}

export class ProjectionRunner implements ProjectionControl {
  private running = false;
  private loop: Promise<void> | null = null;
  private sub: CatchUpSubscription | null = null;
  private generation = 0;
  private rebuilding = false;
  private halted: string | null = null;
  private deadLetters = 0;
  private applied = 0;
  private readonly sleeper = new Wakeable();
  readonly onError: OnError;

  constructor(
    private readonly db: SqlClient,
    private readonly store: EventStore,
    readonly def: ProjectionDefinition,
    private readonly lease: LeaderLease,
    private readonly opts: ProjectionRunnerOptions = {},
  ) {
    this.onError = opts.onError ?? 'skip';
  }

  get name(): string {
    return this.def.name;
  }

  overview(): Promise<ProjectionOverview> {
    return projectionOverview(this);
  }

  async requestRebuild(): Promise<boolean> {
    const marked = await requestRebuild(this.db, this.def.name);
    this.wake();
    return marked;
  }

  async resume(skip: boolean): Promise<boolean> {
    const resumed = await resumeProjection(this.db, this.def.name, skip);
    this.wake();
    return resumed;
  }

  /** Creates generation 1 and its views when the projection has never run (idempotent, race-safe). */
  async install(): Promise<number> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`settle_projection_install:${this.def.name}`]);
      const hash = definitionHash(this.def);
      const { rows } = await tx.query<{ g: number; h: string | null }>('SELECT active_generation AS g, definition_hash AS h FROM projection_state WHERE name = $1', [this.def.name]);
      if (rows[0]) {
        await initCheckpoint(tx, checkpointName(this.def, rows[0].g));
        if (rows[0].h !== hash) {
          // the tables' definition changed in the code: rebuild into a new generation before going live
          await tx.query('UPDATE projection_state SET definition_hash = $2, rebuild_requested_at = CASE WHEN $3 THEN clock_timestamp() ELSE rebuild_requested_at END WHERE name = $1', [
            this.def.name,
            hash,
            rows[0].h !== null,
          ]);
        }
        return rows[0].g;
      }
      await createGeneration(tx, this.def, 1);
      await createQueryIndexes(tx, this.def, 1);
      await pointViews(tx, this.def, 1);
      await initCheckpoint(tx, checkpointName(this.def, 1));
      await tx.query('INSERT INTO projection_state (name, active_generation, definition_hash) VALUES ($1, 1, $2)', [this.def.name, hash]);
      return 1;
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.sub?.wake();
    this.sleeper.interrupt();
    await this.loop;
    this.loop = null;
    await this.lease.release();
  }

  /** Something changed: new events, or a rebuild or resume was requested (checks both now). */
  wake(): void {
    this.sub?.wake();
    this.sleeper.wake();
  }

  /**
   * New events were appended: only the subscription needs to look. The runner's own loop (lease,
   * rebuild requests, halts) keeps its one-second poll, so appends do not each cost a state read.
   */
  wakeForEvents(): void {
    this.sub?.wake();
  }

  status(): ProjectionStatus {
    const base: SubscriptionStatus = this.sub?.status() ?? {
      name: this.def.name,
      position: null,
      caughtUp: !this.lease.isHeld(),
      lagSeconds: 0,
      lastProgressAt: new Date(),
      lastError: null,
      running: this.running,
    };
    return {
      ...base,
      name: this.def.name,
      running: this.running,
      generation: this.generation,
      leader: this.lease.isHeld(),
      rebuilding: this.rebuilding,
      halted: this.halted,
      deadLetters: this.deadLetters,
      applied: this.applied,
    };
  }

  /** Checkpoint of the active generation, read from the database (valid on every instance). */
  async position(): Promise<Position | null> {
    const { rows } = await this.db.query<{ g: number; c: string | null; p: string | null }>(
      `SELECT s.active_generation AS g, c.position_commit AS c, c.position_prepare AS p
         FROM projection_state s LEFT JOIN checkpoints c ON c.name = 'projection:' || s.name || ':g' || s.active_generation
        WHERE s.name = $1`,
      [this.def.name],
    );
    const r = rows[0];
    return r?.c != null && r.p != null ? { commit: toBigInt(r.c), prepare: toBigInt(r.p) } : null;
  }

  /**
   * rebuild: the generation is being filled by a rebuild and nothing reads it yet. Its batches
   * then commit without waiting for the WAL flush (synchronous_commit off). Safe: a crash can only
   * lose the most recent batches, each whole (rows and checkpoint are one transaction, and WAL
   * replay restores a prefix of the commits), so the generation stays consistent; it is switched
   * in by a synchronous commit, whose flush covers every batch WAL-logged before it; and a crash
   * before the switch leaves the rebuild requested, so it starts over from zero anyway.
   */
  private sinkFor(generation: number, rebuild = false): SubscriptionSink {
    const def = this.def;
    const asyncCommit = rebuild && this.db.kind === 'postgres';
    const name = checkpointName(def, generation);
    const t = tablesFor(def, generation);
    // where this runner believes the checkpoint is: set by load(), moved by each committed batch
    let expected: Position | null = null;
    return {
      name: def.name,
      load: async () => {
        const { rows } = await this.db.query<{ c: string; p: string }>('SELECT position_commit AS c, position_prepare AS p FROM checkpoints WHERE name = $1', [name]);
        const r = rows[0];
        expected = r ? { commit: toBigInt(r.c), prepare: toBigInt(r.p) } : null;
        return expected;
      },
      handle: async (events) => {
        if (this.halted) throw new Halted(this.halted);
        const first = events[0];
        const last = events[events.length - 1];
        if (!first || !last) return;
        let deadLettered = 0;
        // assigned inside the transaction's callback: typed at the declaration so the narrowing of
        // the `null` start does not hide that assignment from the code after the transaction
        let haltAt = null as { event: RecordedEvent; error: string } | null;
        let appliedHere = 0;
        const relevant = events.filter((e) => (def.eventTypes as ReadonlySet<string>).has(e.type));
        /**
         * One transaction for the batch. `oneByOne`: each event under its own savepoint, bad ones
         * dead-lettered (or halting); only after the whole batch failed to apply (no savepoint on
         * the common path: a savepoint and its release are two round trips per batch).
         */
        const attempt = (oneByOne: boolean) =>
          this.db.transaction(async (tx) => {
            deadLettered = 0;
            haltAt = null;
            appliedHere = 0;
            if (asyncCommit) await tx.query(`SELECT set_config('synchronous_commit', 'off', true)`);
            // Fence: the checkpoint must still be where this batch started. Runners of one
            // projection queue on a transaction-scoped advisory lock rather than a row lock: a row
            // lock would give this transaction its id at once, and readAll returns nothing at or
            // above the oldest running transaction id in the cluster, so every reader of the log
            // would wait for this whole batch. Now the id comes with the first write (after the
            // reads and the folding). The lock and the checkpoint are read in one statement, whose
            // snapshot may predate the lock's wait: the read is an early exit, the guard is the
            // compare-and-set of the checkpoint at the end (it sees the latest row version).
            // (the two-key form has a key space of its own, apart from the leases' one-key locks;
            // the schema keeps installations that share a database from queueing on each other)
            const { rows } = await tx.query<{ c: string; p: string }>(
              `SELECT c.position_commit AS c, c.position_prepare AS p
                 FROM (SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || $2))) AS l, checkpoints c
                WHERE c.name = $3`,
              [FENCE_LOCK_CLASS, `:${name}`, name],
            );
            const cur = rows[0];
            if (!cur) throw new FenceLost(`checkpoint ${name} does not exist`);
            const curPos = `${cur.c}/${cur.p}`;
            const expPos = expected ? `${expected.commit}/${expected.prepare}` : null;
            if (curPos !== expPos) throw new FenceLost(`checkpoint moved (${curPos} != ${expPos}): another runner applied these events`);

            let through: RecordedEvent | null = last;
            if (relevant.length > 0 && !oneByOne) {
              try {
                await def.apply(tx, relevant, t);
              } catch (err) {
                throw isTransient(err) ? err : new BatchRefused(err);
              }
              appliedHere = relevant.length;
            } else if (relevant.length > 0) {
              // Find the bad event(s): apply one by one.
              for (const e of relevant) {
                await tx.query('SAVEPOINT projection_event');
                try {
                  await def.apply(tx, [e], t);
                  await tx.query('RELEASE SAVEPOINT projection_event');
                  appliedHere++;
                } catch (one) {
                  if (isTransient(one)) throw one;
                  await tx.query('ROLLBACK TO SAVEPOINT projection_event');
                  const message = one instanceof Error ? one.message : String(one);
                  await tx.query(
                    `INSERT INTO projection_dead_letters (projection, generation, event_id, event_type, stream_id, position_commit, position_prepare, error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (projection, generation, event_id) DO NOTHING`,
                    [def.name, generation, e.id, e.type, e.streamId, e.position.commit.toString(), e.position.prepare.toString(), message],
                  );
                  deadLettered++;
                  if (this.onError === 'halt') {
                    haltAt = { event: e, error: message };
                    // commit what came before the bad event; the checkpoint stops just before it
                    const idx = events.indexOf(e);
                    through = idx > 0 ? (events[idx - 1] ?? null) : null;
                    break;
                  }
                }
              }
            }
            const notify = appliedHere > 0 ? this.opts.notify : undefined;
            if (through) {
              // compare and set: moved only from where this batch found it (a rebuild or a resume
              // that rewrote the checkpoint meanwhile makes this batch's work void); the read
              // models' change notice goes with it (delivered at commit, like a separate NOTIFY)
              const moved = await tx.query(
                `UPDATE checkpoints SET position_commit = $2, position_prepare = $3, updated_at = clock_timestamp()
                  WHERE name = $1 AND position_commit = $4 AND position_prepare = $5
                  RETURNING ${notify ? 'pg_notify($6, $7)' : '1'}`,
                [name, through.position.commit.toString(), through.position.prepare.toString(), cur.c, cur.p, ...(notify ? [notify.channel, notify.payload] : [])],
              );
              if (moved.rows.length !== 1) throw new FenceLost(`checkpoint ${name} moved while the batch ran`);
              expected = through.position;
            } else if (notify) {
              await tx.query('SELECT pg_notify($1, $2)', [notify.channel, notify.payload]);
            }
            if (haltAt) {
              await tx.query('UPDATE projection_state SET halted_at = clock_timestamp(), halted_reason = $2 WHERE name = $1', [
                def.name,
                `event ${haltAt.event.id} (${haltAt.event.type}): ${haltAt.error}`,
              ]);
            }
          });
        try {
          await attempt(false);
        } catch (err) {
          if (!(err instanceof BatchRefused)) throw err;
          // the whole batch was rolled back: again, one event at a time
          await attempt(true);
        }
        this.applied += appliedHere;
        this.deadLetters += deadLettered;
        if (appliedHere > 0 && generation === this.generation && !this.rebuilding) this.opts.onCommitted?.(def.name);
        if (haltAt) {
          const h = haltAt;
          this.halted = `event ${h.event.id} (${h.event.type}) at ${h.event.position.commit}/${h.event.position.prepare}: ${h.error}`;
          this.opts.logger?.error({ projection: def.name, eventId: h.event.id, error: h.error }, 'projection halted on an event it cannot apply');
          throw new Halted(this.halted);
        }
        if (deadLettered > 0) this.opts.logger?.error({ projection: def.name, deadLettered }, 'projection skipped events it cannot apply (dead-lettered)');
      },
    };
  }

  private async readState(): Promise<{ generation: number; rebuildRequested: boolean; halted: string | null }> {
    const { rows } = await this.db.query<{ g: number; r: Date | null; h: string | null }>(
      'SELECT active_generation AS g, rebuild_requested_at AS r, halted_reason AS h FROM projection_state WHERE name = $1',
      [this.def.name],
    );
    const r = rows[0];
    if (!r) return { generation: await this.install(), rebuildRequested: false, halted: null };
    return { generation: r.g, rebuildRequested: r.r !== null, halted: r.h };
  }

  private async countDeadLetters(): Promise<void> {
    const { rows } = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM projection_dead_letters WHERE projection = $1 AND generation = $2', [this.def.name, this.generation]);
    this.deadLetters = Number(rows[0]?.n ?? 0);
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.lease.tryAcquire())) {
          await this.stopSub();
          await this.idle(this.opts.leaseRetryMs ?? 2000);
          continue;
        }
        const state = await this.readState();
        this.halted = state.halted;
        if (state.rebuildRequested) {
          await this.stopSub();
          await this.rebuild(state.generation);
          continue;
        }
        if (!this.sub || this.generation !== state.generation) {
          await this.stopSub();
          this.generation = state.generation;
          await this.countDeadLetters();
          if (!this.halted) {
            this.sub = new CatchUpSubscription(this.store, this.sinkFor(this.generation), {
              batchSize: this.opts.batchSize ?? 500,
              idleDelayMs: this.opts.idleDelayMs ?? 200,
              readAhead: true,
              onError: (err) => {
                if (err instanceof FenceLost || err instanceof Halted) this.opts.logger?.warn({ projection: this.def.name, err: err.message }, 'projection batch not applied');
                else this.opts.logger?.error({ projection: this.def.name, err }, 'projection batch failed, retrying from the checkpoint');
              },
            });
            this.sub.start();
          }
        }
        if (this.halted && this.sub) await this.stopSub();
        await this.idle(1000);
      } catch (err) {
        this.opts.logger?.error({ projection: this.def.name, err }, 'projection runner error');
        await this.idle(1000);
      }
    }
    await this.stopSub();
  }

  private async stopSub(): Promise<void> {
    const s = this.sub;
    this.sub = null;
    if (s) await s.stop();
  }

  /**
   * Rebuild from position zero into the next generation, then switch the views and the active
   * generation in one transaction and drop the old tables. While it runs the old model keeps
   * answering queries (it does not advance).
   */
  private async rebuild(current: number): Promise<void> {
    const next = current + 1;
    this.rebuilding = true;
    let reader: (EventStore & { leave(): void }) | undefined;
    try {
      await this.db.transaction(async (tx) => {
        await dropGeneration(tx, this.def, next);
        await createGeneration(tx, this.def, next);
        await tx.query('DELETE FROM checkpoints WHERE name = $1', [checkpointName(this.def, next)]);
        await initCheckpoint(tx, checkpointName(this.def, next));
        await tx.query('DELETE FROM projection_dead_letters WHERE projection = $1 AND generation = $2', [this.def.name, next]);
      });
      this.generation = next;
      this.deadLetters = 0;
      reader = this.opts.sharedReads?.join();
      const sub = new CatchUpSubscription(reader ?? this.store, this.sinkFor(next, true), { batchSize: this.opts.rebuildBatchSize ?? 2000, idleDelayMs: 20, readAhead: true });
      this.sub = sub;
      sub.start();
      // Caught up: the subscription has read everything that was visible when the rebuild began
      // and its last read came back short (it reached the head at that moment).
      const head = await this.store.headPosition();
      for (;;) {
        const st = sub.status();
        if (!this.running || !this.lease.isHeld() || this.halted) {
          await this.stopSub();
          const reason = this.halted ? `rebuild of ${this.def.name} stopped: ${this.halted}` : null;
          this.generation = current;
          if (reason) {
            // keep the old generation answering; the request is cleared so the runner does not loop
            await this.db.query('UPDATE projection_state SET rebuild_requested_at = NULL, halted_at = NULL, halted_reason = NULL WHERE name = $1', [this.def.name]);
            this.halted = null;
            this.opts.logger?.error({ projection: this.def.name, reason }, 'projection rebuild abandoned');
          }
          return;
        }
        const reached = head === null || (st.position !== null && comparePositions(st.position, head) >= 0);
        if (reached && st.caughtUp) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await this.stopSub();
      reader?.leave(); // indexing and switching take a while: do not hold back a rebuild still reading
      await this.db.transaction(async (tx) => {
        // the generation is complete and nothing writes to it any more: index it, then switch
        await createQueryIndexes(tx, this.def, next);
        await pointViews(tx, this.def, next);
        await tx.query('UPDATE projection_state SET active_generation = $2, rebuild_requested_at = NULL, halted_at = NULL, halted_reason = NULL, updated_at = clock_timestamp() WHERE name = $1', [
          this.def.name,
          next,
        ]);
      });
      await this.db.transaction(async (tx) => {
        await dropGeneration(tx, this.def, current);
        await tx.query('DELETE FROM checkpoints WHERE name = $1', [checkpointName(this.def, current)]);
      });
      this.halted = null;
      this.opts.logger?.info({ projection: this.def.name, generation: next }, 'projection rebuilt and switched over');
    } finally {
      reader?.leave();
      this.rebuilding = false;
    }
  }

  private idle(ms: number): Promise<void> {
    return !this.running ? Promise.resolve() : this.sleeper.sleep(ms);
  }
}

/**
 * The checkpoint row exists from the start (at position 0/0, before every event), so the batch
 * fence always has a row to lock: two runners can never both apply the first batch.
 */
async function initCheckpoint(tx: SqlExecutor, name: string): Promise<void> {
  await tx.query('INSERT INTO checkpoints (name, position_commit, position_prepare) VALUES ($1, 0, 0) ON CONFLICT (name) DO NOTHING', [name]);
}

async function createGeneration(tx: SqlExecutor, def: ProjectionDefinition, generation: number): Promise<void> {
  await tx.exec(def.ddl(tablesFor(def, generation)));
}

async function createQueryIndexes(tx: SqlExecutor, def: ProjectionDefinition, generation: number): Promise<void> {
  if (def.queryIndexes) await tx.exec(def.queryIndexes(tablesFor(def, generation)));
}

async function dropGeneration(tx: SqlExecutor, def: ProjectionDefinition, generation: number): Promise<void> {
  for (const phys of Object.values(tablesFor(def, generation))) await tx.exec(`DROP TABLE IF EXISTS ${phys} CASCADE`);
}

async function pointViews(tx: SqlExecutor, def: ProjectionDefinition, generation: number): Promise<void> {
  const t = tablesFor(def, generation);
  for (const logical of def.tables) {
    await tx.exec(`DROP VIEW IF EXISTS ${logical}; CREATE VIEW ${logical} AS SELECT * FROM ${t[logical]}`);
  }
}

/** Marks a projection for rebuild; its runner (on whichever instance leads) picks it up. */
export async function requestRebuild(db: SqlClient, name: string): Promise<boolean> {
  const { rows } = await db.query('UPDATE projection_state SET rebuild_requested_at = clock_timestamp() WHERE name = $1 RETURNING 1', [name]);
  return rows.length === 1;
}

/**
 * Clears a halt. Without `skip` the runner retries the event that stopped it; with `skip` the
 * checkpoint moves past that (dead-lettered) event first.
 */
export async function resumeProjection(db: SqlClient, name: string, skip = false): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ g: number }>('SELECT active_generation AS g FROM projection_state WHERE name = $1 FOR UPDATE', [name]);
    const g = rows[0]?.g;
    if (g === undefined) return false;
    if (skip) {
      const dl = await tx.query<{ c: string; p: string }>(
        `SELECT position_commit AS c, position_prepare AS p FROM projection_dead_letters WHERE projection = $1 AND generation = $2
          ORDER BY position_commit DESC, position_prepare DESC LIMIT 1`,
        [name, g],
      );
      const d = dl.rows[0];
      if (d) {
        await tx.query(
          `INSERT INTO checkpoints (name, position_commit, position_prepare) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET position_commit = EXCLUDED.position_commit, position_prepare = EXCLUDED.position_prepare, updated_at = clock_timestamp()
           WHERE (checkpoints.position_commit, checkpoints.position_prepare) < (EXCLUDED.position_commit, EXCLUDED.position_prepare)`,
          [`projection:${name}:g${g}`, d.c, d.p],
        );
      }
    }
    await tx.query('UPDATE projection_state SET halted_at = NULL, halted_reason = NULL WHERE name = $1', [name]);
    return true;
  });
}

export async function projectionOverview(p: ProjectionRunner): Promise<ProjectionOverview> {
  const st = p.status();
  const pos = await p.position();
  return {
    name: p.def.name,
    generation: st.generation,
    position: pos ? `${pos.commit}/${pos.prepare}` : null,
    leader: st.leader,
    caughtUp: st.caughtUp,
    lagSeconds: st.lagSeconds,
    rebuilding: st.rebuilding,
    halted: st.halted,
    deadLetters: st.deadLetters,
    onError: p.onError,
  };
}
