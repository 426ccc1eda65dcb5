import { createHash } from 'node:crypto';
import type { Clock } from '../domain/ports/clock';
import express, { Router, type Express, type Request, type Response } from 'express';
import type { BookingCommands } from '../commands/bookings';
import type { CommandContext } from '../commands/handle';
import { methodNotAllowed, mount, openApiDocument, type RouteSpec } from './api';
import { asyncApiDocument } from './asyncapi';
import { authenticate, tenantOf, type Principal } from './auth';
import { healthRoutes, metricsRoutes } from './health';
import { webhookRoutes } from './webhooks';
import { payRoutes } from './pay';
import { consoleRoutes } from './console/routes';
import { LiveStatusHub, apiLiveRoutes } from './live';
import { idempotency, idempotencyScope } from './idempotency';
import { rejectDeepJson } from './jsonDepth';
import { httpMetrics, requestContext, requestLogger, securityHeaders } from './middleware';
import { byIp, byPrincipal, failedAuthLimit, rateLimit } from './rateLimit';
import { errorHandler, notFound } from './problem';
import { adminReconciliationRoutes } from './routes/reconciliations';
import { adminProjectionRoutes, adminRoutes } from './routes/admin';
import { bookingRoutes, type BulkRetryDeps } from './routes/bookings';
import { billingRoutes } from './routes/billing';
import { queryRoutes } from './routes/queries';
import { reportRoutes } from './routes/reports';
import { payerLinkRoutes } from './routes/payerLinks';
import type { ReadModels } from '../projections/queries';
import type { ProjectionControl } from '../domain/ports/projection';
import type { EventStore } from '../domain/ports/eventStore';
import type { PayPalReturn } from '../commands/webhooks/paypalCapture';
import type { Logger } from 'pino';
import type { SqlClient } from '../domain/ports/sql';
import type { IdempotencyStore, TenantDirectory } from '../domain/ports/apiAccess';
import type { ReadModelChanges } from '../domain/ports/readModelChanges';
import type { ConsoleSessions } from '../domain/ports/consoleSessions';
import type { ConnectedAccounts } from '../domain/ports/providerRefs';
import type { ConsumerLag, HeldKeys, HttpMetrics, HttpSettings, InboxCounts, OutboxView, ReadinessSource, RunWithContext } from './services';
import type { ReconciliationRouteDeps } from './routes/reconciliations';
import type { WebhookDeps } from './webhooks';
import { comparePositions } from '../domain/ports/eventStore';
import type { InvoiceCommands } from '../commands/invoices';
import type { SubscriptionCommands } from '../commands/subscriptions';
import type { InvoicePaymentCommands } from '../commands/invoicePayments';

/** Everything the HTTP application is handed by the composition root (main/compose.ts), each route module taking its part. */
export interface AppServices {
  readonly config: HttpSettings;
  /** Business time of every command context built here (the composition root's one Clock). */
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: HttpMetrics;
  /** Binds a request's ids for its log lines and appended events (infrastructure/observability/context.ts). */
  readonly runWithContext: RunWithContext;
  /** Read models, reports and the operator views query it. */
  readonly db: SqlClient;
  /** Payer links read the invoice's stream. */
  readonly eventStore: EventStore;
  readonly readModels: ReadModels;
  readonly readModelChanges: ReadModelChanges;
  readonly tenants: TenantDirectory;
  readonly idempotency: IdempotencyStore;
  readonly consoleSessions: ConsoleSessions;
  readonly connectedAccounts: ConnectedAccounts;
  readonly commands: {
    readonly bookings: BookingCommands;
    readonly subscriptions: SubscriptionCommands;
    readonly invoices: InvoiceCommands;
    readonly invoicePayments: InvoicePaymentCommands;
    readonly payPalReturn: PayPalReturn | null;
  };
  /** Bulk CRM retry; null when the CRM sync is off. */
  readonly bulkRetry: BulkRetryDeps | null;
  readonly payerLinkSecret: string | null;
  /** Invoice payment methods with a configured gateway. */
  readonly paymentMethods: readonly string[];
  readonly projections: readonly ProjectionControl[];
  eventsBehind(projection: string): Promise<number>;
  readonly heldKeys: HeldKeys;
  readonly outbox: OutboxView;
  readonly inbox: InboxCounts;
  readonly consumerLag: ConsumerLag;
  /** Held and parked keys per stage (the relay, each consumer group): the System page. */
  keyStages(): Promise<ReadonlyArray<{ stage: string; held: number; parked: number }>>;
  readonly readiness: ReadinessSource;
  readonly reconciliation: ReconciliationRouteDeps;
  readonly webhooks: WebhookDeps;
}

export interface AppOptions {
  isShuttingDown?: () => boolean;
  /** Milliseconds clock of the rate limiters (tests inject one). */
  now?: () => number;
}

/** Builds the command context of a request: tenant, ids for tracing, deterministic id seed, actor, time (`now` from the composition root's Clock). */
const contextWith = (clock: Clock) => (tenantId: string, req: Request, res: Response): CommandContext => {
  const principal = res.locals.principal as Principal;
  const key = res.locals.idempotencyKey as string | undefined;
  return {
    tenantId,
    correlationId: res.locals.correlationId as string,
    causationId: res.locals.requestId as string,
    // per principal as the key itself (idempotency.ts): the admin's and the tenant's same key are different requests
    idSeed: key ? createHash('sha256').update(`idempotency|${principal.kind === 'admin' ? idempotencyScope(principal, tenantId) : tenantId}|${key}|${req.method} ${req.path}`).digest('hex') : undefined,
    actor: principal.kind === 'admin' ? { kind: 'admin', id: 'admin' } : { kind: 'api_key', id: principal.keyId },
    now: clock.now(),
  };
};

export function apiRoutes(s: AppServices): RouteSpec[] {
  const c = s.config;
  const contextFor = contextWith(s.clock);
  return [
    ...adminRoutes(s.tenants, s.connectedAccounts),
    ...bookingRoutes(s.commands.bookings, contextFor, s.bulkRetry ?? undefined),
    ...billingRoutes(s.commands.subscriptions, s.commands.invoices, s.commands.invoicePayments, contextFor),
    ...queryRoutes(s.readModels),
    ...reportRoutes({ db: s.db }),
    ...adminProjectionRoutes({ projections: s.projections, db: s.db, heldKeys: s.heldKeys }),
    ...adminReconciliationRoutes(s.reconciliation),
    ...payerLinkRoutes({ store: s.eventStore, secret: () => s.payerLinkSecret, publicBaseUrl: c.PUBLIC_BASE_URL, defaultTtlSeconds: c.PAYER_LINK_TTL_SECONDS }),
  ];
}

/** The /metrics listener of METRICS_PORT (bound to METRICS_HOST, loopback by default). */
export function createMetricsApp(s: Pick<AppServices, 'metrics' | 'config' | 'runWithContext'>): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestContext(s.runWithContext));
  app.use(metricsRoutes(s.metrics, s.config.METRICS_TOKEN));
  app.use(notFound);
  app.use(errorHandler);
  return app;
}

/** The Express application: routing, context, logging, metrics and problem+json errors only. */
export function createApp(s: AppServices, opts: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // which peers may set X-Forwarded-For/-Proto (TRUST_PROXY): req.ip, req.secure (Secure cookies, HSTS) follow it
  app.set('trust proxy', s.config.TRUST_PROXY);
  app.use(requestContext(s.runWithContext));
  app.use(securityHeaders());
  app.use(requestLogger(s.logger));
  app.use(httpMetrics(s.metrics));
  // Rate limits (per process): public payer pages per IP; webhooks: failed verifications per
  // source IP (below); the API: failed authentication per IP before the key lookup (floods
  // of made-up keys never reach it), then per verified key id.
  const c = s.config;
  const now = opts.now;
  app.use('/pay', rateLimit({ name: 'public', capacity: c.RATE_LIMIT_PUBLIC_BURST, refillPerSecond: c.RATE_LIMIT_PUBLIC_PER_SECOND, key: byIp, now }));
  app.use(healthRoutes(s.readiness, c, opts.isShuttingDown ?? (() => false), now));
  // /metrics on the public port only behind METRICS_TOKEN (else 404; METRICS_PORT serves it on its own listener)
  if (c.METRICS_TOKEN) app.use(metricsRoutes(s.metrics, c.METRICS_TOKEN));
  // live status streams (server-sent events) fed by the projections; closed at shutdown
  const live = new LiveStatusHub(s.readModelChanges, s.metrics, { heartbeatMs: c.LIVE_HEARTBEAT_SECONDS * 1000, perPrincipal: c.LIVE_STREAMS_PER_PRINCIPAL, perIp: c.LIVE_STREAMS_PER_IP });
  app.locals.liveHub = live;
  // verified deliveries are never throttled (a provider's burst after an outage must not meet 429s);
  // an address whose requests fail verification spends RATE_LIMIT_WEBHOOK_* and is then refused before verifying.
  // Mounted before the payer pages and the console: the hottest route does not walk their routes.
  const unverified = failedAuthLimit({ name: 'webhooks', capacity: c.RATE_LIMIT_WEBHOOK_BURST, refillPerSecond: c.RATE_LIMIT_WEBHOOK_PER_SECOND, now });
  app.use(webhookRoutes(s.webhooks, unverified));
  app.use(payRoutes(s, live));
  app.use(consoleRoutes({ rt: s, hub: live }));
  const specs = apiRoutes(s);
  const doc = openApiDocument(specs, '1');
  app.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  const asyncApi = asyncApiDocument('1');
  app.get('/asyncapi.json', (_req, res) => {
    res.json(asyncApi);
  });
  const v1 = Router();
  const authFailures = failedAuthLimit({ name: 'auth', capacity: c.RATE_LIMIT_AUTH_BURST, refillPerSecond: c.RATE_LIMIT_AUTH_PER_SECOND, now });
  v1.use(authFailures.gate);
  v1.use(authenticate(s.tenants, c.ADMIN_API_KEY, authFailures.charge));
  v1.use(rateLimit({ name: 'api', capacity: c.RATE_LIMIT_API_BURST, refillPerSecond: c.RATE_LIMIT_API_PER_SECOND, key: byPrincipal, now }));
  // The raw body is needed for the idempotency fingerprint: parse JSON before the check.
  v1.use(express.json({ limit: '1mb', type: 'application/json', verify: (req, _res, buf) => void ((req as Request & { rawBody?: Buffer }).rawBody = buf) }));
  v1.use(rejectDeepJson);
  apiLiveRoutes(v1, live, s.readModels, tenantOf, (keyId) => s.tenants.keyActive(keyId));
  // Idempotency-Key runs per route, after the route's access check (admin-only, tenant required)
  mount(v1, specs, {
    async waitFor(names, position, ms) {
      const runners = s.projections.filter((p) => names.includes(p.name));
      const deadline = Date.now() + ms;
      for (;;) {
        const positions = await Promise.all(runners.map((r) => r.position()));
        if (positions.every((p) => p !== null && comparePositions(p, position) >= 0)) return true;
        if (Date.now() >= deadline) return false;
        runners.forEach((r) => r.wakeForEvents());
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  }, idempotency(s.idempotency));
  // a documented path with a method it does not support: 405 with Allow (not 404)
  v1.use(methodNotAllowed(specs));
  app.use('/v1', v1);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
