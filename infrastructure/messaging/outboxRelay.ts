import { Wakeable } from '../background';
import { PartialPublish, type BusMessage, type MessageBus } from '../../domain/ports/messageBus';
import type { SqlClient } from '../sql/client';
import type { LeaderLease } from '../sql/leaderLease';

export interface OutboxStatus {
  readonly backlog: number;
  /** Age in seconds of the oldest unpublished message (0 when the backlog is empty). */
  readonly oldestAgeSeconds: number;
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
}

interface OutboxRow {
  id: string | number;
  message_id: string;
  topic: string;
  message_key: string;
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
 */
export class OutboxRelay {
  private stopped = true;
  private loop: Promise<void> | null = null;
  private readonly sleeper = new Wakeable();
  private lastError: string | null = null;
  private lastPublishedAt: Date | null = null;
  private published = 0;
  private readonly batchSize: number;
  private readonly idleDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly leaseRetryMs: number;
  private readonly wakeFloorMs: number;

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
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeper.interrupt();
    await this.loop;
    this.loop = null;
    await this.lease.release();
  }

  wake(): void {
    this.sleeper.wake();
  }

  async status(): Promise<OutboxStatus> {
    const { rows } = await this.db.query<{ backlog: string | number; oldest: string | number | null }>(
      `SELECT count(*) AS backlog, extract(epoch FROM clock_timestamp() - min(available_at))::float8 AS oldest
         FROM outbox WHERE published_at IS NULL AND available_at <= clock_timestamp()`,
    );
    return {
      backlog: Number(rows[0]?.backlog ?? 0),
      oldestAgeSeconds: Math.max(0, Number(rows[0]?.oldest ?? 0)),
      leader: this.lease.isHeld(),
      lastError: this.lastError,
      lastPublishedAt: this.lastPublishedAt,
      published: this.published,
    };
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
    const { rows } = await this.db.query<OutboxRow>(
      `SELECT id, message_id::text AS message_id, topic, message_key, value, headers
         FROM outbox WHERE published_at IS NULL AND available_at <= clock_timestamp() ORDER BY id LIMIT $1`,
      [this.batchSize],
    );
    if (rows.length === 0) return 0;
    const messages: BusMessage[] = rows.map((r) => ({
      id: r.message_id,
      topic: r.topic,
      key: r.message_key,
      value: r.value,
      headers: { ...r.headers, 'message-id': r.message_id },
    }));
    try {
      await this.bus.publish(messages);
    } catch (err) {
      // the acknowledged prefix is published: it is not sent again on the retry
      if (err instanceof PartialPublish && err.published > 0) await this.markPublished(rows.slice(0, err.published));
      throw err;
    }
    await this.markPublished(rows);
    return rows.length;
  }

  private async markPublished(rows: readonly OutboxRow[]): Promise<void> {
    await this.db.query(`UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])`, [rows.map((r) => String(r.id))]);
    this.published += rows.length;
    this.opts.onPublished?.(rows.length);
    this.lastPublishedAt = new Date();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (!(await this.lease.tryAcquire())) {
        await this.idle(this.leaseRetryMs);
        continue;
      }
      try {
        const n = await this.relayBatch();
        this.lastError = null;
        failures = 0;
        // a floor between passes: under load one pass relays what many appends wrote
        if (n < this.batchSize) await this.idle(this.idleDelayMs, this.wakeFloorMs);
      } catch (err) {
        failures += 1;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.opts.onError?.(err);
        // a backoff is a floor of its own: appends (which wake the relay) must not cut it short
        const backoff = Math.min(this.maxRetryDelayMs, 100 * 2 ** Math.min(failures, 10));
        await this.idle(backoff, backoff);
      }
    }
  }

  private idle(ms: number, floorMs = 0): Promise<void> {
    return this.stopped ? Promise.resolve() : this.sleeper.sleep(ms, floorMs);
  }
}
