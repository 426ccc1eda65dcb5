import { backoffDelay } from '../../domain/shared/backoff';
import { PollLoop } from '../background';
import type { BatchHandler, DeliveredMessage, MessageHandler } from '../../domain/ports/messageBus';
import type { Logger } from '../../domain/ports/logger';
import type { SqlClient } from '../../domain/ports/sql';
import type { LeaderLease } from '../../domain/ports/leaderLease';

export interface ConsumerIsolationOptions {
  /** Handling attempts of one message before its key is parked for an operator (default 5). */
  readonly maxAttempts?: number;
  /** Backoff between attempts (exponential from base, capped; defaults 1 s / 60 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Longest sleep of the retrier between passes (default 500 ms); parking and releases wake it. */
  readonly pollMs?: number;
  /** How often a non-leader instance tries to take the retrier over (default 2 s). */
  readonly leaseRetryMs?: number;
  readonly logger?: Logger;
  /** A key was held (first failure, retried automatically) or parked (attempts spent). */
  readonly onHold?: (hold: { group: string; key: string; messageId: string; topic: string; attempts: number; error: string; parked: boolean }) => void;
}

/** A key a consumer group holds: the message it could not handle, and how many wait behind it. */
export interface ConsumerHold {
  readonly group: string;
  readonly key: string;
  readonly messageId: string;
  readonly topic: string;
  readonly attempts: number;
  readonly error: string | null;
  readonly since: Date;
  readonly nextAttemptAt: Date | null;
  readonly parked: boolean;
  /** Messages of the key held for the group, the head included. */
  readonly waiting: number;
}

interface ParkedRow {
  id: string | number;
  message_key: string;
  message_id: string;
  topic: string;
  value: unknown;
  headers: Record<string, string>;
  msg_partition: number | null;
  msg_offset: string | null;
  attempts: number;
  last_error: string | null;
}

/**
 * Per-key failure isolation for one consumer group, on any bus (Kafka, in-process).
 *
 * A message the group's handler cannot handle does not stop its partition: it is stored in
 * `consumer_parked` and acknowledged, and its key is held: later messages of that key delivered
 * to the group are stored behind it (per-key order), messages of every other key are handled as
 * usual. A retrier (one active per group across instances: leader lease) handles held messages
 * with backoff, oldest first per key; when the head succeeds the key's next message follows. After
 * `maxAttempts` the head is parked until an operator releases it (retry now) or skips it (recorded
 * in `parked_skips` with the reason). If the message cannot even be stored (database down) the
 * handler throws as before and the bus delivers it again.
 */
export class ConsumerIsolation {
  private readonly loop: PollLoop;
  private retryHandler: ((m: DeliveredMessage) => Promise<void>) | null = null;
  private readonly maxAttempts: number;

  constructor(
    private readonly db: SqlClient,
    readonly group: string,
    private readonly lease: LeaderLease,
    private readonly opts: ConsumerIsolationOptions = {},
  ) {
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
    this.loop = new PollLoop(
      async () => {
        await this.retryDue();
        return 'idle';
      },
      {
        idleMs: opts.pollMs ?? 500,
        maxFailureDelayMs: Math.max(opts.pollMs ?? 500, 5000),
        lease,
        leaseRetryMs: opts.leaseRetryMs ?? 2000,
        onError: (err) => this.opts.logger?.warn({ err, group: this.group }, 'consumer: retrying held messages failed; trying again'),
      },
    );
  }

  /** The group's handler, one message at a time, isolated per key. */
  wrap(handler: MessageHandler): MessageHandler {
    this.retryHandler = handler;
    const batch = this.isolate(([m]) => {
      if (!m) throw new Error('an isolated batch of one message was empty');
      return handler(m);
    }, true);
    return (m) => batch([m]);
  }

  /** The group's batch handler, isolated per key: a failing batch is retried message by message. */
  wrapBatches(handler: BatchHandler): BatchHandler {
    this.retryHandler = (m) => handler([m]);
    return this.isolate(handler, false);
  }

  private isolate(handler: BatchHandler, single: boolean): BatchHandler {
    return async (messages) => {
      if (messages.length === 0) return;
      const held = await this.heldKeys([...new Set(messages.map((m) => m.key))]);
      if (held.size === 0 && !single) {
        try {
          await handler(messages);
          return;
        } catch (err) {
          this.opts.logger?.warn({ err, group: this.group, messages: messages.length }, 'consumer: a batch failed; handling it message by message');
        }
      }
      for (const m of messages) {
        if (held.has(m.key)) {
          await this.store(m, null); // behind its key's held head
          continue;
        }
        try {
          await handler([m]);
        } catch (err) {
          await this.store(m, err);
          held.add(m.key);
        }
      }
    };
  }

  private async heldKeys(keys: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.db.query<{ message_key: string }>(
      `SELECT DISTINCT message_key FROM consumer_parked WHERE group_id = $1 AND message_key = ANY($2::text[])`,
      [this.group, keys],
    );
    return new Set(rows.map((r) => r.message_key));
  }

  /** Stores a message: the failed head of its key (err given) or one waiting behind it. */
  private async store(m: DeliveredMessage, err: unknown): Promise<void> {
    const error = err === null ? null : describe(err);
    const failed = error !== null;
    const parked = failed && this.maxAttempts <= 1;
    await this.db.query(
      `INSERT INTO consumer_parked (group_id, message_key, message_id, topic, value, headers, msg_partition, msg_offset, attempts, last_error, next_attempt_at, parked_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, clock_timestamp() + make_interval(secs => $11::float8 / 1000), CASE WHEN $12::boolean THEN clock_timestamp() END)
       ON CONFLICT (group_id, message_id) DO NOTHING`,
      [this.group, m.key, m.id, m.topic, JSON.stringify(m.value ?? null), JSON.stringify(m.headers), m.partition, m.offset, failed ? 1 : 0, error, failed ? this.retryDelayMs(1) : 0, parked],
    );
    if (error !== null) {
      this.opts.logger?.warn({ err, group: this.group, key: m.key, messageId: m.id, topic: m.topic }, 'consumer: message failed; its key is held and retried, other keys go on');
      this.opts.onHold?.({ group: this.group, key: m.key, messageId: m.id, topic: m.topic, attempts: 1, error, parked });
    }
    this.loop.wake();
  }

  private retryDelayMs(attempts: number): number {
    return backoffDelay(attempts, { baseMs: this.opts.retryBaseMs ?? 1000, maxMs: this.opts.retryMaxMs ?? 60_000 });
  }

  /** Starts the retrier (one active per group across instances: the lease). */
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

  /** One pass: every held key whose head is due, its messages in order until one fails. */
  async retryDue(): Promise<void> {
    const handler = this.retryHandler;
    if (!handler) return;
    const { rows: keys } = await this.db.query<{ message_key: string }>(
      `SELECT h.message_key FROM (
         SELECT DISTINCT ON (message_key) message_key, next_attempt_at, parked_at
           FROM consumer_parked WHERE group_id = $1 ORDER BY message_key, id) h
        WHERE h.parked_at IS NULL AND h.next_attempt_at <= clock_timestamp()
        ORDER BY h.next_attempt_at LIMIT 100`,
      [this.group],
    );
    for (const { message_key: key } of keys) {
      for (;;) {
        if (this.loop.stopping) return; // stopping (tests call retryDue without the loop)
        const { rows } = await this.db.query<ParkedRow>(
          `SELECT id, message_key, message_id, topic, value, headers, msg_partition, msg_offset, attempts, last_error
             FROM consumer_parked WHERE group_id = $1 AND message_key = $2 AND parked_at IS NULL AND next_attempt_at <= clock_timestamp()
              AND id = (SELECT min(id) FROM consumer_parked WHERE group_id = $1 AND message_key = $2)`,
          [this.group, key],
        );
        const head = rows[0];
        if (!head) break;
        try {
          await handler({
            id: head.message_id,
            topic: head.topic,
            key: head.message_key,
            value: head.value,
            headers: head.headers, // the column is NOT NULL DEFAULT '{}'
            partition: head.msg_partition ?? 0,
            offset: head.msg_offset ?? '0',
          });
          await this.db.query(`DELETE FROM consumer_parked WHERE id = $1`, [String(head.id)]);
        } catch (err) {
          const attempts = head.attempts + 1;
          const parked = attempts >= this.maxAttempts;
          const error = describe(err);
          await this.db.query(
            `UPDATE consumer_parked SET attempts = $2, last_error = $3, next_attempt_at = clock_timestamp() + make_interval(secs => $4::float8 / 1000),
                    parked_at = CASE WHEN $5::boolean THEN clock_timestamp() END WHERE id = $1`,
            [String(head.id), attempts, error, this.retryDelayMs(attempts), parked],
          );
          if (parked) this.opts.logger?.error({ err, group: this.group, key, messageId: head.message_id, attempts }, 'consumer: message parked after its attempts; an operator releases or skips it');
          this.opts.onHold?.({ group: this.group, key, messageId: head.message_id, topic: head.topic, attempts, error, parked });
          break;
        }
      }
    }
  }

  /** Held keys of this group, parked ones first. */
  async holds(): Promise<ConsumerHold[]> {
    const { rows } = await this.db.query<{
      message_key: string;
      message_id: string;
      topic: string;
      attempts: number;
      last_error: string | null;
      since: Date | string;
      next_attempt_at: Date | string;
      parked_at: Date | string | null;
      waiting: string | number;
    }>(
      `SELECT h.message_key, h.message_id, h.topic, h.attempts, h.last_error, h.since, h.next_attempt_at, h.parked_at, h.waiting
         FROM (SELECT DISTINCT ON (message_key) message_key, message_id, topic, attempts, last_error, since, next_attempt_at, parked_at,
                      count(*) OVER (PARTITION BY message_key) AS waiting
                 FROM consumer_parked WHERE group_id = $1 ORDER BY message_key, id) h
        ORDER BY (h.parked_at IS NULL), h.since LIMIT 1000`,
      [this.group],
    );
    return rows.map((r) => ({
      group: this.group,
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

  /** Keys held and keys parked (metrics, readiness). */
  async counts(): Promise<{ held: number; parked: number }> {
    const { rows } = await this.db.query<{ held: string | number; parked: string | number }>(
      `SELECT count(*) AS held, count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked
         FROM (SELECT DISTINCT ON (message_key) parked_at FROM consumer_parked WHERE group_id = $1 ORDER BY message_key, id) h`,
      [this.group],
    );
    return { held: Number(rows[0]?.held ?? 0), parked: Number(rows[0]?.parked ?? 0) };
  }

  /** Retry a held key's head now, with a fresh attempt budget. False when the key is not held. */
  async release(key: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE consumer_parked SET parked_at = NULL, attempts = 0, next_attempt_at = clock_timestamp()
        WHERE id = (SELECT min(id) FROM consumer_parked WHERE group_id = $1 AND message_key = $2) RETURNING id`,
      [this.group, key],
    );
    this.loop.wake();
    return rows.length > 0;
  }

  /** Skip a held key's head message (recorded with the reason); the key's next message follows. Null when not held. */
  async skip(key: string, reason: string, skippedBy: string): Promise<{ messageId: string; topic: string } | null> {
    const out = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ message_id: string; topic: string; last_error: string | null; value: unknown }>(
        `DELETE FROM consumer_parked WHERE id = (SELECT min(id) FROM consumer_parked WHERE group_id = $1 AND message_key = $2)
         RETURNING message_id, topic, last_error, value`,
        [this.group, key],
      );
      const h = rows[0];
      if (!h) return null;
      await tx.query(
        `INSERT INTO parked_skips (stage, message_key, message_id, topic, error, reason, skipped_by, value) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
        [`consumer:${this.group}`, key, h.message_id, h.topic, h.last_error, reason, skippedBy, JSON.stringify(h.value ?? null)],
      );
      // the next message of the key (if any) is due now
      await tx.query(
        `UPDATE consumer_parked SET next_attempt_at = clock_timestamp() WHERE id = (SELECT min(id) FROM consumer_parked WHERE group_id = $1 AND message_key = $2)`,
        [this.group, key],
      );
      return { messageId: h.message_id, topic: h.topic };
    });
    this.loop.wake();
    return out;
  }
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 2000);
}
