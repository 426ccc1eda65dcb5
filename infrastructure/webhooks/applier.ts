/**
 * The webhook applier: the background loop (`PollLoop`) that applies stored inbox rows (status
 * received, never tried) in batches, one active per cluster (leader lease). Woken by every stored
 * delivery right after its commit (no poll delay on the hot path); while full batches keep coming
 * it takes them one after another without sleeping. What applying does is the caller's (`apply`:
 * the ingestor's `applyBatch`, commands/webhooks/ingest.ts). A crash between the 2xx and the
 * apply loses nothing: the rows stay received and the next leader takes them.
 *
 * `status()` is what /metrics and /readyz read: the backlog (rows never tried), the age of the
 * oldest, and `stuck` when that oldest row has not changed for `stuckAfterSeconds` and is older
 * than that (the same rule as the outbox relay's).
 */
import { PollLoop } from '../background';
import type { InboxRow, WebhookInbox } from '../../domain/ports/webhookInbox';
import type { Logger } from '../../domain/ports/logger';
import type { LeaderLease } from '../../domain/ports/leaderLease';

export interface ApplierStatus {
  /** Stored rows never tried yet (the applier's queue). */
  readonly backlog: number;
  /** Seconds since the oldest of them was stored (0 when none). */
  readonly oldestAgeSeconds: number;
  /** The oldest unapplied row has not moved for `stuckAfterSeconds` (and is older than that). */
  readonly stuck: boolean;
  readonly leader: boolean;
  readonly lastError: string | null;
  readonly applied: number;
}

export interface ApplierOptions {
  readonly batchSize?: number;
  /** Sleep when the queue is empty; a stored delivery wakes the loop at once. */
  readonly idleMs?: number;
  /** Seconds without progress on the oldest unapplied row before the applier counts as stuck (default 60). */
  readonly stuckAfterSeconds?: number;
}

export class InboxApplier {
  private readonly loop: PollLoop;
  private readonly batchSize: number;
  private readonly stuckAfterMs: number;
  /** The oldest unapplied row, and since when it has been the oldest (stuck detection). */
  private head: { key: string; since: number } | null = null;
  private lastError: string | null = null;
  private applied = 0;

  constructor(
    private readonly inbox: WebhookInbox,
    private readonly apply: (rows: readonly InboxRow[]) => Promise<unknown>,
    private readonly lease: LeaderLease,
    private readonly logger: Logger,
    opts: ApplierOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 256;
    this.stuckAfterMs = (opts.stuckAfterSeconds ?? 60) * 1000;
    this.loop = new PollLoop(async () => ((await this.runOnce()) >= this.batchSize ? 'more' : 'idle'), {
      idleMs: opts.idleMs ?? 1000,
      maxFailureDelayMs: 5000,
      lease,
      leaseRetryMs: 1000,
      onError: (err, failures) => {
        this.lastError = err instanceof Error ? err.message : String(err);
        this.logger.error({ err, failures }, 'webhook applier pass failed');
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops after the batch in flight and releases the lease. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** A delivery was stored: apply it now. */
  wake(): void {
    this.loop.wake();
  }

  /** One batch; returns how many rows it took (tests call it for determinism). */
  async runOnce(): Promise<number> {
    const rows = await this.inbox.unapplied(this.batchSize);
    if (rows.length > 0) {
      await this.apply(rows);
      this.applied += rows.length;
    }
    this.lastError = null;
    return rows.length;
  }

  async status(): Promise<ApplierStatus> {
    const q = await this.inbox.queue();
    const now = Date.now();
    if (q.oldest === null) this.head = null;
    else if (this.head?.key !== q.oldest) this.head = { key: q.oldest, since: now };
    const stuck = this.head !== null && now - this.head.since >= this.stuckAfterMs && q.oldestAgeSeconds * 1000 >= this.stuckAfterMs;
    return { backlog: q.backlog, oldestAgeSeconds: q.oldestAgeSeconds, stuck, leader: this.lease.isHeld(), lastError: this.lastError, applied: this.applied };
  }
}
