/**
 * Finance reporting: the `finance-reporting` consumer group turns the payment facts of
 * `settle.payments.v1` (commands/messages.ts) into a daily ledger per tenant, currency and
 * provider (projections/finance/schema.ts).
 *
 * Exactly-once effects over an at-least-once bus: each message is applied in ONE SQL transaction
 * that first records its id in finance_consumed (ON CONFLICT DO NOTHING) and changes the ledger
 * only when that insert took place. The bus commits the Kafka offset only after the handler
 * resolved, i.e. after the transaction committed; so a consumer killed mid-batch, a rebalance or
 * a redelivery replays messages whose ids are already recorded (no double count), and a message
 * whose transaction did not commit is delivered again (no loss).
 */
import { z } from 'zod';
import { TOPICS, type PaymentMessageType } from '../../commands/messages';
import { deterministicUuid } from '../../commands/ids';
import type { BusSubscription, DeliveredMessage, MessageBus } from '../../domain/ports/messageBus';
import { isCurrency, MAX_MINOR_UNITS } from '../../domain/shared/money';
import { Wakeable } from '../../infrastructure/background';
import type { Logger } from '../../infrastructure/observability/logger';
import type { SqlClient, SqlExecutor } from '../../infrastructure/sql/client';

export const FINANCE_GROUP_ID = 'finance-reporting';

export const PAYMENT_MESSAGE_TYPES: readonly PaymentMessageType[] = ['payment.succeeded', 'payment.failed', 'payment.refunded', 'dispute.opened', 'dispute.closed'];

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
const money = z.object({ amount: minor, currency: z.string().refine(isCurrency, 'unknown ISO 4217 currency') });
const code = z.string().min(1).max(200);
const paymentEnvelope = z.object({
  type: z.enum(PAYMENT_MESSAGE_TYPES as [PaymentMessageType, ...PaymentMessageType[]]),
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

export interface ApplyOptions {
  /** Id to deduplicate by when the envelope carries no UUID id (the bus message id). */
  readonly messageId?: string;
  /** Recorded with rejected messages. */
  readonly topic?: string;
}

/**
 * The ledger's write side: pure SQL on the caller's transaction, so the consumed id and the
 * ledger change commit (or roll back) together.
 */
export class FinanceLedger {
  async apply(tx: SqlExecutor, envelope: unknown, opts: ApplyOptions = {}): Promise<ApplyOutcome> {
    const env = (envelope ?? {}) as { id?: unknown; type?: unknown };
    const messageId = typeof env.id === 'string' && UUID.test(env.id) ? env.id : opts.messageId;
    if (!messageId || !UUID.test(messageId)) throw new InvalidFinanceMessage('the message has no UUID id to deduplicate by');
    const type = typeof env.type === 'string' ? env.type.slice(0, 200) : '(none)';

    let effect: LedgerEffect | null;
    let rejection: string | null = null;
    try {
      effect = effectOf(envelope);
    } catch (err) {
      if (!(err instanceof InvalidFinanceMessage)) throw err;
      effect = null;
      rejection = err.message;
    }
    const outcome = rejection !== null ? 'rejected' : effect ? 'applied' : 'ignored';

    const { rows } = await tx.query<{ message_id: string }>(
      `INSERT INTO finance_consumed (message_id, message_type, outcome) VALUES ($1::uuid, $2, $3)
       ON CONFLICT (message_id) DO NOTHING RETURNING message_id`,
      [messageId, type, outcome],
    );
    if (rows.length === 0) return 'duplicate';

    if (rejection !== null) {
      await tx.query(
        `INSERT INTO finance_rejected (message_id, topic, message_type, error, envelope) VALUES ($1::uuid, $2, $3, $4, $5::jsonb)
         ON CONFLICT (message_id) DO NOTHING`,
        [messageId, opts.topic ?? TOPICS.payments, type, rejection.slice(0, 2000), JSON.stringify(envelope ?? null)],
      );
      return 'rejected';
    }
    if (!effect) return 'ignored';

    await tx.query(
      `INSERT INTO finance_ledger AS l
         (tenant_id, day, currency, provider, gross_collected, refunds, disputed, dispute_losses, platform_fees, succeeded_count, failed_count)
       VALUES ($1, $2::date, $3, $4, $5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::bigint, $10::bigint, $11::bigint)
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
        effect.tenantId,
        effect.day,
        effect.currency,
        effect.provider,
        effect.grossCollected.toString(),
        effect.refunds.toString(),
        effect.disputed.toString(),
        effect.disputeLosses.toString(),
        effect.platformFees.toString(),
        String(effect.succeededCount),
        String(effect.failedCount),
      ],
    );
    if (effect.failureCode !== null) {
      await tx.query(
        `INSERT INTO finance_failures AS f (tenant_id, day, provider, decline_code, count) VALUES ($1, $2::date, $3, $4, 1)
         ON CONFLICT (tenant_id, day, provider, decline_code) DO UPDATE SET count = f.count + 1`,
        [effect.tenantId, effect.day, effect.provider, effect.failureCode],
      );
    }
    return 'applied';
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
 * MessageBus port and applies each message in one SQL transaction. A failing transaction makes
 * the handler throw, so the bus does not move past the message.
 */
export class FinanceConsumer {
  private readonly ledger = new FinanceLedger();
  private subscription: BusSubscription | null = null;
  private stopped = true;
  private loop: Promise<void> | null = null;
  private readonly sleeper = new Wakeable();
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
    this.loop = this.subscribeLoop();
    return this.loop;
  }

  /** Leaves the group (the message in flight finishes and its offset is committed). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeper.wake();
    await this.loop?.catch(() => undefined);
    this.loop = null;
    const sub = this.subscription;
    this.subscription = null;
    await sub?.stop();
  }

  status(): FinanceConsumerStatus {
    return { subscribed: this.subscription !== null, ...this.counts, lastError: this.lastError };
  }

  /** Applies one delivered message in its own transaction (the bus handler). */
  readonly handle = async (message: DeliveredMessage): Promise<void> => {
    const fallbackId = UUID.test(message.id) ? message.id : deterministicUuid(`finance|${message.topic}|${message.partition}|${message.offset}`);
    let outcome: ApplyOutcome;
    try {
      outcome = await this.db.transaction((tx) => this.ledger.apply(tx, message.value, { messageId: fallbackId, topic: message.topic }));
    } catch (err) {
      this.counts.failures++;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.opts.logger?.warn({ err, messageId: message.id, partition: message.partition, offset: message.offset }, 'finance: applying a message failed, it will be delivered again');
      throw err;
    }
    this.lastError = null;
    if (outcome === 'duplicate') this.counts.duplicates++;
    else this.counts[outcome]++;
    if (outcome === 'rejected') this.opts.logger?.error({ messageId: message.id, partition: message.partition, offset: message.offset }, 'finance: message rejected (see finance_rejected)');
    this.opts.onHandled?.(outcome, message);
  };

  private async subscribeLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const sub = await this.bus.subscribe(this.groupId, [TOPICS.payments], this.handle);
        if (this.stopped) {
          await sub.stop();
          return;
        }
        this.subscription = sub;
        this.opts.logger?.info({ groupId: this.groupId }, 'finance: consuming payment facts');
        return;
      } catch (err) {
        failures++;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.opts.logger?.warn({ err, groupId: this.groupId }, 'finance: cannot subscribe yet, retrying');
        await this.sleeper.sleep(Math.min(this.opts.maxRetryDelayMs ?? 10_000, 200 * 2 ** Math.min(failures, 10)));
      }
    }
  }
}
