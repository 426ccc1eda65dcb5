import { Client } from 'pg';
import type { LeaderLease } from '../../domain/ports/leaderLease';

/** The lease of the embedded database: it belongs to one process, so the lease is always held. */
export class AlwaysLeader implements LeaderLease {
  private held = false;
  constructor(readonly name: string) {}
  tryAcquire(): Promise<boolean> {
    this.held = true;
    return Promise.resolve(true);
  }
  isHeld(): boolean {
    return this.held;
  }
  release(): Promise<void> {
    this.held = false;
    return Promise.resolve();
  }
}

export class PgAdvisoryLease implements LeaderLease {
  private client: Client | null = null;
  private held = false;

  constructor(
    private readonly connectionString: string,
    readonly name: string,
  ) {}

  async tryAcquire(): Promise<boolean> {
    if (this.held && this.client) return true;
    try {
      if (!this.client) {
        const c = new Client({ connectionString: this.connectionString, application_name: `settle-lease:${this.name}` });
        c.on('error', () => this.lost(c));
        c.on('end', () => this.lost(c));
        await c.connect();
        this.client = c;
      }
      const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [`settle_lease:${this.name}`]);
      this.held = rows[0]?.ok === true;
      return this.held;
    } catch {
      const c = this.client;
      this.client = null;
      this.held = false;
      await c?.end().catch(() => undefined);
      return false;
    }
  }

  isHeld(): boolean {
    return this.held;
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.held = false;
    if (c) await c.end().catch(() => undefined); // closing the session releases the lock
  }

  private lost(c: Client): void {
    if (this.client === c) {
      this.client = null;
      this.held = false;
    }
  }
}
