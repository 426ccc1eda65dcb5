import { Client } from 'pg';
import type { Logger } from '../../domain/ports/logger';
import type { ReadModelChanges } from '../../domain/ports/readModelChanges';

/**
 * "A read model changed": the signal behind live status pages. The projection runner of this
 * process reports committed batches directly (`emit`); with PostgreSQL it also NOTIFYs
 * `CHANNEL` inside the batch transaction (payload `<schema>:<projection>`), and every instance
 * LISTENs on a dedicated connection, so a page open on an instance that does not run the
 * projection still learns of the change at commit. Listeners get the projection name; they
 * re-read what they show (a signal may repeat, never carries data).
 */
export const READ_MODEL_CHANNEL = 'settle_read_models';

export class SqlReadModelChanges implements ReadModelChanges {
  private readonly listeners = new Set<(projection: string) => void>();
  private client: Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly schema: string,
    private readonly logger?: Logger,
  ) {}

  subscribe(fn: (projection: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(projection: string): void {
    for (const fn of this.listeners) {
      try {
        fn(projection);
      } catch (err) {
        this.logger?.warn({ err }, 'read model change listener failed');
      }
    }
  }

  /** LISTENs on PostgreSQL; reconnects with a delay when the connection drops. */
  async listen(connectionString: string): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString, application_name: 'settle-read-model-changes' });
    client.on('error', () => undefined);
    client.on('notification', (n) => {
      const [schema, projection] = (n.payload ?? '').split(':');
      if (schema === this.schema && projection) this.emit(projection);
    });
    client.on('end', () => {
      if (this.client === client) this.client = null;
      if (this.stopped) return;
      this.logger?.warn('read model change listener disconnected; reconnecting');
      this.retryTimer = setTimeout(() => void this.listen(connectionString).catch(() => undefined), 1000);
      this.retryTimer.unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${READ_MODEL_CHANNEL}`);
      if (this.hasStopped()) {
        // closed while connecting
        client.removeAllListeners('end');
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
    } catch (err) {
      this.logger?.warn({ err }, 'read model change listener could not connect; retrying');
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      if (this.hasStopped()) return;
      this.retryTimer = setTimeout(() => void this.listen(connectionString).catch(() => undefined), 1000);
      this.retryTimer.unref();
    }
  }

  /** Read through a call: close() may set `stopped` while listen() awaits, which narrowing cannot see. */
  private hasStopped(): boolean {
    return this.stopped;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.listeners.clear();
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}
