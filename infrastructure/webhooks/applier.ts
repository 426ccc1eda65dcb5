/**
 * The webhook applier: the loop that applies stored inbox rows (status received) in batches, one
 * active per cluster (leader lease). Woken by every stored delivery; while rows keep coming it
 * takes them batch after batch without sleeping. What applying does is the caller's (`apply`:
 * the ingestor's `applyBatch`, commands/webhooks/ingest.ts). A crash between the 2xx and the
 * apply loses nothing: the rows stay received and the next leader takes them.
 */
import { Wakeable } from '../background';
import type { InboxRow, WebhookInbox } from '../../domain/ports/webhookInbox';
import type { Logger } from '../observability/logger';
import type { LeaderLease } from '../sql/leaderLease';

export class InboxApplier {
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly sleeper = new Wakeable();

  constructor(
    private readonly inbox: WebhookInbox,
    private readonly apply: (rows: readonly InboxRow[]) => Promise<unknown>,
    private readonly lease: LeaderLease,
    private readonly logger: Logger,
    private readonly batchSize = 256,
    private readonly intervalMs = 1000,
    private readonly wakeFloorMs = 2,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.sleeper.interrupt();
    await this.loop;
    await this.lease.release();
  }

  /** A delivery was stored. */
  wake(): void {
    this.sleeper.wake();
  }

  /** One batch; returns how many rows it took (tests call it for determinism). */
  async runOnce(): Promise<number> {
    const rows = await this.inbox.unapplied(this.batchSize);
    if (rows.length > 0) await this.apply(rows);
    return rows.length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let took = 0;
      try {
        if (await this.lease.tryAcquire()) took = await this.runOnce();
      } catch (err) {
        this.logger.error({ err }, 'webhook applier pass failed');
      }
      // a full batch: more are waiting, go on at once
      if (this.running && took < this.batchSize) await this.sleeper.sleep(this.intervalMs, this.wakeFloorMs);
    }
  }
}
