import { createHash } from 'node:crypto';
import type { Clock } from '../domain/ports/clock';
import express, { Router, type Express, type Request, type Response } from 'express';
import { BookingCommands } from '../commands/bookings';
import type { CommandContext } from '../commands/handle';
import type { Runtime } from '../infrastructure/runtime';
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
import { scheduleBulkCrmRetry } from '../commands/bulkRetry';
import { billingRoutes } from './routes/billing';
import { queryRoutes } from './routes/queries';
import { reportRoutes } from './routes/reports';
import { payerLinkRoutes } from './routes/payerLinks';
import { payerReturnPage } from './payerLinks';
import { ReadModels } from '../projections/queries';
import { comparePositions } from '../domain/ports/eventStore';
import { InvoiceCommands } from '../commands/invoices';
import { SubscriptionCommands } from '../commands/subscriptions';
import { InvoicePaymentCommands } from '../commands/invoicePayments';

export interface AppOptions {
  isShuttingDown?: () => boolean;
  /** Milliseconds clock of the rate limiters (tests inject one). */
  now?: () => number;
}

/** Builds the command context of a request: tenant, ids for tracing, deterministic id seed, actor, time. */
/** The command context of an API request; `now` from the runtime's Clock. */
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

export function apiRoutes(rt: Runtime): RouteSpec[] {
  const contextFor = contextWith(rt.clock);
  const bookings = new BookingCommands(rt.eventStore, rt.provider);
  const subscriptions = new SubscriptionCommands(rt.eventStore, rt.provider, { sessionTtlSeconds: rt.config.CHECKOUT_SESSION_TTL_SECONDS, clock: rt.clock });
  const invoices = new InvoiceCommands(rt.eventStore, rt.provider, rt.connectedAccounts);
  return [
    ...adminRoutes(rt.tenants, rt.connectedAccounts),
    ...bookingRoutes(bookings, contextFor, rt.crmSaga ? bulkRetry(rt) : undefined),
    ...billingRoutes(subscriptions, invoices, new InvoicePaymentCommands(rt.eventStore, rt.connectedAccounts, rt.invoicePaymentGateways, rt.config.PUBLIC_BASE_URL, payerReturnPage(rt.config.PUBLIC_BASE_URL, () => rt.payerLinkSecret, rt.config.PAYER_LINK_TTL_SECONDS)), contextFor),
    ...queryRoutes(new ReadModels(rt.db, rt.clock)),
    ...reportRoutes({ db: rt.db }),
    ...adminProjectionRoutes(rt),
    ...adminReconciliationRoutes({
      start: (req) => rt.reconciler.start(req),
      get: (runId) => rt.reconciliationRuns.get(runId),
      list: (opts) => rt.reconciliationRuns.list(opts),
      tenantExists: async (tenantId) => (await rt.tenants.getTenant(tenantId)) !== null,
    }),
    ...payerLinkRoutes({ store: rt.eventStore, secret: () => rt.payerLinkSecret, publicBaseUrl: rt.config.PUBLIC_BASE_URL, defaultTtlSeconds: rt.config.PAYER_LINK_TTL_SECONDS }),
  ];
}

function bulkRetry(rt: Runtime): BulkRetryDeps {
  return {
    async needingAttention(tenantId) {
      const { rows } = await rt.db.query<{ booking_id: string }>(`SELECT booking_id FROM bookings WHERE tenant_id = $1 AND needs_attention ORDER BY updated_at`, [tenantId]);
      return rows.map((r) => r.booking_id);
    },
    schedule: (tenantId, ids, correlationId, requestId) => scheduleBulkCrmRetry(rt.relay, tenantId, ids, { correlationId, requestId, now: rt.clock.now() }),
  };
}

/** The /metrics listener of METRICS_PORT (bound to METRICS_HOST, loopback by default). */
export function createMetricsApp(rt: Runtime): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestContext());
  app.use(metricsRoutes(rt, rt.config.METRICS_TOKEN));
  app.use(notFound);
  app.use(errorHandler);
  return app;
}

/** The Express application: routing, context, logging, metrics and problem+json errors only. */
export function createApp(rt: Runtime, opts: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // which peers may set X-Forwarded-For/-Proto (TRUST_PROXY): req.ip, req.secure (Secure cookies, HSTS) follow it
  app.set('trust proxy', rt.config.TRUST_PROXY);
  app.use(requestContext());
  app.use(securityHeaders());
  app.use(requestLogger(rt.logger));
  app.use(httpMetrics(rt.metrics));
  // Rate limits (per process): public payer pages per IP; webhooks per source IP, generous (a 429
  // makes the provider retry); the API: failed authentication per IP before the key lookup (floods
  // of made-up keys never reach it), then per verified key id.
  const c = rt.config;
  const now = opts.now;
  app.use('/pay', rateLimit({ name: 'public', capacity: c.RATE_LIMIT_PUBLIC_BURST, refillPerSecond: c.RATE_LIMIT_PUBLIC_PER_SECOND, key: byIp, now }));
  app.use('/webhooks', rateLimit({ name: 'webhooks', capacity: c.RATE_LIMIT_WEBHOOK_BURST, refillPerSecond: c.RATE_LIMIT_WEBHOOK_PER_SECOND, key: byIp, now }));
  app.use(healthRoutes(rt, opts.isShuttingDown ?? (() => false), now));
  // /metrics on the public port only behind METRICS_TOKEN (else 404; METRICS_PORT serves it on its own listener)
  if (c.METRICS_TOKEN) app.use(metricsRoutes(rt, c.METRICS_TOKEN));
  // live status streams (server-sent events) fed by the projections; closed at shutdown
  const live = new LiveStatusHub(rt.readModelChanges, rt.metrics, { heartbeatMs: c.LIVE_HEARTBEAT_SECONDS * 1000, perPrincipal: c.LIVE_STREAMS_PER_PRINCIPAL, perIp: c.LIVE_STREAMS_PER_IP });
  app.locals.liveHub = live;
  app.use(payRoutes(rt, live));
  app.use(consoleRoutes({ rt, hub: live }));
  app.use(webhookRoutes({ config: rt.config, ingestor: rt.ingestor, metrics: rt.metrics, paypalVerifier: rt.paypalVerifier, paypalTransmissions: rt.paypalTransmissions }));
  const specs = apiRoutes(rt);
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
  v1.use(authenticate(rt.tenants, c.ADMIN_API_KEY, authFailures.charge));
  v1.use(rateLimit({ name: 'api', capacity: c.RATE_LIMIT_API_BURST, refillPerSecond: c.RATE_LIMIT_API_PER_SECOND, key: byPrincipal, now }));
  // The raw body is needed for the idempotency fingerprint: parse JSON before the check.
  v1.use(express.json({ limit: '1mb', type: 'application/json', verify: (req, _res, buf) => void ((req as Request & { rawBody?: Buffer }).rawBody = buf) }));
  v1.use(rejectDeepJson);
  apiLiveRoutes(v1, live, new ReadModels(rt.db, rt.clock), tenantOf, (keyId) => rt.tenants.keyActive(keyId));
  // Idempotency-Key runs per route, after the route's access check (admin-only, tenant required)
  mount(v1, specs, {
    async waitFor(names, position, ms) {
      const runners = rt.projections.filter((p) => names.includes(p.def.name));
      const deadline = Date.now() + ms;
      for (;;) {
        const positions = await Promise.all(runners.map((r) => r.position()));
        if (positions.every((p) => p !== null && comparePositions(p, position) >= 0)) return true;
        if (Date.now() >= deadline) return false;
        runners.forEach((r) => r.wakeForEvents());
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  }, idempotency(rt.idempotency));
  // a documented path with a method it does not support: 405 with Allow (not 404)
  v1.use(methodNotAllowed(specs));
  app.use('/v1', v1);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
