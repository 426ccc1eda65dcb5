/**
 * What /readyz answers: database reachable and migrated, no stalled subscription or halted
 * projection, the bus (degraded only), the outbox (parked keys, a stuck relay), the webhook applier
 * (stuck). The database and
 * bus probes are shared by concurrent callers and reused for READINESS_PROBE_TTL_MS.
 */
import type { MessageBus } from '../../domain/ports/messageBus';
import type { SubscriptionStatus } from '../eventstore/catchUp';
import type { ConsumerIsolation } from '../messaging/consumerIsolation';
import type { OutboxRelay } from '../messaging/outboxRelay';
import type { SqlClient } from '../../domain/ports/sql';
import { appliedVersion, latestMigration } from '../sql/migrate';
import { cached } from './cached';

/** How long a readiness probe (database, bus) is reused: /readyz stays current within a second. */
export const READINESS_PROBE_TTL_MS = 1000;

export interface Check {
  ok: boolean;
  degraded?: boolean;
  detail?: string;
}

export interface Readiness {
  status: 'ready' | 'degraded' | 'unavailable';
  checks: Record<string, Check>;
}

/** A projection runner's status as readiness reads it. */
export interface ProjectionHealth extends SubscriptionStatus {
  readonly halted: string | null;
  readonly deadLetters: number;
}

export interface ReadinessDeps {
  readonly db: SqlClient;
  readonly schema: string;
  readonly bus: MessageBus;
  readonly relay: OutboxRelay;
  readonly isolations: () => readonly ConsumerIsolation[];
  /** Catch-up subscriptions other than the projections. */
  readonly subscriptions: () => readonly SubscriptionStatus[];
  /** The projection runners ([] when PROJECTIONS_ENABLED is off: they do not count). */
  readonly projections: () => readonly ProjectionHealth[];
  readonly stallSeconds: number;
  readonly outboxStuckSeconds: number;
  readonly outboxStuckReadiness: 'degraded' | 'unavailable';
  /** The webhook applier's queue (infrastructure/webhooks/applier.ts). */
  readonly webhookApplier: () => Promise<{ backlog: number; oldestAgeSeconds: number; stuck: boolean; lastError: string | null }>;
  readonly webhookApplierStuckSeconds: number;
  readonly webhookApplierStuckReadiness: 'degraded' | 'unavailable';
}

export class ReadinessProbe {
  constructor(private readonly deps: ReadinessDeps) {}

  private readonly databaseProbe = cached(async (): Promise<{ database: Check; migrations: Check }> => {
    try {
      const v = await withTimeout(appliedVersion(this.deps.db, this.deps.schema), 3000);
      return { database: { ok: true }, migrations: v === latestMigration ? { ok: true, detail: `at version ${v}` } : { ok: false, detail: `at version ${v}, expected ${latestMigration}` } };
    } catch (err) {
      return { database: { ok: false, detail: (err as Error).message }, migrations: { ok: false, detail: 'database unreachable' } };
    }
  }, READINESS_PROBE_TTL_MS);

  private readonly busProbe = cached(async (): Promise<boolean> => withTimeout(this.deps.bus.healthy(), 3000).catch(() => false), READINESS_PROBE_TTL_MS);

  /** The database check alone (reused like the readiness probe): the `settle_database_up` gauge. */
  async databaseUp(): Promise<boolean> {
    return (await this.databaseProbe(null)).database.ok;
  }

  async readiness(): Promise<Readiness> {
    const checks: Record<string, Check> = {};
    // the database and bus probes are shared by concurrent callers and reused briefly (READINESS_PROBE_TTL_MS)
    const [db, busOk] = await Promise.all([this.databaseProbe(null), this.busProbe(null)]);
    checks.database = db.database;
    checks.migrations = db.migrations;
    const stallMs = this.deps.stallSeconds * 1000;
    const projections = this.deps.projections();
    const stalled = [...this.deps.subscriptions(), ...projections]
      .filter((s) => !s.running || (!s.caughtUp && Date.now() - s.lastProgressAt.getTime() > stallMs) || (s.lastError !== null && Date.now() - s.lastProgressAt.getTime() > stallMs))
      .map((s) => `${s.name}${s.lastError ? ` (${s.lastError})` : ''}`);
    const halted = projections.filter((p) => p.halted).map((p) => `${p.name} halted on ${p.halted}`);
    const problems = [...halted, ...stalled.filter((n) => !halted.some((h) => h.startsWith(n.split(' ', 1).join(''))))];
    const deadLetters = projections.reduce((n, p) => n + p.deadLetters, 0);
    checks.projections =
      problems.length === 0
        ? { ok: true, ...(deadLetters > 0 ? { detail: `${deadLetters} dead-lettered event(s) skipped (see projection_dead_letters)` } : {}) }
        : { ok: false, detail: `stalled: ${problems.join(', ')}` };
    // The bus being down degrades the service (the outbox grows) but does not make it unready:
    // webhooks and commands are still accepted and stored.
    const bus = this.deps.bus;
    checks.messaging = busOk ? { ok: true, detail: bus.kind } : { ok: false, degraded: true, detail: `${bus.kind} unreachable; outbox is buffering` };
    checks.outbox = await this.outboxCheck().catch((err: unknown) => ({ ok: false, degraded: true, detail: `outbox state unknown: ${(err as Error).message}` }));
    checks.webhooks = await this.webhooksCheck().catch((err: unknown) => ({ ok: false, degraded: true, detail: `webhook applier state unknown: ${(err as Error).message}` }));
    const ready = Object.values(checks).every((c) => c.ok || c.degraded);
    const degraded = Object.values(checks).some((c) => !c.ok && c.degraded);
    return { status: !ready ? 'unavailable' : degraded ? 'degraded' : 'ready', checks };
  }

  /**
   * Parked keys degrade the service (200: this instance serves requests normally; one key's
   * messages wait for an operator). A stuck relay (the oldest due message has not moved for
   * OUTBOX_STUCK_SECONDS) is `degraded` too by default, or `unavailable` (503) with
   * OUTBOX_STUCK_READINESS=unavailable; see ARCHITECTURE.md (Messaging) for why.
   */
  private async webhooksCheck(): Promise<Check> {
    return webhooksDetail(await withTimeout(this.deps.webhookApplier(), 3000), this.deps.webhookApplierStuckSeconds, this.deps.webhookApplierStuckReadiness);
  }

  private async outboxCheck(): Promise<Check> {
    const st = await withTimeout(this.deps.relay.status(), 3000);
    const groups = await withTimeout(Promise.all(this.deps.isolations().map(async (i) => ({ group: i.group, ...(await i.counts()) }))), 3000);
    const problems: string[] = [];
    if (st.parkedKeys > 0) problems.push(`relay: ${st.parkedKeys} key(s) parked`);
    for (const g of groups) if (g.parked > 0) problems.push(`consumer ${g.group}: ${g.parked} key(s) parked`);
    const parked = problems.length > 0;
    if (st.stuck) problems.push(`relay stuck: the oldest due message is ${Math.round(st.oldestAgeSeconds)} s old and has not moved for ${this.deps.outboxStuckSeconds} s${st.lastError ? ` (${st.lastError})` : ''}`);
    if (problems.length === 0) return { ok: true, detail: `backlog ${st.backlog}` };
    const detail = `${problems.join('; ')}${parked ? ' (GET /v1/admin/outbox/parked)' : ''}`;
    if (st.stuck && this.deps.outboxStuckReadiness === 'unavailable') return { ok: false, detail };
    return { ok: false, degraded: true, detail };
  }
}

/**
 * Acknowledged webhooks wait in the inbox until the applier applies them. A stuck applier (the
 * oldest unapplied row has not moved for WEBHOOK_APPLIER_STUCK_SECONDS) is `degraded` by default,
 * as a stuck relay is: every instance shares the one queue, and refusing traffic on all of them
 * would turn delayed webhooks into refused ones; `unavailable` (503) with
 * WEBHOOK_APPLIER_STUCK_READINESS=unavailable.
 */
function webhooksDetail(st: { backlog: number; oldestAgeSeconds: number; stuck: boolean; lastError: string | null }, stuckSeconds: number, mode: 'degraded' | 'unavailable') {
  if (!st.stuck) return { ok: true, detail: `backlog ${st.backlog}` };
  const detail = `applier stuck: ${st.backlog} stored webhook(s) not applied, the oldest ${Math.round(st.oldestAgeSeconds)} s old and unmoved for ${stuckSeconds} s${st.lastError ? ` (${st.lastError})` : ''}`;
  return mode === 'unavailable' ? { ok: false, detail } : { ok: false, degraded: true, detail };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
