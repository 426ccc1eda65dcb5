/**
 * Finance reporting: the `finance-reporting` consumer group turns the payment facts of
 * `settle.payments.v1` (commands/messages.ts) into a daily ledger per tenant, currency and
 * provider (projections/finance/schema.ts).
 *
 * Exactly-once effects over an at-least-once bus: each delivered batch is applied in ONE SQL
 * transaction that first records its message ids in finance_consumed (ON CONFLICT DO NOTHING) and
 * changes the ledger only for the ids that insert took. The bus commits the Kafka offsets only
 * after the handler resolved, i.e. after the transaction committed; so a consumer killed
 * mid-batch, a rebalance or a redelivery replays messages whose ids are already recorded (no
 * double count), and a batch whose transaction did not commit is delivered again (no loss).
 */
import { z } from 'zod';
import { deterministicUuid } from '../../domain/shared/ids';
import { TOPICS, type BatchHandler, type BusSubscription, type DeliveredMessage, type MessageBus } from '../../domain/ports/messageBus';
import { hasKnownExponent, MAX_MINOR_UNITS } from '../../domain/shared/money';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../domain/ports/logger';
import type { SqlClient, SqlExecutor } from '../../domain/ports/sql';
import { backoffDelay } from '../../domain/shared/backoff';

export const FINANCE_GROUP_ID = 'finance-reporting';

/**
 * The message types of `settle.payments.v1` the ledger reads, declared by the ledger as any
 * consumer of the topic would (the producer's contract is commands/messageContracts.ts; a test in
 * finance.embedded.test.ts checks the two lists are the same).
 */
export const PAYMENT_MESSAGE_TYPES = ['payment.succeeded', 'payment.failed', 'payment.refunded', 'dispute.opened', 'dispute.closed'] as const;
export type FinanceMessageType = (typeof PAYMENT_MESSAGE_TYPES)[number];

/** What applying one message did. */
export type ApplyOutcome = 'applied' | 'duplicate' | 'ignored' | 'rejected';

/** A message that can never be applied as it is (content, not infrastructure). */
export class InvalidFinanceMessage extends Error {
  override readonly name = 'InvalidFinanceMessage';
}

/** The change one payment fact makes to its ledger row (and failure bucket). */
export interface LedgerEffect {
  readonly tenantId: string;
  readonly day: string;
  readonly currency: string;
  readonly provider: string;
  readonly grossCollected: bigint;
  readonly refunds: bigint;
  readonly disputed: bigint;
  readonly disputeLosses: bigint;
  readonly platformFees: bigint;
  readonly succeededCount: number;
  readonly failedCount: number;
  /** payment.failed: the decline code, else the error code, else 'unknown'. */
  readonly failureCode: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A real calendar day PostgreSQL accepts (a day it refused would block the partition). */
function isCalendarDay(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00.000Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s && s >= '1970-01-01';
}

const minor = z.number().int().min(0).max(MAX_MINOR_UNITS);
const money = z.object({ amount: minor, currency: z.string().refine(hasKnownExponent, 'unknown ISO 4217 currency') });
const code = z.string().min(1).max(200);
const paymentEnvelope = z.object({
  type: z.enum(PAYMENT_MESSAGE_TYPES),
  version: z.literal(1),
  tenantId: z.string().min(1).max(200),
  data: z.object({
    provider: z.string().min(1).max(100),
    amount: money,
    applicationFee: money.nullable().optional(),
    errorCode: code.nullable().optional(),
    declineCode: code.nullable().optional(),
    day: z.string().refine(isCalendarDay, 'must be a UTC day as YYYY-MM-DD'),
  }),
});
type PaymentEnvelope = z.infer<typeof paymentEnvelope>;

const ZERO = {
  grossCollected: 0n,
  refunds: 0n,
  disputed: 0n,
  disputeLosses: 0n,
  platformFees: 0n,
  succeededCount: 0,
  failedCount: 0,
  failureCode: null,
} as const;

/**
 * The ledger effect of a payment message, or null when the message is not a payment fact
 * (another type on the topic: ignored, forward compatible). Throws InvalidFinanceMessage when it
 * claims to be one but cannot be read.
 */
export function effectOf(envelope: unknown): LedgerEffect | null {
  const type = (envelope as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') throw new InvalidFinanceMessage('the message has no type');
  if (!(PAYMENT_MESSAGE_TYPES as readonly string[]).includes(type)) return null;
  const parsed = paymentEnvelope.safeParse(envelope);
  if (!parsed.success) throw new InvalidFinanceMessage(parsed.error.issues.map((i) => `${i.path.join('.') || '(envelope)'}: ${i.message}`).join('; '));
  const e: PaymentEnvelope = parsed.data;
  const d = e.data;
  const amount = BigInt(d.amount.amount);
  const base = { tenantId: e.tenantId, day: d.day, currency: d.amount.currency, provider: d.provider };
  switch (e.type) {
    case 'payment.succeeded': {
      const fee = d.applicationFee ?? null;
      if (fee && fee.currency !== d.amount.currency) throw new InvalidFinanceMessage(`applicationFee is in ${fee.currency}, the payment in ${d.amount.currency}`);
      return { ...base, ...ZERO, grossCollected: amount, platformFees: BigInt(fee?.amount ?? 0), succeededCount: 1 };
    }
    case 'payment.failed':
      return { ...base, ...ZERO, failedCount: 1, failureCode: d.declineCode ?? d.errorCode ?? 'unknown' };
    case 'payment.refunded':
      return { ...base, ...ZERO, refunds: amount };
    case 'dispute.opened':
      return { ...base, ...ZERO, disputed: amount };
    case 'dispute.closed':
      if (d.errorCode !== 'won' && d.errorCode !== 'lost') throw new InvalidFinanceMessage(`dispute.closed needs errorCode 'won' or 'lost', got ${String(d.errorCode)}`);
      return { ...base, ...ZERO, disputed: -amount, disputeLosses: d.errorCode === 'lost' ? amount : 0n };
  }
}

/**
 * A payment message is keyed by its payable's stream (`<type>-<tenant>.<id>`, commands/messages.ts).
 * A message whose tenant, aggregate or payable disagrees with its key was not written by Settle's
 * outbox (or was altered on the way): counting it would move money between tenants' ledgers, so it
 * is refused. Null when consistent.
 */
export function keyMismatch(envelope: unknown, key: string): string | null {
  const e = (envelope ?? {}) as { tenantId?: unknown; aggregate?: { type?: unknown; id?: unknown } | null; data?: { payable?: { type?: unknown; id?: unknown } | null } | null };
  const agg = e.aggregate;
  if (!agg || typeof agg.type !== 'string' || typeof agg.id !== 'string') return 'the message names no aggregate to check its key against';
  const expected = `${agg.type}-${String(e.tenantId)}.${agg.id}`;
  if (key !== expected) return `the message's tenant and aggregate (${expected.slice(0, 300)}) do not match its key (${key.slice(0, 300)})`;
  const payable = e.data?.payable;
  if (payable && (payable.type !== agg.type || payable.id !== agg.id)) return `the message's payable (${String(payable.type)} ${String(payable.id).slice(0, 200)}) is not its aggregate`;
  return null;
}

export interface ApplyOptions {
  /** Id to deduplicate by when the envelope carries no UUID id (the bus message id). */
  readonly messageId?: string;
  /** The bus key; when given, a payment fact must agree with it (keyMismatch) or it is rejected. */
  readonly key?: string;
  /** Recorded with rejected messages. */
  readonly topic?: string;
}

/**
 * The ledger's write side: pure SQL on the caller's transaction, so the consumed id and the
 * ledger change commit (or roll back) together.
 */
export class FinanceLedger {
  async apply(tx: SqlExecutor, envelope: unknown, opts: ApplyOptions = {}): Promise<ApplyOutcome> {
    const [outcome] = await this.applyMany(tx, [{ envelope, ...opts }]);
    if (outcome === undefined) throw new Error('applyMany returned no outcome for its one message');
    return outcome;
  }

  /**
   * Applies messages in order on the caller's transaction, set-based: one statement records
   * every message id (the ids already recorded, and repeats within the call, are duplicates and
   * change nothing), one adds the new effects to the ledger (summed per row first: a statement
   * may not update one row twice), one counts failures by decline code, one keeps rejected
   * messages. The outcome of each message is what applying them one by one would give.
   */
  async applyMany(tx: SqlExecutor, items: ReadonlyArray<{ envelope: unknown } & ApplyOptions>): Promise<ApplyOutcome[]> {
    interface Item {
      messageId: string;
      type: string;
      effect: LedgerEffect | null;
      rejection: string | null;
      envelope: unknown;
      topic: string;
    }
    const prepared: Item[] = items.map(({ envelope, messageId: fallback, topic, key }) => {
      const env = (envelope ?? {}) as { id?: unknown; type?: unknown };
      const messageId = typeof env.id === 'string' && UUID.test(env.id) ? env.id.toLowerCase() : fallback?.toLowerCase();
      if (!messageId || !UUID.test(messageId)) throw new InvalidFinanceMessage('the message has no UUID id to deduplicate by');
      const type = typeof env.type === 'string' ? env.type.slice(0, 200) : '(none)';
      try {
        const effect = effectOf(envelope);
        const mismatch = effect && key !== undefined ? keyMismatch(envelope, key) : null;
        if (mismatch) throw new InvalidFinanceMessage(mismatch);
        return { messageId, type, effect, rejection: null, envelope, topic: topic ?? TOPICS.payments };
      } catch (err) {
        if (!(err instanceof InvalidFinanceMessage)) throw err;
        return { messageId, type, effect: null, rejection: err.message, envelope, topic: topic ?? TOPICS.payments };
      }
    });
    const outcomeOf = (i: Item): ApplyOutcome => (i.rejection !== null ? 'rejected' : i.effect ? 'applied' : 'ignored');
    // the first copy of an id in this call is the one that may apply
    const firsts = new Map<string, Item>();
    for (const i of prepared) if (!firsts.has(i.messageId)) firsts.set(i.messageId, i);
    const candidates = [...firsts.values()];
    const { rows } = await tx.query<{ message_id: string }>(
      `INSERT INTO finance_consumed (message_id, message_type, outcome)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
       ON CONFLICT (message_id) DO NOTHING RETURNING message_id::text`,
      [candidates.map((i) => i.messageId), candidates.map((i) => i.type), candidates.map(outcomeOf)],
    );
    const fresh = new Set(rows.map((r) => r.message_id.toLowerCase()));
    const applied = candidates.filter((i) => fresh.has(i.messageId));

    const rejected = applied.filter((i): i is Item & { rejection: string } => i.rejection !== null);
    if (rejected.length > 0) {
      await tx.query(
        `INSERT INTO finance_rejected (message_id, topic, message_type, error, envelope)
         SELECT m, t, ty, e, v::jsonb FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(m, t, ty, e, v)
         ON CONFLICT (message_id) DO NOTHING`,
        [rejected.map((i) => i.messageId), rejected.map((i) => i.topic), rejected.map((i) => i.type), rejected.map((i) => i.rejection.slice(0, 2000)), rejected.map((i) => JSON.stringify(i.envelope ?? null))],
      );
    }

    const sums = new Map<string, LedgerEffect & { grossCollected: bigint; refunds: bigint; disputed: bigint; disputeLosses: bigint; platformFees: bigint }>();
    const failures = new Map<string, { tenantId: string; day: string; provider: string; code: string; count: number }>();
    for (const { effect: e } of applied) {
      if (!e) continue;
      const k = JSON.stringify([e.tenantId, e.day, e.currency, e.provider]);
      const s0 = sums.get(k);
      sums.set(
        k,
        s0
          ? {
              ...s0,
              grossCollected: s0.grossCollected + e.grossCollected,
              refunds: s0.refunds + e.refunds,
              disputed: s0.disputed + e.disputed,
              disputeLosses: s0.disputeLosses + e.disputeLosses,
              platformFees: s0.platformFees + e.platformFees,
              succeededCount: s0.succeededCount + e.succeededCount,
              failedCount: s0.failedCount + e.failedCount,
            }
          : { ...e },
      );
      if (e.failureCode !== null) {
        const fk = JSON.stringify([e.tenantId, e.day, e.provider, e.failureCode]);
        const f = failures.get(fk);
        failures.set(fk, { tenantId: e.tenantId, day: e.day, provider: e.provider, code: e.failureCode, count: (f?.count ?? 0) + 1 });
      }
    }
    if (sums.size > 0) {
      const rowsOf = [...sums.values()];
      const col = <T>(f: (r: (typeof rowsOf)[number]) => T) => rowsOf.map(f);
      await tx.query(
        `INSERT INTO finance_ledger AS l
           (tenant_id, day, currency, provider, gross_collected, refunds, disputed, dispute_losses, platform_fees, succeeded_count, failed_count)
         SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
         ON CONFLICT (tenant_id, day, currency, provider) DO UPDATE SET
           gross_collected = l.gross_collected + EXCLUDED.gross_collected,
           refunds         = l.refunds + EXCLUDED.refunds,
           disputed        = l.disputed + EXCLUDED.disputed,
           dispute_losses  = l.dispute_losses + EXCLUDED.dispute_losses,
           platform_fees   = l.platform_fees + EXCLUDED.platform_fees,
           succeeded_count = l.succeeded_count + EXCLUDED.succeeded_count,
           failed_count    = l.failed_count + EXCLUDED.failed_count,
           updated_at      = clock_timestamp()`,
        [
          col((r) => r.tenantId),
          col((r) => r.day),
          col((r) => r.currency),
          col((r) => r.provider),
          col((r) => r.grossCollected.toString()),
          col((r) => r.refunds.toString()),
          col((r) => r.disputed.toString()),
          col((r) => r.disputeLosses.toString()),
          col((r) => r.platformFees.toString()),
          col((r) => String(r.succeededCount)),
          col((r) => String(r.failedCount)),
        ],
      );
    }
    if (failures.size > 0) {
      const fs = [...failures.values()];
      await tx.query(
        `INSERT INTO finance_failures AS f (tenant_id, day, provider, decline_code, count)
         SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::bigint[])
         ON CONFLICT (tenant_id, day, provider, decline_code) DO UPDATE SET count = f.count + EXCLUDED.count`,
        [fs.map((f) => f.tenantId), fs.map((f) => f.day), fs.map((f) => f.provider), fs.map((f) => f.code), fs.map((f) => String(f.count))],
      );
    }
    const appliedIds = new Set(applied.map((i) => i.messageId));
    return prepared.map((i) => (firsts.get(i.messageId) === i && appliedIds.has(i.messageId) ? outcomeOf(i) : 'duplicate'));
  }
}

export interface FinanceConsumerOptions {
  /** Consumer group; default `finance-reporting`. */
  readonly groupId?: string;
  readonly logger?: Logger;
  /** Called after every handled message (metrics). */
  readonly onHandled?: (outcome: ApplyOutcome, message: DeliveredMessage) => void;
  /** Longest wait between attempts to subscribe while the bus is unreachable (default 10 s). */
  readonly maxRetryDelayMs?: number;
  /**
   * Wraps the batch handler given to the bus (the runtime passes ConsumerIsolation: a message that
   * keeps failing is held per key instead of blocking its partition).
   */
  readonly isolate?: (handler: BatchHandler) => BatchHandler;
}

export interface FinanceConsumerStatus {
  readonly subscribed: boolean;
  readonly applied: number;
  readonly duplicates: number;
  readonly ignored: number;
  readonly rejected: number;
  /** Handler failures (transaction rolled back; the bus delivers the message again). */
  readonly failures: number;
  readonly lastError: string | null;
}

/**
 * The `finance-reporting` consumer group member: subscribes to the payments topic through the
 * MessageBus port and applies each delivered batch in one SQL transaction. A failing transaction
 * makes the handler throw, so the bus does not move past the batch.
 */
export class FinanceConsumer {
  private readonly ledger = new FinanceLedger();
  private busSubscription: BusSubscription | null = null;
  private stopped = true;
  private loop: Promise<void> | null = null;
  /** Aborted by stop(): ends a backoff sleep of the subscribe loop at once. */
  private stopping = new AbortController();
  private readonly counts = { applied: 0, duplicates: 0, ignored: 0, rejected: 0, failures: 0 };
  private lastError: string | null = null;

  constructor(
    private readonly db: SqlClient,
    private readonly bus: MessageBus,
    private readonly opts: FinanceConsumerOptions = {},
  ) {}

  get groupId(): string {
    return this.opts.groupId ?? FINANCE_GROUP_ID;
  }

  /**
   * Joins the group. Resolves once subscribed; while the bus is unreachable it keeps trying
   * with backoff (so a runtime may start it without awaiting). Idempotent.
   */
  start(): Promise<void> {
    if (!this.stopped && this.loop) return this.loop;
    this.stopped = false;
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.loop = this.subscribeLoop();
    return this.loop;
  }

  /** Leaves the group (the message in flight finishes and its offset is committed). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.loop?.catch(() => undefined);
    this.loop = null;
    const sub = this.busSubscription;
    this.busSubscription = null;
    await sub?.stop();
  }

  status(): FinanceConsumerStatus {
    return { subscribed: this.busSubscription !== null, ...this.counts, lastError: this.lastError };
  }

  /** Applies one delivered message in its own transaction. */
  readonly handle = (message: DeliveredMessage): Promise<void> => this.handleBatch([message]);

  /**
   * Applies what the bus delivered together in ONE transaction (the bus handler): the consumed
   * ids and the ledger changes of the whole batch commit together, and the bus commits the
   * offsets only afterwards; a failure rolls everything back and the batch comes again.
   */
  readonly handleBatch = async (messages: readonly DeliveredMessage[]): Promise<void> => {
    const items = messages.map((m) => ({
      envelope: m.value,
      messageId: UUID.test(m.id) ? m.id : deterministicUuid(`finance|${m.topic}|${m.partition}|${m.offset}`),
      topic: m.topic,
      key: m.key,
    }));
    let outcomes: ApplyOutcome[];
    try {
      outcomes = await this.db.transaction((tx) => this.ledger.applyMany(tx, items));
    } catch (err) {
      this.counts.failures++;
      this.lastError = err instanceof Error ? err.message : String(err);
      const first = messages[0];
      this.opts.logger?.warn({ err, messages: messages.length, partition: first?.partition, offset: first?.offset }, 'finance: applying a batch failed, it will be delivered again');
      throw err;
    }
    this.lastError = null;
    messages.forEach((message, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) return; // applyMany answers one outcome per item, in order
      if (outcome === 'duplicate') this.counts.duplicates++;
      else this.counts[outcome]++;
      if (outcome === 'rejected') this.opts.logger?.error({ messageId: message.id, key: message.key.slice(0, 300), partition: message.partition, offset: message.offset }, 'finance: message rejected (see finance_rejected)');
      this.opts.onHandled?.(outcome, message);
    });
  };

  /** Read through a call: `stop()` may flip it while the loop awaits (a narrowed field would hide that). */
  private isStopped(): boolean {
    return this.stopped;
  }

  private async subscribeLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const sub = await this.bus.subscribeBatches(this.groupId, [TOPICS.payments], this.opts.isolate ? this.opts.isolate(this.handleBatch) : this.handleBatch);
        if (this.isStopped()) {
          await sub.stop();
          return;
        }
        this.busSubscription = sub;
        this.opts.logger?.info({ groupId: this.groupId }, 'finance: consuming payment facts');
        return;
      } catch (err) {
        failures++;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.opts.logger?.warn({ err, groupId: this.groupId }, 'finance: cannot subscribe yet, retrying');
        await sleep(backoffDelay(failures + 1, { baseMs: 200, maxMs: this.opts.maxRetryDelayMs ?? 10_000 }), undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }
}
