/**
 * The composition root: builds every adapter, command service, projection and background loop
 * once from the configuration, owns their lifecycle, and hands each entry point the typed services
 * it needs (`httpServices()` for http/app.ts; the CLIs in main/ take what they use). Nothing
 * below main/ imports it.
 *
 * PostgreSQL when DATABASE_URL is set, otherwise embedded PGlite under DATA_DIR; Kafka when
 * KAFKA_BROKERS is set, otherwise the in-process bus fed by the same outbox; EventStoreDB for the
 * event log when EVENTSTORE_URL is set (read models, outbox and checkpoints stay in SQL).
 *
 * Two phases: `Settle.create` builds the adapters and loops (tests may replace `provider` or an
 * invoice payment gateway before the next phase, see startService's `configure`); the first call
 * of `services()` builds the command services, once, from those adapters.
 */
import path from 'node:path';
import { systemClock, type Clock } from '../domain/ports/clock';
import type { EventStore } from '../domain/ports/eventStore';
import type { MessageBus } from '../domain/ports/messageBus';
import type { BillingProvider, InvoicePaymentGateway } from '../domain/ports/billingProvider';
import type { PayPalOrderCapture } from '../domain/ports/paypalPayments';
import { BookingCommands } from '../commands/bookings';
import { InvoiceCommands } from '../commands/invoices';
import { InvoicePaymentCommands } from '../commands/invoicePayments';
import { SubscriptionCommands } from '../commands/subscriptions';
import { scheduleBulkCrmRetry } from '../commands/bulkRetry';
import { CRM_SYNC_GROUP, CrmSyncSaga } from '../commands/sagas/crmSync';
import type { Envelope } from '../commands/messages';
import { TOPICS } from '../domain/ports/messageBus';
import { providerRequestHandler } from '../commands/reactors/providerRequests';
import { waitlistHandler } from '../commands/reactors/waitlist';
import { Reconciler } from '../commands/reconciliation';
import { WebhookProcessor } from '../commands/webhooks/processor';
import { WebhookIngestor, type IngestObserver, type Translator } from '../commands/webhooks/ingest';
import { translateStripeEvent, type StripeEventEnvelope } from '../commands/webhooks/stripe';
import { translatePayPalEvent } from '../commands/webhooks/paypal';
import { PayPalReturn, payPalCaptureActions } from '../commands/webhooks/paypalCapture';
import { FINANCE_GROUP_ID, FinanceConsumer } from '../projections/finance/ledger';
import { projections as allProjections } from '../projections';
import { ProjectionRunner } from '../infrastructure/projections/runner';
import { ReadModels } from '../projections/queries';
import type { Config } from '../infrastructure/config/config';
import { ensurePrivateDir } from '../infrastructure/config/dataDir';
import { payerLinkSecret } from '../infrastructure/config/payerLinkSecret';
import { UnconfiguredBillingProvider } from '../infrastructure/providers/unconfigured';
import { StripeBillingProvider } from '../infrastructure/providers/stripe';
import { PayPalClient } from '../infrastructure/providers/paypal';
import { PayPalWebhookVerifier, payPalTrustedCertHosts } from '../infrastructure/providers/paypalWebhooks';
import { payPalOrderCapture, withPayPalRefunds } from '../infrastructure/providers/paypalAdapters';
import { payPalGateway, stripeConnectGateway } from '../infrastructure/providers/invoiceGateways';
import { StripeLedgerAdapter } from '../infrastructure/providers/stripeLedger';
import { CrmClient } from '../infrastructure/crm/crmClient';
import { Mailer } from '../infrastructure/notifications/mailer';
import { EmailNotifier } from '../infrastructure/notifications/emailNotifier';
import { SqlIdempotencyStore, SqlTenantDirectory } from '../infrastructure/sql/apiAccess';
import type { IdempotencyStore, TenantDirectory } from '../domain/ports/apiAccess';
import { SqlConsoleSessions } from '../infrastructure/sql/consoleSessions';
import { runWithContext } from '../infrastructure/observability/context';
import { EsdbEventStore } from '../infrastructure/eventstore/esdbEventStore';
import { esdbOutboxFeeder } from '../infrastructure/eventstore/esdbOutboxFeeder';
import { eventsAfter } from '../infrastructure/eventstore/eventsBehind';
import { SqlEventStore } from '../infrastructure/eventstore/sqlEventStore';
import { SharedReads } from '../infrastructure/eventstore/sharedReads';
import { CatchUpSubscription, SqlCheckpointStore, checkpointed, type CatchUpOptions, type SubscriptionSink } from '../infrastructure/eventstore/catchUp';
import { InProcessBus } from '../infrastructure/messaging/inProcessBus';
import { KafkaBus } from '../infrastructure/messaging/kafkaBus';
import { OutboxRelay } from '../infrastructure/messaging/outboxRelay';
import { ConsumerIsolation } from '../infrastructure/messaging/consumerIsolation';
import { HeldMessages } from '../infrastructure/messaging/heldMessages';
import { Metrics } from '../infrastructure/observability/metrics';
import type { Logger } from '../infrastructure/observability/logger';
import { cached } from '../infrastructure/observability/cached';
import { ReadinessProbe } from '../infrastructure/observability/readiness';
import type { SqlClient } from '../domain/ports/sql';
import { AlwaysLeader, PgAdvisoryLease } from '../infrastructure/sql/leaderLease';
import type { LeaderLease } from '../domain/ports/leaderLease';
import { migrate } from '../infrastructure/sql/migrate';
import { PgClient } from '../infrastructure/sql/pgClient';
import { PgliteClient } from '../infrastructure/sql/pgliteClient';
import { READ_MODEL_CHANNEL } from '../infrastructure/sql/readModelChanges';
import { SqlReadModelChanges } from '../infrastructure/sql/readModelChanges';
import { SqlReconciliationRuns } from '../infrastructure/sql/reconciliationRuns';
import { SqlConnectedAccounts, SqlProviderRefs, SqlWebhookInbox } from '../infrastructure/webhooks/inbox';
import { InboxRetrier } from '../infrastructure/webhooks/retrier';
import { InboxApplier } from '../infrastructure/webhooks/applier';
import { PayPalTransmissions } from '../infrastructure/webhooks/paypalTransmissions';
import type { AppServices } from '../http/app';
import { payerReturnPage } from '../http/payerLinks';

/** The command services, built once (`Settle.services()`). */
export interface CommandServices {
  readonly bookings: BookingCommands;
  readonly subscriptions: SubscriptionCommands;
  readonly invoices: InvoiceCommands;
  readonly invoicePayments: InvoicePaymentCommands;
  /** The buyer's return from PayPal; null when PayPal is not configured. */
  readonly payPalReturn: PayPalReturn | null;
}

/** How often the reactors (provider requests, waitlist) store their checkpoints; after a crash they redo at most this much, idempotently. */
const REACTOR_CHECKPOINT_EVERY_MS = 1000;

/** The consumer groups Settle runs and the topics each reads (consumer lag: metrics, console). */
const CONSUMER_GROUPS: ReadonlyArray<{ group: string; topics: readonly string[] }> = [
  { group: CRM_SYNC_GROUP, topics: [TOPICS.bookings, TOPICS.crmSyncRetry] },
  { group: FINANCE_GROUP_ID, topics: [TOPICS.payments] },
];

export class Settle {
  readonly subscriptions: CatchUpSubscription[] = [];
  readonly projections: ProjectionRunner[] = [];
  readonly inbox: SqlWebhookInbox;
  readonly providerRefs: SqlProviderRefs;
  readonly ingestor: WebhookIngestor;
  readonly inboxRetrier: InboxRetrier;
  /** Applies stored webhooks in batches (queue first: the endpoint answers once the row is stored). */
  readonly inboxApplier: InboxApplier;
  /** PayPal webhook signature verification; set when PAYPAL_WEBHOOK_ID is configured. */
  paypalVerifier: PayPalWebhookVerifier | null = null;
  /** PayPal transmission ids seen, with their bodies' hashes (a reused id with another body is refused). */
  readonly paypalTransmissions: PayPalTransmissions;
  readonly tenants: TenantDirectory;
  readonly idempotency: IdempotencyStore;
  /** Outbound provider calls (tests may replace it before `services()`). */
  provider: BillingProvider = new UnconfiguredBillingProvider();
  /** The Stripe adapter when STRIPE_SECRET_KEY is set (Connect invoice payments, reconciliation). */
  stripe: StripeBillingProvider | null = null;
  readonly connectedAccounts: SqlConnectedAccounts;
  /** Finance reporting: the ledger fed by payment messages (consumer group finance-reporting). */
  finance: FinanceConsumer | null = null;
  /** The CRM sync saga when CRM_BASE_URL is set. */
  crmSaga: CrmSyncSaga | null = null;
  /** Reconciliation with the providers (resync), and its run records. */
  readonly reconciler: Reconciler;
  readonly reconciliationRuns: SqlReconciliationRuns;
  /** Per-key failure isolation of each consumer group of this process (crm-sync, finance-reporting). */
  readonly isolations: ConsumerIsolation[] = [];
  readonly heldMessages: HeldMessages;
  readonly readinessProbe: ReadinessProbe;
  /** The PayPal client when PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are set. */
  readonly paypal: PayPalClient | null;
  private readonly paypalCapture: PayPalOrderCapture | null;
  /** Payment pages for tenants' invoices, per method, when the provider is configured (tests may replace one before `services()`). */
  readonly invoicePaymentGateways: { stripe_connect?: InvoicePaymentGateway; paypal?: InvoicePaymentGateway } = {};
  /** Key of signed payer links (PAYER_LINK_SECRET, or generated under DATA_DIR in embedded mode); null: payer links are off. */
  readonly payerLinkSecret: string | null;
  /** "A read model changed" signals (this process's runners, and NOTIFY from other instances on PostgreSQL). */
  readonly readModelChanges: SqlReadModelChanges;
  private mailer: Mailer | null = null;
  private readonly consumers: Array<{ stop(): Promise<void> }> = [];
  private built: CommandServices | null = null;
  private http: AppServices | null = null;
  private started = false;
  private pruneTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly metrics: Metrics,
    readonly db: SqlClient,
    readonly eventStore: EventStore,
    readonly bus: MessageBus,
    readonly relay: OutboxRelay,
    /** Business time for every command, processor, reactor and saga built here (see domain/ports/clock.ts). */
    readonly clock: Clock,
  ) {
    const c = config;
    this.tenants = new SqlTenantDirectory(db);
    this.idempotency = new SqlIdempotencyStore(db);
    this.inbox = new SqlWebhookInbox(db);
    this.connectedAccounts = new SqlConnectedAccounts(db);
    this.providerRefs = new SqlProviderRefs(db);
    this.paypalTransmissions = new PayPalTransmissions(db);
    this.reconciliationRuns = new SqlReconciliationRuns(db);
    this.readModelChanges = new SqlReadModelChanges(c.DATABASE_SCHEMA, logger);
    this.payerLinkSecret = payerLinkSecret(c);
    this.heldMessages = new HeldMessages(relay, () => this.isolations);
    this.readinessProbe = new ReadinessProbe({
      db,
      schema: c.DATABASE_SCHEMA,
      bus,
      relay,
      isolations: () => this.isolations,
      subscriptions: () => this.subscriptions.map((s) => s.status()),
      projections: () => (c.PROJECTIONS_ENABLED ? this.projections.map((p) => p.status()) : []),
      stallSeconds: c.PROJECTION_STALL_SECONDS,
      outboxStuckSeconds: c.OUTBOX_STUCK_SECONDS,
      outboxStuckReadiness: c.OUTBOX_STUCK_READINESS,
      webhookApplier: () => this.inboxApplier.status(),
      webhookApplierStuckSeconds: c.WEBHOOK_APPLIER_STUCK_SECONDS,
      webhookApplierStuckReadiness: c.WEBHOOK_APPLIER_STUCK_READINESS,
    });

    // Providers: Stripe (checkout, Connect invoice payments), PayPal (orders, captures, refunds)
    if (c.STRIPE_SECRET_KEY) {
      this.stripe = new StripeBillingProvider({
        now: () => clock.now(),
        secretKey: c.STRIPE_SECRET_KEY,
        apiBase: c.STRIPE_API_BASE,
        maxNetworkRetries: 2,
        connectApplicationFeePercent: c.STRIPE_APPLICATION_FEE_BPS / 100,
        publicBaseUrl: c.PUBLIC_BASE_URL,
        checkoutSessionTtlSeconds: c.CHECKOUT_SESSION_TTL_SECONDS,
        ...(c.STRIPE_API_VERSION ? { apiVersion: c.STRIPE_API_VERSION } : {}),
      });
      this.provider = this.stripe;
      this.invoicePaymentGateways.stripe_connect = stripeConnectGateway(this.stripe);
    }
    if (c.PAYPAL_WEBHOOK_ID) {
      this.paypalVerifier = new PayPalWebhookVerifier({ webhookId: c.PAYPAL_WEBHOOK_ID, trustedCertHosts: payPalTrustedCertHosts(c.PAYPAL_API_BASE), transmissionToleranceSeconds: c.PAYPAL_WEBHOOK_TOLERANCE_SECONDS });
    }
    this.paypal = c.PAYPAL_CLIENT_ID && c.PAYPAL_CLIENT_SECRET ? new PayPalClient({ apiBase: c.PAYPAL_API_BASE, clientId: c.PAYPAL_CLIENT_ID, clientSecret: c.PAYPAL_CLIENT_SECRET }) : null;
    this.paypalCapture = this.paypal ? payPalOrderCapture(this.paypal, clock) : null;
    if (this.paypal) {
      this.invoicePaymentGateways.paypal = payPalGateway(this.paypal, this.providerRefs);
      this.provider = withPayPalRefunds(this.provider, this.paypal);
    }

    // Webhooks: inbox → translator → processor; the retrier finishes parked and unfinished events
    const paypal = this.paypal;
    const translate: Translator = (endpoint, payload, refs) =>
      endpoint === 'paypal' ? translatePayPalEvent(payload as Record<string, unknown>, refs, paypal) : translateStripeEvent(payload as StripeEventEnvelope, refs);
    const actions = this.paypalCapture
      ? payPalCaptureActions(this.paypalCapture)
      : { capturePayPalOrder: () => Promise.reject(new Error('PayPal is not configured')) };
    const observer = ingestObserver(metrics, logger);
    const transmissions = this.paypalTransmissions;
    this.ingestor = new WebhookIngestor(this.inbox, new WebhookProcessor(eventStore, this.providerRefs, actions, clock), this.providerRefs, translate, {
      ...observer,
      // the row is committed: apply it now, not at the applier's next poll
      queued: () => this.inboxApplier.wake(),
      requeued: () => this.inboxRetrier.wake(),
      ignored: async (e) => {
        if (e.endpoint === 'paypal') await transmissions.forgetEvent(e.eventId).catch((err: unknown) => logger.warn({ err, eventId: e.eventId }, 'PayPal transmission could not be forgotten'));
      },
    });
    this.inboxApplier = new InboxApplier(this.inbox, (rows) => this.ingestor.applyBatch(rows), this.leaseFor('webhook-applier'), logger, { stuckAfterSeconds: c.WEBHOOK_APPLIER_STUCK_SECONDS });
    this.inboxRetrier = new InboxRetrier(this.inbox, (row) => this.ingestor.retry(row), this.leaseFor('webhook-retrier'), logger);
    this.reconciler = this.buildReconciler();
  }

  static async create(config: Config, logger: Logger, clock: Clock = systemClock): Promise<Settle> {
    const metrics = new Metrics();
    let db: SqlClient;
    if (config.DATABASE_URL) {
      db = new PgClient({ connectionString: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: config.DATABASE_POOL_SIZE });
    } else {
      const dir = ensurePrivateDir(config.dataDir);
      if (dir.tightenedFrom !== null) logger.warn({ dataDir: config.dataDir, mode: `0${dir.tightenedFrom.toString(8)}`, now: '0700' }, 'DATA_DIR was readable by other local users; narrowed to 0700');
      db = await PgliteClient.open(path.join(config.dataDir, 'pglite'), config.DATABASE_SCHEMA);
    }
    try {
      const applied = await migrate(db, config.DATABASE_SCHEMA);
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');

      if (config.KAFKA_BROKERS) {
        const { ssl, sasl } = config.kafkaSecurity;
        logger.info({ tls: ssl ? { verifyBroker: ssl.rejectUnauthorized, ca: Boolean(ssl.ca), clientCertificate: Boolean(ssl.cert) } : false, sasl: sasl ? { mechanism: sasl.mechanism, username: sasl.username } : false }, 'kafka: connection security');
        if (sasl?.mechanism === 'plain' && !ssl) logger.warn('kafka: SASL PLAIN without KAFKA_SSL sends the password in clear text; use scram-sha-256/512 or TLS');
        if (ssl && !ssl.rejectUnauthorized) logger.warn('kafka: KAFKA_SSL_REJECT_UNAUTHORIZED=false accepts any broker certificate');
      }
      let appended: () => void = () => undefined;
      const eventStore: EventStore = config.EVENTSTORE_URL
        ? new EsdbEventStore(config.EVENTSTORE_URL)
        : new SqlEventStore(db, () => appended(), {
            groupCommit: config.EVENTSTORE_GROUP_COMMIT,
            onOutboxConflict: (err) => {
              metrics.outboxConflicts.inc();
              logger.error({ err }, 'outbox: a message id already exists with other content; the append was refused');
            },
          });

      const bus: MessageBus = config.KAFKA_BROKERS
        ? new KafkaBus({ brokers: config.KAFKA_BROKERS.split(','), clientId: config.KAFKA_CLIENT_ID, topicPrefix: config.KAFKA_TOPIC_PREFIX, logger, ...config.kafkaSecurity })
        : new InProcessBus();
      const relay = new OutboxRelay(db, bus, leaseFor(config, 'outbox-relay'), {
        onError: (err) => logger.warn({ err }, 'outbox relay: publish failed, will retry'),
        onPublished: (n) => metrics.outboxPublished.inc(n),
        maxAttempts: config.MESSAGE_MAX_ATTEMPTS,
        retryBaseMs: config.MESSAGE_RETRY_BASE_MS,
        retryMaxMs: config.MESSAGE_RETRY_MAX_MS,
        stuckAfterSeconds: config.OUTBOX_STUCK_SECONDS,
        onHold: (h) => reportHold(metrics, logger, 'relay', h),
      });
      const s = new Settle(config, logger, metrics, db, eventStore, bus, relay, clock);
      // every append wakes the loops that follow the log
      appended = () => {
        relay.wake();
        s.inboxRetrier.wake();
        s.subscriptions.forEach((x) => x.wake());
        s.projections.forEach((p) => p.wakeForEvents());
      };
      await s.buildProjections();
      await s.buildConsumers();
      s.registerCollectors();
      s.addSubscription(checkpointed('provider-requests', new SqlCheckpointStore(db), providerRequestHandler(() => s.provider, logger), { storeEveryMs: REACTOR_CHECKPOINT_EVERY_MS }), { lease: s.leaseFor('provider-requests') });
      s.addSubscription(checkpointed('waitlist', new SqlCheckpointStore(db), waitlistHandler(eventStore, clock), { storeEveryMs: REACTOR_CHECKPOINT_EVERY_MS }), { lease: s.leaseFor('waitlist') });
      if (eventStore instanceof EsdbEventStore) s.addSubscription(esdbOutboxFeeder(db), { lease: s.leaseFor('eventstoredb-outbox-feeder') });
      return s;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /** The command services, built on the first call from the adapters as they are then, and reused. */
  services(): CommandServices {
    if (this.built) return this.built;
    const c = this.config;
    const invoicePayments = new InvoicePaymentCommands(this.eventStore, this.connectedAccounts, this.invoicePaymentGateways, c.PUBLIC_BASE_URL, payerReturnPageOf(c, this.payerLinkSecret));
    const capture = this.paypalCapture;
    this.built = {
      bookings: new BookingCommands(this.eventStore, this.provider),
      subscriptions: new SubscriptionCommands(this.eventStore, this.provider, { sessionTtlSeconds: c.CHECKOUT_SESSION_TTL_SECONDS, clock: this.clock }),
      invoices: new InvoiceCommands(this.eventStore, this.provider, this.connectedAccounts),
      invoicePayments,
      payPalReturn: capture ? new PayPalReturn(capture, this.providerRefs, (causationId, steps) => this.ingestor.applySteps(causationId, steps)) : null,
    };
    return this.built;
  }

  /** What the HTTP application is handed (http/app.ts); built once, after `services()`. */
  httpServices(): AppServices {
    this.http ??= this.buildHttpServices();
    return this.http;
  }

  private buildHttpServices(): AppServices {
    const commands = this.services();
    const db = this.db;
    const relay = this.relay;
    const bus = this.bus;
    return {
      config: this.config,
      logger: this.logger,
      metrics: this.metrics,
      runWithContext,
      db,
      eventStore: this.eventStore,
      readModels: new ReadModels(db, this.clock),
      clock: this.clock,
      readModelChanges: this.readModelChanges,
      tenants: this.tenants,
      idempotency: this.idempotency,
      consoleSessions: new SqlConsoleSessions(db, this.config.CONSOLE_SESSION_TTL_SECONDS),
      connectedAccounts: this.connectedAccounts,
      commands,
      bulkRetry: this.crmSaga
        ? {
            async needingAttention(tenantId) {
              const { rows } = await db.query<{ booking_id: string }>(`SELECT booking_id FROM bookings WHERE tenant_id = $1 AND needs_attention ORDER BY updated_at`, [tenantId]);
              return rows.map((r) => r.booking_id);
            },
            schedule: (tenantId, ids, correlationId, requestId) => scheduleBulkCrmRetry(relay, tenantId, ids, { correlationId, requestId, now: this.clock.now() }),
          }
        : null,
      payerLinkSecret: this.payerLinkSecret,
      paymentMethods: Object.keys(this.invoicePaymentGateways),
      projections: this.projections,
      eventsBehind: (name) => this.metrics.sources.eventsBehind?.(name) ?? Promise.resolve(0),
      heldKeys: this.heldMessages,
      outbox: relay,
      inbox: this.inbox,
      keyStages: () => this.keyStages(),
      consumerLag: bus instanceof KafkaBus ? () => bus.consumerLag(CONSUMER_GROUPS) : null,
      readiness: this.readinessProbe,
      reconciliation: {
        start: (req) => this.reconciler.start(req),
        get: (runId) => this.reconciliationRuns.get(runId),
        list: (opts) => this.reconciliationRuns.list(opts),
        tenantExists: async (tenantId) => (await this.tenants.getTenant(tenantId)) !== null,
      },
      webhooks: { config: this.config, ingestor: this.ingestor, metrics: this.metrics, paypalVerifier: this.paypalVerifier, paypalTransmissions: this.paypalTransmissions },
    };
  }

  /** A leader lease named in this schema (advisory lock on PostgreSQL; always held on the embedded database). */
  leaseFor(name: string): LeaderLease {
    return leaseFor(this.config, name);
  }

  /** One runner per read model; projections rebuilding at once (a release that changes several) read the log once between them. */
  private async buildProjections(): Promise<void> {
    const c = this.config;
    const sharedReads = new SharedReads(this.eventStore);
    for (const def of allProjections) {
      const runner = new ProjectionRunner(this.db, this.eventStore, def, this.leaseFor(`projection:${def.name}`), {
        onError: c.PROJECTION_ON_ERROR,
        logger: this.logger,
        leaseRetryMs: 1000,
        sharedReads,
        onCommitted: (name) => this.readModelChanges.emit(name),
        ...(c.DATABASE_URL ? { notify: { channel: READ_MODEL_CHANNEL, payload: `${c.DATABASE_SCHEMA}:${def.name}` } } : {}),
      });
      await runner.install();
      this.projections.push(runner);
    }
  }

  /**
   * Consumers of integration messages: the CRM sync saga (group crm-sync, when CRM_BASE_URL is
   * set; with SMTP_URL and OPS_EMAIL, stages that fail for good are mailed to operations) and
   * finance reporting (group finance-reporting).
   */
  private async buildConsumers(): Promise<void> {
    const c = this.config;
    if (c.CRM_BASE_URL) {
      if (c.SMTP_URL) this.mailer = new Mailer({ smtpUrl: c.SMTP_URL, from: c.MAIL_FROM });
      const to = (c.OPS_EMAIL ?? '').split(',').map((x) => x.trim()).filter(Boolean);
      const notifier = this.mailer && to.length > 0 ? new EmailNotifier(this.db, this.mailer, to) : null;
      const crm = new CrmClient({ baseUrl: c.CRM_BASE_URL, apiKey: c.CRM_API_KEY ?? '', timeoutMs: c.CRM_TIMEOUT_MS });
      const saga = new CrmSyncSaga(this.eventStore, crm, notifier, { maxAttempts: c.CRM_MAX_ATTEMPTS, baseDelayMs: c.CRM_RETRY_BASE_MS, maxDelayMs: c.CRM_RETRY_MAX_MS, publicBaseUrl: c.PUBLIC_BASE_URL, clock: this.clock });
      this.crmSaga = saga;
      const isolation = this.isolationFor(CRM_SYNC_GROUP);
      this.consumers.push(await this.bus.subscribe(CRM_SYNC_GROUP, [TOPICS.bookings, TOPICS.crmSyncRetry], isolation.wrap((m) => saga.handleMessage(m.value as Envelope))));
    }
    const financeIsolation = this.isolationFor(FINANCE_GROUP_ID);
    this.finance = new FinanceConsumer(this.db, this.bus, { logger: this.logger, isolate: (h) => financeIsolation.wrapBatches(h), onHandled: (outcome) => this.metrics.financeMessages.inc({ outcome }) });
    // the in-process bus has no retention: subscribe before the relay starts; Kafka keeps trying in the background
    if (this.bus.kind === 'in-process') await this.finance.start();
    else void this.finance.start();
  }

  /**
   * Reconciliation: Stripe lists (its own SDK client, no automatic retries: the reconciler honours
   * Retry-After itself) and PayPal order reads, applied through the webhook ingestor; runs are
   * recorded, logged per page and counted.
   */
  private buildReconciler(): Reconciler {
    const c = this.config;
    const runs = this.reconciliationRuns;
    const log = this.logger.child({ component: 'reconciliation' });
    const metrics = this.metrics;
    return new Reconciler({
      clock: this.clock,
      store: this.eventStore,
      refs: this.providerRefs,
      stripe: c.STRIPE_SECRET_KEY ? new StripeLedgerAdapter({ secretKey: c.STRIPE_SECRET_KEY, apiBase: c.STRIPE_API_BASE }) : null,
      paypal: this.paypal,
      paypalReader: this.paypal,
      currentAccount: (tenantId) => this.connectedAccounts.currentAccount(tenantId),
      previousAccounts: async (tenantId) => (await this.connectedAccounts.list(tenantId)).filter((a) => a.status === 'previous').map((a) => a.accountId),
      tenantIds: () => runs.tenantIds(),
      knownPayPalOrders: (tenantId) => runs.knownPayPalOrders(tenantId),
      apply: (endpoint, eventId, eventType, accountId, envelope) => this.ingestor.ingest(endpoint, eventId, eventType, accountId, envelope),
      runs,
      pageSize: c.RECONCILE_PAGE_SIZE,
      pageDelayMs: c.RECONCILE_PAGE_DELAY_MS,
      maxRetries: c.RECONCILE_MAX_RETRIES,
      maxRetryAfterMs: c.RECONCILE_MAX_RETRY_AFTER_MS,
      observer: {
        page: (p) => log.info(p, 'reconciliation page'),
        rateLimited: (p) => log.warn(p, 'reconciliation: provider asked to slow down; waiting'),
        difference: (runId, d) => {
          metrics.reconciliationDifferences.inc({ provider: d.provider, kind: d.kind, outcome: d.outcome });
          log.info({ runId, provider: d.provider, object: d.object, objectId: d.objectId, kind: d.kind, outcome: d.outcome, facts: d.facts, detail: d.detail }, 'reconciliation difference');
        },
        finished: (runId, req, status, result, error) => {
          metrics.reconciliationRuns.inc({ status, dry_run: String(req.dryRun) });
          const counts = result ? { examined: result.examined, found: result.found, repaired: result.repaired, unrepairable: result.unrepairable } : {};
          if (error) log.error({ runId, err: error, ...counts }, 'reconciliation run failed');
          else log.info({ runId, tenantId: req.tenantId, dryRun: req.dryRun, ...counts }, 'reconciliation run finished');
        },
      },
    });
  }

  /** The per-key isolation of a consumer group (its retrier runs on one instance: leader lease). */
  isolationFor(group: string): ConsumerIsolation {
    const c = this.config;
    const isolation = new ConsumerIsolation(this.db, group, this.leaseFor(`consumer-retrier:${group}`), {
      maxAttempts: c.MESSAGE_MAX_ATTEMPTS,
      retryBaseMs: c.MESSAGE_RETRY_BASE_MS,
      retryMaxMs: c.MESSAGE_RETRY_MAX_MS,
      logger: this.logger,
      onHold: (h) => reportHold(this.metrics, this.logger, `consumer:${group}`, h),
    });
    this.isolations.push(isolation);
    if (this.started) isolation.start();
    return isolation;
  }

  /** Adds a catch-up subscription whose health counts towards /readyz. */
  addSubscription(sink: SubscriptionSink, opts: CatchUpOptions = {}): CatchUpSubscription {
    const sub = new CatchUpSubscription(this.eventStore, sink, {
      onError: (err, name) => this.logger.error({ err, subscription: name }, 'subscription batch failed, retrying from the checkpoint'),
      ...opts,
    });
    this.subscriptions.push(sub);
    if (this.started) sub.start();
    return sub;
  }

  /** /readyz (see infrastructure/observability/readiness.ts). */
  readiness() {
    return this.readinessProbe.readiness();
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.relay.start();
    this.isolations.forEach((i) => i.start());
    this.subscriptions.forEach((s) => s.start());
    if (this.config.PROJECTIONS_ENABLED) this.projections.forEach((p) => p.start());
    this.inboxApplier.start();
    this.inboxRetrier.start();
    if (this.config.DATABASE_URL) void this.readModelChanges.listen(this.config.DATABASE_URL);
    // Idempotency keys live at least 24 hours; older ones are pruned hourly.
    this.pruneTimer = setInterval(() => {
      this.idempotency.prune().catch((err: unknown) => this.logger.warn({ err }, 'idempotency key pruning failed'));
      // a transmission older than the window cannot verify any more: its id need not be remembered
      this.paypalTransmissions.prune(this.config.PAYPAL_WEBHOOK_TOLERANCE_SECONDS + 86_400).catch((err: unknown) => this.logger.warn({ err }, 'PayPal transmission pruning failed'));
    }, 3600_000);
    this.pruneTimer.unref();
  }

  /** Stops background work after the batches in flight have committed their checkpoints. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.readModelChanges.close();
    await Promise.all(this.subscriptions.map((s) => s.stop()));
    await Promise.all(this.projections.map((p) => p.stop()));
    await this.inboxApplier.stop();
    await this.inboxRetrier.stop();
    await Promise.all(this.consumers.map((c) => c.stop().catch(() => undefined)));
    await this.finance?.stop().catch(() => undefined);
    await Promise.all(this.isolations.map((i) => i.stop().catch(() => undefined)));
    this.mailer?.close();
    await this.relay.stop();
    await this.bus.close();
    if (this.eventStore instanceof EsdbEventStore) await this.eventStore.close();
    await this.db.close();
  }

  private registerCollectors(): void {
    // Gauges that query the database are shared by concurrent scrapes and reused for
    // METRICS_QUERY_TTL_MS: any number of scrapers cost one query per gauge per interval.
    const ttl = this.config.METRICS_QUERY_TTL_MS;
    const outbox = cached(() => this.relay.status(), ttl);
    const inbox = cached(() => this.inbox.counts(), ttl);
    const consumerHolds = cached(() => Promise.all(this.isolations.map(async (i) => ({ stage: `consumer:${i.group}`, ...(await i.counts()) }))), ttl);
    const sources = this.metrics.sources;
    sources.heldKeys = async () => {
      const st = await outbox(null);
      return [{ stage: 'relay', held: st.heldKeys, parked: st.parkedKeys }, ...(await consumerHolds(null))];
    };
    this.keyStages = sources.heldKeys;
    sources.outboxStuck = async () => (await outbox(null)).stuck;
    sources.subscriptions = () => [...this.subscriptions.map((s) => s.status()), ...this.projections.filter((p) => p.status().leader).map((p) => p.status())];
    sources.projections = () => this.projections.map((p) => p.status());
    sources.eventsBehind = cached(async (p: string) => {
      const runner = this.projections.find((r) => r.def.name === p);
      return runner ? eventsAfter(this.db, await runner.position()) : 0;
    }, ttl);
    sources.outbox = () => outbox(null);
    sources.inbox = () => inbox(null);
    const applier = cached(() => this.inboxApplier.status(), ttl);
    sources.webhookApplier = () => applier(null);
    sources.databaseUp = () => this.readinessProbe.databaseUp();
    const models = new ReadModels(this.db, this.clock);
    const crmFailed = cached(() => models.crmStagesFailed(), ttl);
    const attempts = cached(() => models.paymentAttemptsByStatus(), ttl);
    sources.crmStagesFailed = () => crmFailed(null);
    sources.paymentAttempts = () => attempts(null);
    if (this.bus instanceof KafkaBus) {
      const bus = this.bus;
      const lag = cached(() => bus.consumerLag(CONSUMER_GROUPS), ttl);
      sources.consumerLag = () => lag(null);
    }
  }

  /** Held and parked keys per stage (the relay and each consumer group), reused like the gauges. */
  private keyStages: () => Promise<ReadonlyArray<{ stage: string; held: number; parked: number }>> = () => Promise.resolve([]);
}

function leaseFor(config: Config, name: string): LeaderLease {
  return config.DATABASE_URL ? new PgAdvisoryLease(config.DATABASE_URL, `${config.DATABASE_SCHEMA}:${name}`) : new AlwaysLeader(name);
}

/** Where Stripe Checkout sends a payer back: a fresh signed link to the payer page (http/payerLinks.ts), or the plain thank-you page without a key. */
function payerReturnPageOf(c: Config, secret: string | null) {
  return payerReturnPage(c.PUBLIC_BASE_URL, () => secret, c.PAYER_LINK_TTL_SECONDS);
}

/** Webhook ingestion counted and logged. */
function ingestObserver(metrics: Metrics, logger: Logger): IngestObserver {
  return {
    received: (e) => metrics.webhooksReceived.inc({ endpoint: e.endpoint, type: e.eventType, duplicate: String(e.duplicate) }),
    deferred: (e) => logger.error({ err: e.err, endpoint: e.endpoint, eventId: e.eventId, eventType: e.eventType }, 'webhook stored but not processed yet; it will be retried'),
    refused: (e) => {
      metrics.webhooksRefused.inc({ endpoint: e.endpoint, type: e.eventType, reason: e.code });
      logger.warn({ endpoint: e.endpoint, eventId: e.eventId, eventType: e.eventType, refused: e.code, reason: e.reason }, "webhook refused: the provider's API contradicts it; nothing recorded");
    },
    unhandled: (e) => metrics.webhooksUnhandled.inc({ endpoint: e.endpoint, type: e.eventType }),
    flagged: (e) => metrics.connectAccountFlagged.inc({ reason: e.flag, type: e.eventType }),
    noted: (e) => logger.warn({ endpoint: e.endpoint, eventId: e.eventId, eventType: e.eventType, note: e.note }, 'webhook processed; some of its steps were refused by the domain'),
    parked: (e) => logger.warn({ endpoint: e.endpoint, eventId: e.eventId, eventType: e.eventType, reason: e.reason }, 'webhook parked until its target exists'),
  };
}

function reportHold(metrics: Metrics, logger: Logger, stage: string, h: { key: string; messageId: string; topic: string; attempts: number; error: string | null; parked: boolean }): void {
  if (h.parked) {
    metrics.outboxParked.inc({ stage });
    logger.error({ stage, key: h.key, messageId: h.messageId, topic: h.topic, attempts: h.attempts, error: h.error }, 'messaging: key parked after its attempts; release or skip it (GET /v1/admin/outbox/parked)');
  } else if (h.attempts === 1) {
    metrics.outboxHeld.inc({ stage });
    logger.warn({ stage, key: h.key, messageId: h.messageId, topic: h.topic, error: h.error }, 'messaging: message failed; its key is held and retried, other keys go on');
  }
}
