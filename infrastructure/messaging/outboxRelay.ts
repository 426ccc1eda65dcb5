import { backoffDelay } from '../../domain/shared/backoff';
import { PollLoop } from '../background';
import { isBusOutage, PartialPublish, type BusMessage, type MessageBus } from '../../domain/ports/messageBus';
import type { SqlClient } from '../../domain/ports/sql';
import type { LeaderLease } from '../../domain/ports/leaderLease';

export interface OutboxStatus {
  /** Due unpublished messages (held keys' messages included). */
  readonly backlog: number;
  /** Age in seconds of the oldest due unpublished message of a key that is not held (0 when there is none). */
  readonly oldestAgeSeconds: number;
  /** Keys held by the relay: retrying their head message, or parked (waiting for an operator). */
  readonly heldKeys: number;
  readonly parkedKeys: number;
  /**
   * The oldest due message of a key that is not held has not changed for `stuckAfterSeconds` and is
   * older than that: nothing is being relayed (the bus is down, or the relay is wedged).
   */
  readonly stuck: boolean;
  readonly leader: boolean;
  readonly lastError: string | null;
  readonly lastPublishedAt: Date | null;
  readonly published: number;
}

export interface OutboxRelayOptions {
  /** Messages per pass (default 1000): one SELECT and one UPDATE for all of them; KafkaBus splits the produce requests by size. */
  batchSize?: number;
  idleDelayMs?: number;
  maxRetryDelayMs?: number;
  /** How often a non-leader instance tries to take over. */
  leaseRetryMs?: number;
  /** Least time between passes while woken by appends (default 20 ms): one pass relays many appends. */
  wakeFloorMs?: number;
  onError?: (err: unknown) => void;
  onPublished?: (count: number) => void;
  /** Publish attempts of one message before its key is parked (default 5). */
  maxAttempts?: number;
  /** Backoff between attempts of a held message (exponential from base, capped; defaults 1 s / 60 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Seconds without progress on the oldest due message before the relay counts as stuck (default 60). */
  stuckAfterSeconds?: number;
  /** A key was held (first failure) or parked (attempts spent). */
  onHold?: (hold: { key: string; messageId: string; topic: string; attempts: number; error: string; parked: boolean }) => void;
}

/** A key held by the relay: its head message could not be published. */
export interface OutboxHold {
  readonly key: string;
  readonly messageId: string;
  readonly topic: string;
  readonly attempts: number;
  readonly error: string;
  readonly since: Date;
  readonly nextAttemptAt: Date | null;
  readonly parked: boolean;
  /** Unpublished messages of the key, the head included. */
  readonly waiting: number;
}

interface OutboxRow {
  id: string | number;
  message_key: string;
  message_id: string;
  topic: string;
  value: unknown;
  headers: Record<string, string>;
}

/**
 * Moves messages from the outbox table (written in the same transaction as the events) to the
 * bus, oldest first. Rows are marked published only after the bus acknowledged them, so a crash
 * or an outage means redelivery, never loss. Per-key order holds because every append to one
 * stream holds that stream's row lock, so its outbox ids grow in commit order. One instance
 * relays at a time (leader lease); while the bus is down the backlog grows and the relay retries
 * with backoff.
 *
 * A message the bus refuses while it is reachable (too large, refused by a handler of the
 * in-process bus...) never blocks other keys: the relay finds it (the failing message of a
 * partial publish, else one message at a time), holds its key (`outbox_holds`: the key's later
 * messages wait behind it, so per-key order holds) and publishes everything else. The held
 * message is retried alone with backoff; after `maxAttempts` its key is parked until an operator
 * releases it (retry now) or skips the message (`release` / `skip`). While the bus is unreachable
 * nothing is charged to any message.
 */
export class OutboxRelay {
  private readonly loop: PollLoop;
  private lastError: string | null = null;
  private lastPublishedAt: Date | null = null;
  private published = 0;
  private readonly batchSize: number;
  private readonly idleDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly leaseRetryMs: number;
  private readonly wakeFloorMs: number;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  /** When the held keys were last checked for a due retry (retryHolds). */
  private holdsCheckedAt = 0;
  private readonly retryMaxMs: number;
  private readonly stuckAfterMs: number;
  /** The oldest due message of an unheld key, and since when it has been the oldest (stuck detection). */
  private head: { id: string; since: number } | null = null;

  constructor(
    private readonly db: SqlClient,
    private readonly bus: MessageBus,
    private readonly lease: LeaderLease,
    private readonly opts: OutboxRelayOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 1000;
    this.idleDelayMs = opts.idleDelayMs ?? 200;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 5000;
    this.leaseRetryMs = opts.leaseRetryMs ?? 2000;
    this.wakeFloorMs = opts.wakeFloorMs ?? 20;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
    this.retryBaseMs = opts.retryBaseMs ?? 1000;
    this.retryMaxMs = opts.retryMaxMs ?? 60_000;
    this.stuckAfterMs = (opts.stuckAfterSeconds ?? 60) * 1000;
    this.loop = new PollLoop(
      async () => {
        const n = await this.relayBatch();
        this.lastError = null;
        // a floor between passes: under load one pass relays what many appends wrote
        return n < this.batchSize ? 'idle' : 'more';
      },
      {
        idleMs: this.idleDelayMs,
        wakeFloorMs: this.wakeFloorMs,
        maxFailureDelayMs: this.maxRetryDelayMs,
        lease: this.lease,
        leaseRetryMs: this.leaseRetryMs,
        onError: (err) => {
          this.lastError = err instanceof Error ? err.message : String(err);
          this.opts.onError?.(err);
        },
      },
    );
  }

  start(): void {
    this.loop.start();
  }

  /** Stops after the pass in flight and releases the lease. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  wake(): void {
    this.loop.wake();
  }

  async status(): Promise<OutboxStatus> {
    const { rows } = await this.db.query<{ backlog: string | number; head: string | null; oldest: string | number | null; held: string | number; parked: string | number }>(
      `SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL AND available_at <= clock_timestamp()) AS backlog,
              h.id::text AS head, extract(epoch FROM clock_timestamp() - h.available_at)::float8 AS oldest,
              (SELECT count(*) FROM outbox_holds) AS held,
              (SELECT count(*) FROM outbox_holds WHERE parked_at IS NOT NULL) AS parked
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (
           SELECT o.id, o.available_at FROM outbox o
            WHERE o.published_at IS NULL AND o.available_at <= clock_timestamp()
              AND NOT EXISTS (SELECT 1 FROM outbox_holds x WHERE x.message_key = o.message_key)
            ORDER BY o.id LIMIT 1) h ON true`,
    );
    const r = rows[0];
    const oldestAgeSeconds = Math.max(0, Number(r?.oldest ?? 0));
    const headId = r?.head ?? null;
    const now = Date.now();
    if (headId === null) this.head = null;
    else if (this.head?.id !== headId) this.head = { id: headId, since: now };
    const stuck = this.head !== null && now - this.head.since >= this.stuckAfterMs && oldestAgeSeconds * 1000 >= this.stuckAfterMs;
    return {
      backlog: Number(r?.backlog ?? 0),
      oldestAgeSeconds,
      heldKeys: Number(r?.held ?? 0),
      parkedKeys: Number(r?.parked ?? 0),
      stuck,
      leader: this.lease.isHeld(),
      lastError: this.lastError,
      lastPublishedAt: this.lastPublishedAt,
      published: this.published,
    };
  }

  /** Keys held by the relay, parked ones first. */
  async holds(): Promise<OutboxHold[]> {
    const { rows } = await this.db.query<{ message_key: string; message_id: string; topic: string; attempts: number; last_error: string; since: Date | string; next_attempt_at: Date | string; parked_at: Date | string | null; waiting: string | number }>(
      `SELECT h.message_key, h.message_id::text AS message_id, h.topic, h.attempts, h.last_error, h.since, h.next_attempt_at, h.parked_at,
              (SELECT count(*) FROM outbox o WHERE o.message_key = h.message_key AND o.published_at IS NULL) AS waiting
         FROM outbox_holds h ORDER BY (h.parked_at IS NULL), h.since LIMIT 1000`,
    );
    return rows.map((r) => ({
      key: r.message_key,
      messageId: r.message_id,
      topic: r.topic,
      attempts: r.attempts,
      error: r.last_error,
      since: new Date(r.since),
      nextAttemptAt: r.parked_at ? null : new Date(r.next_attempt_at),
      parked: r.parked_at !== null,
      waiting: Number(r.waiting),
    }));
  }

  /** Retry a held key's head message now, with a fresh attempt budget. False when the key is not held. */
  async release(key: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE outbox_holds SET parked_at = NULL, attempts = 0, next_attempt_at = clock_timestamp() WHERE message_key = $1 RETURNING message_key`,
      [key],
    );
    this.holdsCheckedAt = 0; // due now: the next pass looks (another instance's relay within 250 ms)
    this.wake();
    return rows.length > 0;
  }

  /**
   * Skip a held key's head message: it is marked published without being sent, recorded in
   * `parked_skips` with the reason, and the key flows again. Null when the key is not held.
   */
  async skip(key: string, reason: string, skippedBy: string): Promise<{ messageId: string; topic: string } | null> {
    const out = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ message_id: string; topic: string; last_error: string }>(
        `DELETE FROM outbox_holds WHERE message_key = $1 RETURNING message_id::text AS message_id, topic, last_error`,
        [key],
      );
      const h = rows[0];
      if (!h) return null;
      const { rows: msg } = await tx.query<{ value: unknown }>(
        `UPDATE outbox SET published_at = clock_timestamp() WHERE message_id = $1 AND published_at IS NULL RETURNING value`,
        [h.message_id],
      );
      await tx.query(
        `INSERT INTO parked_skips (stage, message_key, message_id, topic, error, reason, skipped_by, value) VALUES ('relay', $1, $2, $3, $4, $5, $6, $7::jsonb)`,
        [key, h.message_id, h.topic, h.last_error, reason, skippedBy, JSON.stringify(msg[0]?.value ?? null)],
      );
      return { messageId: h.message_id, topic: h.topic };
    });
    this.wake();
    return out;
  }

  /** Writes messages to the outbox without an event append (scheduled batch requests). */
  async enqueue(messages: readonly import('../../domain/ports/eventStore').OutboxMessage[]): Promise<void> {
    for (const m of messages) {
      await this.db.query(
        `INSERT INTO outbox (message_id, topic, message_key, value, headers, available_at)
         VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, coalesce($6::timestamptz, clock_timestamp())) ON CONFLICT (message_id) DO NOTHING`,
        [m.id, m.topic, m.key, JSON.stringify(m.value), JSON.stringify(m.headers ?? {}), m.availableAt ?? null],
      );
    }
    this.wake();
  }

  /** Publishes everything pending now; used by the loop and by tests that need determinism. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.relayBatch();
      total += n;
      if (n < this.batchSize) return total;
    }
  }

  private async relayBatch(): Promise<number> {
    await this.retryHolds();
    const { rows } = await this.db.query<OutboxRow>(
      `SELECT o.id, o.message_id::text AS message_id, o.topic, o.message_key, o.value, o.headers
         FROM outbox o
        WHERE o.published_at IS NULL AND o.available_at <= clock_timestamp()
          AND NOT EXISTS (SELECT 1 FROM outbox_holds h WHERE h.message_key = o.message_key)
        ORDER BY o.id LIMIT $1`,
      [this.batchSize],
    );
    if (rows.length === 0) return 0;
    await this.publishIsolating(rows);
    return rows.length;
  }

  /**
   * Publishes the rows in order. When the bus refuses while it is reachable, the refused message
   * is found and its key held; the rest (other keys) is published all the same.
   */
  private async publishIsolating(rows: readonly OutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    let done = 0;
    try {
      await this.bus.publish(rows.map(toBusMessage));
      await this.markPublished(rows);
      return;
    } catch (err) {
      // the acknowledged prefix is published: it is not sent again on the retry
      if (err instanceof PartialPublish && err.published > 0) {
        done = err.published;
        await this.markPublished(rows.slice(0, done));
      }
      if (isBusOutage(err) || !(await this.busReachable())) throw err; // an outage: nothing is charged to any message
    }
    // One message at a time from the first unacknowledged one until one fails (the in-process
    // bus names it exactly; a Kafka request may have failed for any of its records).
    const rest = rows.slice(done);
    for (const [i, row] of rest.entries()) {
      try {
        await this.bus.publish([toBusMessage(row)]);
        await this.markPublished([row]);
        continue;
      } catch (err) {
        if (isBusOutage(err) || !(await this.busReachable())) throw err;
        // Is it this message, or the bus? The next message of another key decides: if it goes
        // through, this one alone is refused and its key is held; if it fails too, nothing is
        // charged (a partial outage: leader elections, a broker restarting) and the pass backs off.
        const others = rest.slice(i + 1).filter((r) => r.message_key !== row.message_key);
        const probe = others[0];
        if (probe) {
          try {
            await this.bus.publish([toBusMessage(probe)]);
          } catch {
            throw err;
          }
          await this.markPublished([probe]);
        }
        await this.hold(row, err);
        // everything after it, except its own key's messages (they wait behind it), as a batch again
        return this.publishIsolating(others.slice(probe ? 1 : 0));
      }
    }
  }

  /** The bus answers (bounded: an unreachable broker must not stall the pass for its whole retry budget). */
  private async busReachable(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.bus.healthy(), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 2000)))]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private retryDelayMs(attempts: number): number {
    return backoffDelay(attempts, { baseMs: this.retryBaseMs, maxMs: this.retryMaxMs });
  }

  /** The first failure of a key's head message: hold the key (parked at once when one attempt is all there is). */
  private async hold(row: OutboxRow, err: unknown): Promise<void> {
    const error = describe(err);
    const parked = this.maxAttempts <= 1;
    await this.db.query(
      `INSERT INTO outbox_holds (message_key, message_id, topic, attempts, last_error, next_attempt_at, parked_at)
       VALUES ($1, $2, $3, 1, $4, clock_timestamp() + make_interval(secs => $5::float8 / 1000), CASE WHEN $6::boolean THEN clock_timestamp() END)
       ON CONFLICT (message_key) DO NOTHING`,
      [row.message_key, row.message_id, row.topic, error, this.retryDelayMs(1), parked],
    );
    this.opts.onHold?.({ key: row.message_key, messageId: row.message_id, topic: row.topic, attempts: 1, error, parked });
  }

  /** Held keys whose retry is due: their head message alone; success releases the key. */
  private async retryHolds(): Promise<void> {
    // at most every 250 ms (or the retry base, when shorter): a busy relay passes many times a
    // second, and a hold's retry is due seconds after its failure
    const now = Date.now();
    if (now - this.holdsCheckedAt < Math.min(250, this.retryBaseMs)) return;
    this.holdsCheckedAt = now;
    const { rows: due } = await this.db.query<{ message_key: string; message_id: string; attempts: number }>(
      `SELECT message_key, message_id::text AS message_id, attempts FROM outbox_holds
        WHERE parked_at IS NULL AND next_attempt_at <= clock_timestamp() ORDER BY next_attempt_at LIMIT 100`,
    );
    for (const h of due) {
      if (this.loop.stopping) return; // stopping (drain() runs without the loop)
      const { rows } = await this.db.query<OutboxRow>(
        `SELECT id, message_id::text AS message_id, topic, message_key, value, headers FROM outbox WHERE message_id = $1 AND published_at IS NULL`,
        [h.message_id],
      );
      const row = rows[0];
      try {
        if (row) {
          await this.bus.publish([toBusMessage(row)]);
          await this.markPublished([row]);
        }
        await this.db.query(`DELETE FROM outbox_holds WHERE message_key = $1 AND message_id = $2`, [h.message_key, h.message_id]);
      } catch (err) {
        if (isBusOutage(err) || !(await this.busReachable())) throw err;
        const attempts = h.attempts + 1;
        const parked = attempts >= this.maxAttempts;
        const error = describe(err);
        await this.db.query(
          `UPDATE outbox_holds SET attempts = $2, last_error = $3, next_attempt_at = clock_timestamp() + make_interval(secs => $4::float8 / 1000),
                  parked_at = CASE WHEN $5::boolean THEN clock_timestamp() END
            WHERE message_key = $1 AND message_id = $6`,
          [h.message_key, attempts, error, this.retryDelayMs(attempts), parked, h.message_id],
        );
        this.opts.onHold?.({ key: h.message_key, messageId: h.message_id, topic: row?.topic ?? '', attempts, error, parked });
      }
    }
  }

  private async markPublished(rows: readonly OutboxRow[]): Promise<void> {
    await this.db.query(`UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])`, [rows.map((r) => String(r.id))]);
    this.published += rows.length;
    this.opts.onPublished?.(rows.length);
    this.lastPublishedAt = new Date();
  }
}

function toBusMessage(r: OutboxRow): BusMessage {
  return { id: r.message_id, topic: r.topic, key: r.message_key, value: r.value, headers: { ...r.headers, 'message-id': r.message_id } };
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 2000);
}
