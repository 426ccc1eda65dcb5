import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics, one registry per service instance (tests build several in one process).
 * Gauges that describe background work (projection lag, outbox backlog) are filled by collect
 * callbacks registered by the runtime, so a scrape always sees current values.
 */
export interface MetricSources {
  subscriptions?: () => ReadonlyArray<{ name: string; lagSeconds: number; position: { prepare: bigint } | null }>;
  outbox?: () => Promise<{ backlog: number; oldestAgeSeconds: number } | null>;
  projections?: () => ReadonlyArray<{ name: string; applied: number; deadLetters: number; halted: string | null; generation: number; leader: boolean }>;
  inbox?: () => Promise<Record<string, number>>;
  /** The webhook applier's queue (stored rows never tried) and whether it is stuck. */
  webhookApplier?: () => Promise<{ backlog: number; oldestAgeSeconds: number; stuck: boolean } | null>;
  /** Events in the log after a projection's checkpoint (capped). */
  eventsBehind?: (projection: string) => Promise<number>;
  /** Keys held per stage (`relay`, `consumer:<group>`): retrying, and parked for an operator. */
  heldKeys?: () => Promise<ReadonlyArray<{ stage: string; held: number; parked: number }>>;
  /** 1 while the outbox relay is stuck. */
  outboxStuck?: () => Promise<boolean>;
  /** Whether the database answers (the readiness probe, reused briefly). */
  databaseUp?: () => Promise<boolean>;
  /** Kafka consumer lag per group and topic (absent on the in-process bus, which has none). */
  consumerLag?: () => Promise<ReadonlyArray<{ group: string; topic: string; lag: number }>>;
  /** Bookings (every tenant) whose CRM stage failed for good, per stage. */
  crmStagesFailed?: () => Promise<Record<string, number>>;
  /** Payment attempts (every tenant) by status, from the payment read model. */
  paymentAttempts?: () => Promise<Record<string, number>>;
}

export class Metrics {
  /** Filled by the runtime once the background parts exist. */
  readonly sources: MetricSources = {};
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly eventsAppended: Counter<'outcome'>;
  readonly subscriptionLag: Gauge<'subscription'>;
  readonly subscriptionPosition: Gauge<'subscription'>;
  readonly outboxBacklog: Gauge;
  readonly outboxOldestAge: Gauge;
  readonly outboxPublished: Counter;
  /** Finance consumer messages by outcome (applied, duplicate, ignored, rejected). */
  readonly financeMessages: Counter<'outcome'>;
  readonly webhooksReceived: Counter<'endpoint' | 'type' | 'duplicate'>;
  readonly webhooksUnhandled: Counter<'endpoint' | 'type'>;
  readonly webhooksRejected: Counter<'endpoint' | 'reason'>;
  readonly webhooksRefused: Counter<'endpoint' | 'type' | 'reason'>;
  /** Connect events from an account that is not a tenant's current one (recorded, not applied). */
  readonly connectAccountFlagged: Counter<'reason' | 'type'>;
  /** Reconciliation runs by status and mode, and the differences they found. */
  readonly reconciliationRuns: Counter<'status' | 'dry_run'>;
  readonly reconciliationDifferences: Counter<'provider' | 'kind' | 'outcome'>;
  readonly webhookInbox: Gauge<'status'>;
  readonly webhookApplierBacklog: Gauge;
  readonly webhookApplierOldestAge: Gauge;
  readonly webhookApplierStuck: Gauge;
  readonly projectionApplied: Gauge<'projection'>;
  readonly projectionDeadLetters: Gauge<'projection'>;
  readonly projectionHalted: Gauge<'projection'>;
  readonly projectionEventsBehind: Gauge<'projection'>;
  /** Open live status streams (server-sent events) by what they watch. */
  readonly liveStreams: Gauge<'kind'>;
  /** Console sign-ins by outcome. */
  readonly consoleSignIns: Counter<'outcome'>;
  /** Keys parked (attempts spent) per stage; and held (retrying or parked). */
  readonly outboxParkedKeys: Gauge<'stage'>;
  readonly outboxHeldKeys: Gauge<'stage'>;
  /** Keys parked, and keys held on a first failure, over time. */
  readonly outboxParked: Counter<'stage'>;
  readonly outboxHeld: Counter<'stage'>;
  /** Appends refused because an outbox message id existed with other content. */
  readonly outboxConflicts: Counter;
  readonly outboxStuck: Gauge;
  /** 1 while the database answers, 0 while it does not. */
  readonly databaseUp: Gauge;
  /** Kafka consumer lag (messages not yet handled) per group and topic. */
  readonly consumerLag: Gauge<'group' | 'topic'>;
  /** Bookings waiting for an operator after a CRM stage failed, per stage. */
  readonly crmStagesFailed: Gauge<'stage'>;
  /** Payment attempts by status (delta() over a window: attempts that ended that way). */
  readonly paymentAttempts: Gauge<'status'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'settle_' });
    this.httpRequests = new Counter({
      name: 'settle_http_requests_total',
      help: 'HTTP requests by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'settle_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.eventsAppended = new Counter({
      name: 'settle_events_appended_total',
      help: 'Append calls by outcome (appended, duplicate, conflict)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.subscriptionLag = new Gauge({
      name: 'settle_projection_lag_seconds',
      help: 'Age of the oldest event a subscription (projection, relay) has not handled yet',
      labelNames: ['subscription'],
      registers: [this.registry],
      collect: () => {
        for (const sub of this.sources.subscriptions?.() ?? []) this.subscriptionLag.set({ subscription: sub.name }, sub.lagSeconds);
      },
    });
    this.subscriptionPosition = new Gauge({
      name: 'settle_projection_position',
      help: 'Global sequence number (prepare position) of the last event a subscription handled',
      labelNames: ['subscription'],
      registers: [this.registry],
      collect: () => {
        for (const sub of this.sources.subscriptions?.() ?? []) {
          if (sub.position) this.subscriptionPosition.set({ subscription: sub.name }, Number(sub.position.prepare));
        }
      },
    });
    this.outboxBacklog = new Gauge({
      name: 'settle_outbox_backlog',
      help: 'Unpublished outbox messages',
      registers: [this.registry],
      collect: async () => {
        const st = await this.sources.outbox?.().catch(() => null);
        if (st) {
          this.outboxBacklog.set(st.backlog);
          this.outboxOldestAge.set(st.oldestAgeSeconds);
        }
      },
    });
    this.outboxOldestAge = new Gauge({
      name: 'settle_outbox_oldest_age_seconds',
      help: 'Age of the oldest unpublished outbox message',
      registers: [this.registry],
    });
    this.projectionApplied = new Gauge({
      name: 'settle_projection_events_applied',
      help: 'Events applied by a projection in this process (rate() gives the apply rate)',
      labelNames: ['projection'],
      registers: [this.registry],
      collect: () => {
        for (const p of this.sources.projections?.() ?? []) this.projectionApplied.set({ projection: p.name }, p.applied);
      },
    });
    this.projectionDeadLetters = new Gauge({
      name: 'settle_projection_dead_letters',
      help: 'Events a projection could not apply (dead-lettered) in its active generation',
      labelNames: ['projection'],
      registers: [this.registry],
      collect: () => {
        for (const p of this.sources.projections?.() ?? []) this.projectionDeadLetters.set({ projection: p.name }, p.deadLetters);
      },
    });
    this.projectionHalted = new Gauge({
      name: 'settle_projection_halted',
      help: '1 when a projection is halted on an event it cannot apply',
      labelNames: ['projection'],
      registers: [this.registry],
      collect: () => {
        for (const p of this.sources.projections?.() ?? []) this.projectionHalted.set({ projection: p.name }, p.halted ? 1 : 0);
      },
    });
    this.liveStreams = new Gauge({ name: 'settle_live_streams', help: 'Open live status streams (server-sent events)', labelNames: ['kind'], registers: [this.registry] });
    this.outboxParkedKeys = new Gauge({
      name: 'settle_outbox_parked_keys',
      help: 'Message keys parked after their attempts (relay or a consumer group): an operator releases or skips them',
      labelNames: ['stage'],
      registers: [this.registry],
      collect: async () => {
        const rows = await this.sources.heldKeys?.().catch(() => null);
        for (const r of rows ?? []) {
          this.outboxParkedKeys.set({ stage: r.stage }, r.parked);
          this.outboxHeldKeys.set({ stage: r.stage }, r.held);
        }
      },
    });
    this.outboxHeldKeys = new Gauge({ name: 'settle_outbox_held_keys', help: 'Message keys held (retrying or parked); their later messages wait behind them', labelNames: ['stage'], registers: [this.registry] });
    this.outboxParked = new Counter({ name: 'settle_outbox_parked_total', help: 'Keys parked after their attempts, by stage', labelNames: ['stage'], registers: [this.registry] });
    this.outboxHeld = new Counter({ name: 'settle_outbox_held_total', help: 'Keys held on a first failure, by stage', labelNames: ['stage'], registers: [this.registry] });
    this.outboxConflicts = new Counter({ name: 'settle_outbox_conflicts_total', help: 'Appends refused: an outbox message id existed with other content', registers: [this.registry] });
    this.outboxStuck = new Gauge({
      name: 'settle_outbox_stuck',
      help: '1 while the oldest due outbox message has not moved for OUTBOX_STUCK_SECONDS',
      registers: [this.registry],
      collect: async () => {
        const stuck = await this.sources.outboxStuck?.().catch(() => null);
        if (stuck !== null && stuck !== undefined) this.outboxStuck.set(stuck ? 1 : 0);
      },
    });
    this.databaseUp = new Gauge({
      name: 'settle_database_up',
      help: '1 while the database answers the readiness probe, 0 while it does not',
      registers: [this.registry],
      collect: async () => {
        const up = await this.sources.databaseUp?.().catch(() => false);
        if (up !== undefined) this.databaseUp.set(up ? 1 : 0);
      },
    });
    this.consumerLag = new Gauge({
      name: 'settle_consumer_lag_messages',
      help: 'Kafka consumer lag: messages of a topic not yet handled by a consumer group (end offset - committed offset)',
      labelNames: ['group', 'topic'],
      registers: [this.registry],
      collect: async () => {
        const rows = await this.sources.consumerLag?.().catch(() => null);
        for (const r of rows ?? []) this.consumerLag.set({ group: r.group, topic: r.topic }, r.lag);
      },
    });
    this.crmStagesFailed = new Gauge({
      name: 'settle_crm_stages_failed',
      help: 'Bookings whose CRM stage failed after its attempts and wait for an operator retry, per stage',
      labelNames: ['stage'],
      registers: [this.registry],
      collect: async () => {
        const c = await this.sources.crmStagesFailed?.().catch(() => null);
        if (!c) return;
        this.crmStagesFailed.reset();
        for (const [stage, n] of Object.entries(c)) this.crmStagesFailed.set({ stage }, n);
      },
    });
    this.paymentAttempts = new Gauge({
      name: 'settle_payment_attempts',
      help: 'Payment attempts in the payment read model by status (delta() over a window: how many ended that way)',
      labelNames: ['status'],
      registers: [this.registry],
      collect: async () => {
        const c = await this.sources.paymentAttempts?.().catch(() => null);
        if (c) for (const [status, n] of Object.entries(c)) this.paymentAttempts.set({ status }, n);
      },
    });
    this.consoleSignIns = new Counter({ name: 'settle_console_sign_ins_total', help: 'Admin console sign-ins by outcome', labelNames: ['outcome'], registers: [this.registry] });
    this.projectionEventsBehind = new Gauge({
      name: 'settle_projection_events_behind',
      help: 'Events in the log after the projection checkpoint',
      labelNames: ['projection'],
      registers: [this.registry],
      collect: async () => {
        for (const p of this.sources.projections?.() ?? []) {
          const n = await this.sources.eventsBehind?.(p.name).catch(() => null);
          if (n !== null && n !== undefined) this.projectionEventsBehind.set({ projection: p.name }, n);
        }
      },
    });
    this.webhooksReceived = new Counter({
      name: 'settle_webhooks_received_total',
      help: 'Verified provider events received, by endpoint, type and whether it was a redelivery',
      labelNames: ['endpoint', 'type', 'duplicate'],
      registers: [this.registry],
    });
    this.webhooksUnhandled = new Counter({
      name: 'settle_webhooks_unhandled_total',
      help: 'Verified provider events of types Settle does not act on (acknowledged)',
      labelNames: ['endpoint', 'type'],
      registers: [this.registry],
    });
    this.webhooksRejected = new Counter({
      name: 'settle_webhooks_rejected_total',
      help: 'Webhook requests refused before storage (bad signature, too large, wrong mode...)',
      labelNames: ['endpoint', 'reason'],
      registers: [this.registry],
    });
    this.webhooksRefused = new Counter({
      name: 'settle_webhooks_refused_total',
      help: "Verified, stored provider events not acted on because the provider's API contradicts them (not_found, mismatch, status): no money recorded",
      labelNames: ['endpoint', 'type', 'reason'],
      registers: [this.registry],
    });
    this.webhookInbox = new Gauge({
      name: 'settle_webhook_inbox',
      help: 'Webhook inbox rows by status (parked = waiting for their target)',
      labelNames: ['status'],
      registers: [this.registry],
      collect: async () => {
        const c = await this.sources.inbox?.().catch(() => null);
        if (c) for (const [status, n] of Object.entries(c)) this.webhookInbox.set({ status }, n);
      },
    });
    // each gauge reads the one (single-flight, reused) source itself: a scrape collects gauges side by side
    const applier = async (set: (st: { backlog: number; oldestAgeSeconds: number; stuck: boolean }) => void) => {
      const st = await this.sources.webhookApplier?.().catch(() => null);
      if (st) set(st);
    };
    this.webhookApplierBacklog = new Gauge({
      name: 'settle_webhook_applier_backlog',
      help: 'Stored webhooks the applier has not tried yet (acknowledged with 200, not applied)',
      registers: [this.registry],
      collect: () => applier((st) => this.webhookApplierBacklog.set(st.backlog)),
    });
    this.webhookApplierOldestAge = new Gauge({
      name: 'settle_webhook_applier_oldest_age_seconds',
      help: 'Age of the oldest stored webhook the applier has not tried yet',
      registers: [this.registry],
      collect: () => applier((st) => this.webhookApplierOldestAge.set(st.oldestAgeSeconds)),
    });
    this.webhookApplierStuck = new Gauge({
      name: 'settle_webhook_applier_stuck',
      help: '1 while the oldest unapplied webhook has not moved for WEBHOOK_APPLIER_STUCK_SECONDS',
      registers: [this.registry],
      collect: () => applier((st) => this.webhookApplierStuck.set(st.stuck ? 1 : 0)),
    });
    this.outboxPublished = new Counter({ name: 'settle_outbox_published_total', help: 'Messages relayed to the bus', registers: [this.registry] });
    this.financeMessages = new Counter({ name: 'settle_finance_messages_total', help: 'Payment messages handled by the finance consumer, by outcome (rejected ones are in finance_rejected)', labelNames: ['outcome'], registers: [this.registry] });
    this.connectAccountFlagged = new Counter({
      name: 'settle_connect_account_flagged_total',
      help: "Connect events from an account that is not a tenant's current one (never linked, or replaced): recorded and flagged, not applied",
      labelNames: ['reason', 'type'],
      registers: [this.registry],
    });
    this.reconciliationRuns = new Counter({ name: 'settle_reconciliation_runs_total', help: 'Reconciliation runs finished, by status and dry run', labelNames: ['status', 'dry_run'], registers: [this.registry] });
    this.reconciliationDifferences = new Counter({
      name: 'settle_reconciliation_differences_total',
      help: 'Differences reconciliation found between the providers and Settle, by provider, kind (missing, unattributable, conflict, foreign_tenant) and outcome',
      labelNames: ['provider', 'kind', 'outcome'],
      registers: [this.registry],
    });
  }
}
