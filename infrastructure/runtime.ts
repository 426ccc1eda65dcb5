import { randomBytes } from 'node:crypto';
import { createPrivateFile, ensurePrivateDir, readPrivateFile } from './config/dataDir';
import path from 'node:path';
import type { EventStore } from '../domain/ports/eventStore';
import type { MessageBus } from '../domain/ports/messageBus';
import { ProviderError, type BillingProvider } from '../domain/ports/billingProvider';
import { UnconfiguredBillingProvider } from './providers/unconfigured';
import { StripeBillingProvider } from './providers/stripe';
import { PayPalClient, type CaptureResult } from './providers/paypal';
import { PayPalWebhookVerifier, payPalTrustedCertHosts } from './providers/paypalWebhooks';
import { captureSteps, customIdMatches, parseCustomId } from '../commands/webhooks/paypal';
import { CRM_SYNC_GROUP, CrmSyncSaga } from '../commands/sagas/crmSync';
import { TOPICS, type Envelope } from '../commands/messages';
import { CrmClient } from './crm/crmClient';
import { FINANCE_GROUP_ID, FinanceConsumer } from '../projections/finance/ledger';
import { Mailer } from './notifications/mailer';
import { EmailNotifier } from './notifications/emailNotifier';
import { IdempotencyStore, TenantDirectory } from './sql/apiAccess';
import type { Config } from './config/config';
import { EsdbEventStore, outboxOf } from './eventstore/esdbEventStore';
import { SqlCheckpointStore } from './eventstore/subscription';
import { SqlEventStore } from './eventstore/sqlEventStore';
import { SharedReads } from './eventstore/sharedReads';
import { CatchUpSubscription, type CatchUpOptions, type SubscriptionSink } from './eventstore/subscription';
import { InProcessBus } from './messaging/inProcessBus';
import { KafkaBus } from './messaging/kafkaBus';
import { OutboxRelay, type OutboxHold } from './messaging/outboxRelay';
import { ConsumerIsolation, type ConsumerHold } from './messaging/consumerIsolation';
import { Metrics } from './observability/metrics';
import type { Logger } from './observability/logger';
import type { SqlClient } from './sql/client';
import { AlwaysLeader, PgAdvisoryLease, type LeaderLease } from './sql/leaderLease';
import { appliedVersion, latestMigration, migrate } from './sql/migrate';
import { cached } from './observability/cached';

import { PgClient } from './sql/pgClient';
import { PgliteClient } from './sql/pgliteClient';
import { projections as allProjections } from '../projections';
import { ProjectionRunner } from '../projections/runtime';
import { WebhookProcessor, type WebhookActions } from '../commands/webhooks/processor';
import { translateStripeEvent, type StripeEventEnvelope } from '../commands/webhooks/stripe';
import { translatePayPalEvent } from '../commands/webhooks/paypal';
import { SqlConnectedAccounts, SqlProviderRefs, WebhookInbox } from './webhooks/inbox';
import { PayPalTransmissions } from './webhooks/paypalTransmissions';
import type { InvoicePaymentGateway } from '../domain/ports/billingProvider';
import { providerRequestHandler } from '../commands/reactors/providerRequests';
import { waitlistHandler } from '../commands/reactors/waitlist';
import { checkpointed } from './eventstore/subscription';
import { InboxRetrier, WebhookIngestor, type Translator } from './webhooks/ingest';
import { READ_MODEL_CHANNEL, ReadModelChanges } from './sql/readModelChanges';
import { Reconciler } from '../commands/reconciliation';
import { SqlReconciliationRuns } from './sql/reconciliationRuns';
import { StripeLedgerAdapter } from './providers/stripeLedger';
import { ReadModels } from '../projections/queries';

/** The consumer groups Settle runs and the topics each reads (consumer lag: metrics, console). */
const CONSUMER_GROUPS: ReadonlyArray<{ group: string; topics: readonly string[] }> = [
  { group: CRM_SYNC_GROUP, topics: [TOPICS.bookings, TOPICS.crmSyncRetry] },
  { group: FINANCE_GROUP_ID, topics: [TOPICS.payments] },
];

/** How long a readiness probe (database, bus) is reused: /readyz stays current within a second. */
export const READINESS_PROBE_TTL_MS = 1000;

/**
 * The composition root: builds every adapter from the configuration and owns their lifecycle.
 * PostgreSQL when DATABASE_URL is set, otherwise embedded PGlite under DATA_DIR; Kafka when
 * KAFKA_BROKERS is set, otherwise the in-process bus fed by the same outbox; EventStoreDB for the
 * event log when EVENTSTORE_URL is set (read models, outbox and checkpoints stay in SQL).
 */
export class Runtime {
  readonly subscriptions: CatchUpSubscription[] = [];
  readonly projections: ProjectionRunner[] = [];
  readonly inbox: WebhookInbox;
  readonly providerRefs: SqlProviderRefs;
  readonly ingestor: WebhookIngestor;
  readonly inboxRetrier: InboxRetrier;
  /** Provider actions triggered by webhooks (PayPal capture); set when PayPal is configured. */
  webhookActions: WebhookActions | null = null;
  /** PayPal webhook signature verification; set when PAYPAL_WEBHOOK_ID is configured. */
  paypalVerifier: { verify(headers: Record<string, string | undefined>, rawBody: Buffer): Promise<{ ok: true } | { ok: false; reason: string }> } | null = null;
  /** PayPal transmission ids seen, with their bodies' hashes (a reused id with another body is refused). */
  readonly paypalTransmissions: PayPalTransmissions;
  readonly tenants: TenantDirectory;
  readonly idempotency: IdempotencyStore;
  /** Outbound provider calls; replaced by the provider adapters when they are configured. */
  provider: BillingProvider = new UnconfiguredBillingProvider();
  /** The Stripe adapter when STRIPE_SECRET_KEY is set (Connect invoice payments, reconciliation). */
  stripe: StripeBillingProvider | null = null;
  readonly connectedAccounts: SqlConnectedAccounts;
  /** Finance reporting: the ledger fed by payment messages (consumer group finance-reporting). */
  finance: FinanceConsumer | null = null;
  /** The CRM sync saga when CRM_BASE_URL is set. */
  crmSaga: CrmSyncSaga | null = null;
  /** Reconciliation with the providers (resync), and its run records. */
  reconciler!: Reconciler;
  readonly reconciliationRuns: SqlReconciliationRuns;
  private mailer: Mailer | null = null;
  private readonly consumers: Array<{ stop(): Promise<void> }> = [];
  /** Per-key failure isolation of each consumer group of this process (crm-sync, finance-reporting). */
  readonly isolations: ConsumerIsolation[] = [];
  /** The PayPal client when PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are set. */
  paypal: PayPalClient | null = null;
  /** Payment pages for tenants' invoices, per method, when the provider is configured. */
  readonly invoicePaymentGateways: { stripe_connect?: InvoicePaymentGateway; paypal?: InvoicePaymentGateway } = {};
  /** Key of signed payer links (PAYER_LINK_SECRET, or generated under DATA_DIR in embedded mode); null: payer links are off. */
  payerLinkSecret: string | null = null;
  /** "A read model changed" signals (this process's runners, and NOTIFY from other instances on PostgreSQL). */
  readonly readModelChanges: ReadModelChanges;
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
  ) {
    this.tenants = new TenantDirectory(db);
    this.idempotency = new IdempotencyStore(db);
    this.inbox = new WebhookInbox(db);
    this.connectedAccounts = new SqlConnectedAccounts(db);
    this.providerRefs = new SqlProviderRefs(db);
    this.paypalTransmissions = new PayPalTransmissions(db);
    this.reconciliationRuns = new SqlReconciliationRuns(db);
    this.readModelChanges = new ReadModelChanges(config.DATABASE_SCHEMA, logger);
    const translate: Translator = (endpoint, payload, refs) =>
      endpoint === 'paypal' ? translatePayPalEvent(payload as Record<string, unknown>, refs, this.paypal) : translateStripeEvent(payload as StripeEventEnvelope, refs);
    const actions: WebhookActions = { capturePayPalOrder: (step, ctx) => (this.webhookActions ? this.webhookActions.capturePayPalOrder(step, ctx) : Promise.reject(new Error('PayPal is not configured'))) };
    this.ingestor = new WebhookIngestor(this.inbox, new WebhookProcessor(eventStore, this.providerRefs, actions), this.providerRefs, translate, metrics, logger);
    const lease: LeaderLease = config.DATABASE_URL ? new PgAdvisoryLease(config.DATABASE_URL, `${config.DATABASE_SCHEMA}:webhook-retrier`) : new AlwaysLeader('webhook-retrier');
    this.inboxRetrier = new InboxRetrier(this.inbox, this.ingestor, lease, logger);
  }

  static async create(config: Config, logger: Logger): Promise<Runtime> {
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
      let relayWake: () => void = () => undefined;
      const eventStore: EventStore = config.EVENTSTORE_URL
        ? new EsdbEventStore(config.EVENTSTORE_URL)
        : new SqlEventStore(db, () => relayWake(), {
            groupCommit: config.EVENTSTORE_GROUP_COMMIT,
            onOutboxConflict: (err) => {
              metrics.outboxConflicts.inc();
              logger.error({ err }, 'outbox: a message id already exists with other content; the append was refused');
            },
          });

      const bus: MessageBus = config.KAFKA_BROKERS
        ? new KafkaBus({ brokers: config.KAFKA_BROKERS.split(','), clientId: config.KAFKA_CLIENT_ID, topicPrefix: config.KAFKA_TOPIC_PREFIX, logger, ...config.kafkaSecurity })
        : new InProcessBus();
      const lease: LeaderLease = config.DATABASE_URL
        ? new PgAdvisoryLease(config.DATABASE_URL, `${config.DATABASE_SCHEMA}:outbox-relay`)
        : new AlwaysLeader('outbox-relay');
      const relay = new OutboxRelay(db, bus, lease, {
        onError: (err) => logger.warn({ err }, 'outbox relay: publish failed, will retry'),
        onPublished: (n) => metrics.outboxPublished.inc(n),
        maxAttempts: config.MESSAGE_MAX_ATTEMPTS,
        retryBaseMs: config.MESSAGE_RETRY_BASE_MS,
        retryMaxMs: config.MESSAGE_RETRY_MAX_MS,
        stuckAfterSeconds: config.OUTBOX_STUCK_SECONDS,
        onHold: (h) => Runtime.reportHold(metrics, logger, 'relay', h),
      });
      const rt = new Runtime(config, logger, metrics, db, eventStore, bus, relay);
      if (config.STRIPE_SECRET_KEY) {
        rt.stripe = new StripeBillingProvider({
          secretKey: config.STRIPE_SECRET_KEY,
          apiBase: config.STRIPE_API_BASE,
          maxNetworkRetries: 2,
          connectApplicationFeePercent: config.STRIPE_APPLICATION_FEE_BPS / 100,
          publicBaseUrl: config.PUBLIC_BASE_URL,
          checkoutSessionTtlSeconds: config.CHECKOUT_SESSION_TTL_SECONDS,
          ...(config.STRIPE_API_VERSION ? { apiVersion: config.STRIPE_API_VERSION } : {}),
        });
        rt.provider = rt.stripe;
        const stripe = rt.stripe;
        rt.invoicePaymentGateways.stripe_connect = {
          async start(req) {
            const s = await stripe.createInvoicePaymentSession({
              idempotencyKey: req.idempotencyKey,
              accountId: req.accountId!,
              tenantId: req.tenantId,
              invoiceId: req.invoiceId,
              customerId: req.customerId,
              currency: req.currency,
              lineItems: req.lines.map((l) => ({ name: l.name, quantity: l.quantity, unitAmount: l.unitAmount })),
              successUrl: `${req.returnUrl}${req.returnUrl.includes('?') ? '&' : '?'}session_id={CHECKOUT_SESSION_ID}`,
              cancelUrl: req.cancelUrl,
            });
            return { provider: 'stripe', reference: s.sessionId, url: s.url };
          },
        };
      }
      relayWake = () => {
        relay.wake();
        rt.inboxRetrier.wake();
        rt.subscriptions.forEach((s) => s.wake());
        rt.projections.forEach((p) => p.wakeForEvents());
      };
      // projections rebuilding at once (a release that changes several) read the log once between them
      const sharedReads = new SharedReads(eventStore);
      for (const def of allProjections) {
        const projectionLease: LeaderLease = config.DATABASE_URL
          ? new PgAdvisoryLease(config.DATABASE_URL, `${config.DATABASE_SCHEMA}:projection:${def.name}`)
          : new AlwaysLeader(`projection:${def.name}`);
        const runner = new ProjectionRunner(db, eventStore, def, projectionLease, {
          onError: config.PROJECTION_ON_ERROR,
          logger,
          leaseRetryMs: 1000,
          sharedReads,
          onCommitted: (name) => rt.readModelChanges.emit(name),
          ...(config.DATABASE_URL ? { notify: { channel: READ_MODEL_CHANNEL, payload: `${config.DATABASE_SCHEMA}:${def.name}` } } : {}),
        });
        await runner.install();
        rt.projections.push(runner);
      }
      rt.payerLinkSecret = payerLinkSecret(config);
      rt.configurePayPal();
      rt.configureReconciliation();
      await rt.configureCrmSync();
      const financeIsolation = rt.isolationFor(FINANCE_GROUP_ID);
      rt.finance = new FinanceConsumer(db, bus, { logger, isolate: (h) => financeIsolation.wrapBatches(h), onHandled: (outcome) => metrics.financeMessages.inc({ outcome }) });
      // the in-process bus has no retention: subscribe before the relay starts; Kafka keeps trying in the background
      if (bus.kind === 'in-process') await rt.finance.start();
      else void rt.finance.start();
      rt.registerCollectors();
      const leaseFor = (name: string): LeaderLease => (config.DATABASE_URL ? new PgAdvisoryLease(config.DATABASE_URL, `${config.DATABASE_SCHEMA}:${name}`) : new AlwaysLeader(name));
      rt.addSubscription(checkpointed('provider-requests', new SqlCheckpointStore(db), providerRequestHandler(() => rt.provider, logger)), { lease: leaseFor('provider-requests') });
      rt.addSubscription(checkpointed('waitlist', new SqlCheckpointStore(db), waitlistHandler(eventStore)), { lease: leaseFor('waitlist') });
      if (eventStore instanceof EsdbEventStore) rt.addSubscription(esdbOutboxFeeder(db), { lease: leaseFor('eventstoredb-outbox-feeder') });
      return rt;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * PayPal: the client (orders, captures, refunds), webhook verification, the capture that
   * follows an approval (webhook or the buyer's return), and refunds of PayPal payments.
   */
  private configurePayPal(): void {
    const c = this.config;
    if (c.PAYPAL_WEBHOOK_ID) {
      this.paypalVerifier = new PayPalWebhookVerifier({ webhookId: c.PAYPAL_WEBHOOK_ID, trustedCertHosts: payPalTrustedCertHosts(c.PAYPAL_API_BASE), transmissionToleranceSeconds: c.PAYPAL_WEBHOOK_TOLERANCE_SECONDS });
    }
    if (!c.PAYPAL_CLIENT_ID || !c.PAYPAL_CLIENT_SECRET) return;
    const paypal = new PayPalClient({ apiBase: c.PAYPAL_API_BASE, clientId: c.PAYPAL_CLIENT_ID, clientSecret: c.PAYPAL_CLIENT_SECRET });
    this.paypal = paypal;
    this.webhookActions = {
      capturePayPalOrder: async (step, ctx) => {
        const result = await paypal.captureOrder({ orderId: step.orderId, requestId: `capture-${step.orderId}` });
        // the order's custom_id, as PayPal answers it, must name the invoice the step records on
        if (result.order.customId !== null && !customIdMatches(result.order.customId, step.tenantId, step.invoiceId)) {
          throw new ProviderError('invalid', `PayPal order ${step.orderId} belongs to another invoice (custom_id ${result.order.customId})`, 'ORDER_MISMATCH');
        }
        return captureSteps(toOutcome(result), step.tenantId, step.invoiceId, step.role, ctx.causationId);
      },
    };
    const refs = this.providerRefs;
    this.invoicePaymentGateways.paypal = {
      async start(req) {
        const amount = { amount: req.lines.reduce((n, l) => n + l.quantity * l.unitAmount, 0), currency: req.currency };
        const order = await paypal.createOrder({ requestId: req.idempotencyKey, tenantId: req.tenantId, invoiceId: req.invoiceId, amount, returnUrl: req.returnUrl, cancelUrl: req.cancelUrl });
        // the order id, from PayPal's answer, names the invoice (a custom_id too long for PayPal is only a digest of it); remembered at once: reconciliation re-reads the orders Settle knows of
        await refs.learn('paypal', order.id, req.tenantId, 'invoice', req.invoiceId);
        return { provider: 'paypal', reference: order.id, url: order.approveUrl ?? '' };
      },
    };
    const base = this.provider;
    this.provider = {
      createCheckoutSession: (r) => base.createCheckoutSession(r),
      expireCheckoutSession: (r) => base.expireCheckoutSession(r),
      changeSubscriptionPlan: (r) => base.changeSubscriptionPlan(r),
      cancelSubscription: (r) => base.cancelSubscription(r),
      voidInvoice: (r) => base.voidInvoice(r),
      createProduct: (r) => base.createProduct(r),
      createPrice: (r) => base.createPrice(r),
      archivePrice: (r) => base.archivePrice(r),
      refund: (r) => (r.provider === 'paypal' ? paypal.refund(r) : base.refund(r)),
    };
  }

  /**
   * Reconciliation: Stripe lists (its own SDK client, no automatic retries: the reconciler honours
   * Retry-After itself) and PayPal order reads, applied through the webhook ingestor; runs are
   * recorded, logged per page and counted.
   */
  private configureReconciliation(): void {
    const c = this.config;
    const runs = this.reconciliationRuns;
    const log = this.logger.child({ component: 'reconciliation' });
    const metrics = this.metrics;
    this.reconciler = new Reconciler({
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

  /**
   * The CRM sync saga consumes booking messages (group crm-sync). With SMTP_URL and OPS_EMAIL,
   * stages that fail for good are mailed to operations.
   */
  private async configureCrmSync(): Promise<void> {
    const c = this.config;
    if (!c.CRM_BASE_URL) return;
    if (c.SMTP_URL) this.mailer = new Mailer({ smtpUrl: c.SMTP_URL, from: c.MAIL_FROM });
    const to = (c.OPS_EMAIL ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    const notifier = this.mailer && to.length > 0 ? new EmailNotifier(this.db, this.mailer, to) : null;
    const crm = new CrmClient({ baseUrl: c.CRM_BASE_URL, apiKey: c.CRM_API_KEY ?? '', timeoutMs: c.CRM_TIMEOUT_MS });
    const saga = new CrmSyncSaga(this.eventStore, crm, notifier, { maxAttempts: c.CRM_MAX_ATTEMPTS, baseDelayMs: c.CRM_RETRY_BASE_MS, maxDelayMs: c.CRM_RETRY_MAX_MS, publicBaseUrl: c.PUBLIC_BASE_URL });
    this.crmSaga = saga;
    const isolation = this.isolationFor(CRM_SYNC_GROUP);
    this.consumers.push(await this.bus.subscribe(CRM_SYNC_GROUP, [TOPICS.bookings, TOPICS.crmSyncRetry], isolation.wrap((m) => saga.handleMessage(m.value as Envelope))));
  }

  /** The per-key isolation of a consumer group (its retrier runs on one instance: leader lease). */
  isolationFor(group: string): ConsumerIsolation {
    const c = this.config;
    const lease: LeaderLease = c.DATABASE_URL ? new PgAdvisoryLease(c.DATABASE_URL, `${c.DATABASE_SCHEMA}:consumer-retrier:${group}`) : new AlwaysLeader(`consumer-retrier:${group}`);
    const isolation = new ConsumerIsolation(this.db, group, lease, {
      maxAttempts: c.MESSAGE_MAX_ATTEMPTS,
      retryBaseMs: c.MESSAGE_RETRY_BASE_MS,
      retryMaxMs: c.MESSAGE_RETRY_MAX_MS,
      logger: this.logger,
      onHold: (h) => Runtime.reportHold(this.metrics, this.logger, `consumer:${group}`, h),
    });
    this.isolations.push(isolation);
    if (this.started) isolation.start();
    return isolation;
  }

  private static reportHold(metrics: Metrics, logger: Logger, stage: string, h: { key: string; messageId: string; topic: string; attempts: number; error: string; parked: boolean }): void {
    if (h.parked) {
      metrics.outboxParked.inc({ stage });
      logger.error({ stage, key: h.key, messageId: h.messageId, topic: h.topic, attempts: h.attempts, error: h.error }, 'messaging: key parked after its attempts; release or skip it (GET /v1/admin/outbox/parked)');
    } else if (h.attempts === 1) {
      metrics.outboxHeld.inc({ stage });
      logger.warn({ stage, key: h.key, messageId: h.messageId, topic: h.topic, error: h.error }, 'messaging: message failed; its key is held and retried, other keys go on');
    }
  }

  /** Kafka consumer lag of Settle's groups per topic; null on the in-process bus (it has no lag: a publish waits for its handlers). */
  async consumerLag(): Promise<Array<{ group: string; topic: string; lag: number }> | null> {
    return this.bus instanceof KafkaBus ? this.bus.consumerLag(CONSUMER_GROUPS) : null;
  }

  /** Every held key: the relay's and each consumer group's, parked ones first. */
  async parked(): Promise<Array<(OutboxHold | ConsumerHold) & { stage: string }>> {
    const relay = (await this.relay.holds()).map((h) => ({ ...h, stage: 'relay' }));
    const groups = (await Promise.all(this.isolations.map(async (i) => (await i.holds()).map((h) => ({ ...h, stage: `consumer:${i.group}` }))))).flat();
    return [...relay, ...groups].sort((a, b) => Number(b.parked) - Number(a.parked) || a.since.getTime() - b.since.getTime());
  }

  /** Retry a held key now, at every stage that holds it (or one stage). Returns the stages released. */
  async releaseParked(key: string, stage?: string): Promise<string[]> {
    const out: string[] = [];
    if ((!stage || stage === 'relay') && (await this.relay.release(key))) out.push('relay');
    for (const i of this.isolations) if ((!stage || stage === `consumer:${i.group}`) && (await i.release(key))) out.push(`consumer:${i.group}`);
    return out;
  }

  /** Skip a held key's head message, with a recorded reason, at every stage that holds it (or one stage). */
  async skipParked(key: string, reason: string, skippedBy: string, stage?: string): Promise<Array<{ stage: string; messageId: string; topic: string }>> {
    const out: Array<{ stage: string; messageId: string; topic: string }> = [];
    if (!stage || stage === 'relay') {
      const r = await this.relay.skip(key, reason, skippedBy);
      if (r) out.push({ stage: 'relay', ...r });
    }
    for (const i of this.isolations) {
      if (stage && stage !== `consumer:${i.group}`) continue;
      const r = await i.skip(key, reason, skippedBy);
      if (r) out.push({ stage: `consumer:${i.group}`, ...r });
    }
    return out;
  }

  /** The buyer came back from PayPal having approved an order: capture it (once) and record it. */
  async completePayPalReturn(orderId: string, requestId: string): Promise<{ tenantId: string; invoiceId: string; outcome: string }> {
    if (!this.paypal || !this.webhookActions) throw new Error('PayPal is not configured');
    const order = await this.paypal.getOrder(orderId);
    const learned = await this.providerRefs.lookup('paypal', order.id);
    const target = parseCustomId(order.customId) ?? (learned?.targetType === 'invoice' && customIdMatches(order.customId, learned.tenantId, learned.targetId) ? { tenantId: learned.tenantId, invoiceId: learned.targetId } : null);
    if (!target) throw new Error(`order ${orderId} was not created by Settle`);
    const result = await this.paypal.captureOrder({ orderId, requestId: `capture-${orderId}` });
    const steps = captureSteps(toOutcome(result), target.tenantId, target.invoiceId, `paypal-return|${orderId}`, requestId);
    await this.ingestor.applySteps(`paypal-return:${orderId}`, steps);
    return { ...target, outcome: result.outcome };
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

  start(): void {
    if (this.started) return;
    this.started = true;
    this.relay.start();
    this.isolations.forEach((i) => i.start());
    this.subscriptions.forEach((s) => s.start());
    if (this.config.PROJECTIONS_ENABLED) this.projections.forEach((p) => p.start());
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

  private readonly databaseProbe = cached(async (): Promise<{ database: Check; migrations: Check }> => {
    try {
      const v = await withTimeout(appliedVersion(this.db, this.config.DATABASE_SCHEMA), 3000);
      return { database: { ok: true }, migrations: v === latestMigration ? { ok: true, detail: `at version ${v}` } : { ok: false, detail: `at version ${v}, expected ${latestMigration}` } };
    } catch (err) {
      return { database: { ok: false, detail: (err as Error).message }, migrations: { ok: false, detail: 'database unreachable' } };
    }
  }, READINESS_PROBE_TTL_MS);

  private readonly busProbe = cached(async (): Promise<boolean> => withTimeout(this.bus.healthy(), 3000).catch(() => false), READINESS_PROBE_TTL_MS);

  async readiness(): Promise<Readiness> {
    const checks: Record<string, Check> = {};
    // the database and bus probes are shared by concurrent callers and reused briefly (READINESS_PROBE_TTL_MS)
    const [db, busOk] = await Promise.all([this.databaseProbe(null), this.busProbe(null)]);
    checks.database = db.database;
    checks.migrations = db.migrations;
    const stallMs = this.config.PROJECTION_STALL_SECONDS * 1000;
    const stalled = [...this.subscriptions.map((s) => s.status()), ...(this.config.PROJECTIONS_ENABLED ? this.projections.map((p) => p.status()) : [])]
      .filter((s) => !s.running || (!s.caughtUp && Date.now() - s.lastProgressAt.getTime() > stallMs) || (s.lastError !== null && Date.now() - s.lastProgressAt.getTime() > stallMs))
      .map((s) => `${s.name}${s.lastError ? ` (${s.lastError})` : ''}`);
    const halted = this.projections.map((p) => p.status()).filter((p) => p.halted).map((p) => `${p.name} halted on ${p.halted}`);
    const problems = [...halted, ...stalled.filter((n) => !halted.some((h) => h.startsWith(n.split(' ')[0]!)))];
    const deadLetters = this.projections.reduce((n, p) => n + p.status().deadLetters, 0);
    checks.projections =
      problems.length === 0
        ? { ok: true, ...(deadLetters > 0 ? { detail: `${deadLetters} dead-lettered event(s) skipped (see projection_dead_letters)` } : {}) }
        : { ok: false, detail: `stalled: ${problems.join(', ')}` };
    // The bus being down degrades the service (the outbox grows) but does not make it unready:
    // webhooks and commands are still accepted and stored.
    checks.messaging = busOk ? { ok: true, detail: this.bus.kind } : { ok: false, degraded: true, detail: `${this.bus.kind} unreachable; outbox is buffering` };
    checks.outbox = await this.outboxCheck().catch((err: unknown) => ({ ok: false, degraded: true, detail: `outbox state unknown: ${(err as Error).message}` }));
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
  private async outboxCheck(): Promise<Check> {
    const st = await withTimeout(this.relay.status(), 3000);
    const groups = await withTimeout(Promise.all(this.isolations.map(async (i) => ({ group: i.group, ...(await i.counts()) }))), 3000);
    const problems: string[] = [];
    if (st.parkedKeys > 0) problems.push(`relay: ${st.parkedKeys} key(s) parked`);
    for (const g of groups) if (g.parked > 0) problems.push(`consumer ${g.group}: ${g.parked} key(s) parked`);
    const parked = problems.length > 0;
    if (st.stuck) problems.push(`relay stuck: the oldest due message is ${Math.round(st.oldestAgeSeconds)} s old and has not moved for ${this.config.OUTBOX_STUCK_SECONDS} s${st.lastError ? ` (${st.lastError})` : ''}`);
    if (problems.length === 0) return { ok: true, detail: `backlog ${st.backlog}` };
    const detail = `${problems.join('; ')}${parked ? ' (GET /v1/admin/outbox/parked)' : ''}`;
    if (st.stuck && this.config.OUTBOX_STUCK_READINESS === 'unavailable') return { ok: false, detail };
    return { ok: false, degraded: true, detail };
  }

  private registerCollectors(): void {
    // Gauges that query the database are shared by concurrent scrapes and reused for
    // METRICS_QUERY_TTL_MS: any number of scrapers cost one query per gauge per interval.
    const ttl = this.config.METRICS_QUERY_TTL_MS;
    const outbox = cached(() => this.relay.status(), ttl);
    const inbox = cached(() => this.inbox.counts(), ttl);
    const consumerHolds = cached(() => Promise.all(this.isolations.map(async (i) => ({ stage: `consumer:${i.group}`, ...(await i.counts()) }))), ttl);
    this.metrics.sources.heldKeys = async () => {
      const st = await outbox(null);
      return [{ stage: 'relay', held: st.heldKeys, parked: st.parkedKeys }, ...(await consumerHolds(null))];
    };
    this.metrics.sources.outboxStuck = async () => (await outbox(null)).stuck;
    this.metrics.sources.subscriptions = () => [...this.subscriptions.map((s) => s.status()), ...this.projections.filter((p) => p.status().leader).map((p) => p.status())];
    this.metrics.sources.projections = () => this.projections.map((p) => p.status());
    this.metrics.sources.eventsBehind = cached(async (p: string) => {
      const runner = this.projections.find((r) => r.def.name === p);
      if (!runner) return 0;
      const pos = await runner.position();
      const { rows } = await this.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint) LIMIT 1000000) x`,
        [pos?.commit.toString() ?? '0', pos?.prepare.toString() ?? '0'],
      );
      return Number(rows[0]?.n ?? 0);
    }, ttl);
    this.metrics.sources.outbox = () => outbox(null);
    this.metrics.sources.inbox = () => inbox(null);
    this.metrics.sources.databaseUp = async () => (await this.databaseProbe(null)).database.ok;
    const models = new ReadModels(this.db);
    const crmFailed = cached(() => models.crmStagesFailed(), ttl);
    const attempts = cached(() => models.paymentAttemptsByStatus(), ttl);
    this.metrics.sources.crmStagesFailed = () => crmFailed(null);
    this.metrics.sources.paymentAttempts = () => attempts(null);
    if (this.bus instanceof KafkaBus) {
      const bus = this.bus;
      const lag = cached(() => bus.consumerLag(CONSUMER_GROUPS), ttl);
      this.metrics.sources.consumerLag = () => lag(null);
    }
  }
}

/**
 * With EventStoreDB as the log there is no shared transaction with SQL, so outbox messages travel
 * in event metadata and this subscription copies them into the SQL outbox together with its
 * checkpoint (one transaction; message ids make a replay a no-op). The relay then works as usual.
 */
function esdbOutboxFeeder(db: SqlClient): SubscriptionSink {
  const name = 'eventstoredb-outbox-feeder';
  const checkpoints = new SqlCheckpointStore(db);
  return {
    name,
    load: () => checkpoints.load(name),
    async handle(events) {
      const last = events[events.length - 1];
      if (!last) return;
      await db.transaction(async (tx) => {
        for (const e of events) {
          for (const m of outboxOf(e.metadata as Record<string, unknown>) as Array<Record<string, unknown>>) {
            await tx.query(
              `INSERT INTO outbox (message_id, topic, message_key, value, headers, available_at)
               VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, coalesce($6::timestamptz, clock_timestamp()))
               ON CONFLICT (message_id) DO NOTHING`,
              [m.id, m.topic, m.key, JSON.stringify(m.value), JSON.stringify(m.headers ?? {}), m.availableAt ?? null],
            );
          }
        }
        await tx.query(
          `INSERT INTO checkpoints (name, position_commit, position_prepare) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET position_commit = EXCLUDED.position_commit,
             position_prepare = EXCLUDED.position_prepare, updated_at = clock_timestamp()`,
          [name, last.position.commit.toString(), last.position.prepare.toString()],
        );
      });
    },
  };
}

/**
 * The payer link key: PAYER_LINK_SECRET; in embedded mode without it, a random key generated once
 * and kept in DATA_DIR/payer-link-secret (one process owns the directory). With PostgreSQL every
 * instance must share the key, so it has to be configured.
 */
function payerLinkSecret(config: Config): string | null {
  if (config.PAYER_LINK_SECRET) return config.PAYER_LINK_SECRET;
  if (config.storage !== 'embedded') return null;
  const file = path.join(config.dataDir, 'payer-link-secret');
  const existing = readPrivateFile(file);
  if (existing !== null) return existing.trim();
  createPrivateFile(file, randomBytes(32).toString('base64url'));
  return readPrivateFile(file)!.trim();
}

function toOutcome(r: CaptureResult) {
  return {
    outcome: r.outcome,
    orderId: r.order.id,
    captureId: r.capture.id,
    amount: r.capture.amount,
    declineCode: r.outcome === 'declined' ? r.declineCode : null,
    reason: r.outcome === 'pending' ? r.reason : r.capture.statusReason,
    occurredAt: r.capture.createTime ?? new Date().toISOString(),
  };
}

export interface Check {
  ok: boolean;
  degraded?: boolean;
  detail?: string;
}

export interface Readiness {
  status: 'ready' | 'degraded' | 'unavailable';
  checks: Record<string, Check>;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
