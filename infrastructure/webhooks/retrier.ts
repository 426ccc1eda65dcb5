/**
 * The background loop that retries parked and unfinished inbox events with backoff; one active
 * retrier per cluster (leader lease). What a retry does is the caller's (`retry`: the webhook
 * ingestor's processing, commands/webhooks/ingest.ts).
 */
import { Wakeable } from '../background';
import type { InboxRow, InboxStatus, WebhookInbox } from '../../domain/ports/webhookInbox';
import type { Logger } from '../../domain/ports/logger';
import type { LeaderLease } from '../../domain/ports/leaderLease';

export class InboxRetrier {
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly sleeper = new Wakeable();
  private eager = false;

  constructor(
    private readonly inbox: WebhookInbox,
    private readonly retry: (row: InboxRow) => Promise<InboxStatus>,
    private readonly lease: LeaderLease,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
    private readonly wakeFloorMs = 250,
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

  /** New facts were appended: parked events may now find their target, so retry them all now. */
  wake(eager = false): void {
    this.eager = this.eager || eager;
    this.sleeper.wake();
  }

  /** One pass over due events (tests call it for determinism). */
  async runOnce(all = false): Promise<number> {
    const due = await this.inbox.due(100, all);
    for (const row of due) {
      try {
        await this.retry(row);
      } catch (err) {
        this.logger.error({ err, eventId: row.eventId }, 'webhook retry failed');
        await this.inbox.mark(row.endpoint, row.eventId, row.status === 'parked' ? 'parked' : 'received', (err as Error).message).catch(() => undefined);
      }
    }
    return due.length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (await this.lease.tryAcquire()) {
          const eager = this.eager;
          this.eager = false;
          await this.runOnce(eager);
        }
      } catch (err) {
        this.logger.error({ err }, 'webhook retrier pass failed');
      }
      // Appends wake the retrier so parked events find their new target soon; the floor keeps a
      // busy service from rescanning the inbox once per append.
      if (this.isRunning()) await this.sleeper.sleep(this.intervalMs, this.wakeFloorMs);
    }
  }

  /** Read through a call: stop() may clear `running` while a pass awaits, which narrowing cannot see. */
  private isRunning(): boolean {
    return this.running;
  }
}
