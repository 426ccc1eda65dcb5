import { Router, type Request, type Response } from 'express';
import { constantTimeEqual } from '../domain/shared/constantTime';
import { Problem } from './problem';
import { byIp, rateLimit } from './rateLimit';
import type { MetricsExposition, ReadinessSource } from './services';

/**
 * Liveness and readiness on the public port. /healthz touches nothing (no database): the process
 * answers. /readyz is rate-limited per client IP and its database and bus probes are shared and
 * reused for a second (infrastructure/observability/readiness.ts), so a flood of probes costs at most one query a second.
 */
export function healthRoutes(probe: ReadinessSource, limits: { RATE_LIMIT_HEALTH_BURST: number; RATE_LIMIT_HEALTH_PER_SECOND: number }, isShuttingDown: () => boolean, now?: () => number): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const limit = rateLimit({ name: 'health', capacity: limits.RATE_LIMIT_HEALTH_BURST, refillPerSecond: limits.RATE_LIMIT_HEALTH_PER_SECOND, key: byIp, now });
  r.get('/readyz', limit, async (_req, res) => {
    if (isShuttingDown()) {
      res.status(503).json({ status: 'unavailable', checks: { shutdown: { ok: false, detail: 'shutting down' } } });
      return;
    }
    const readiness = await probe.readiness();
    res.status(readiness.status === 'unavailable' ? 503 : 200).json(readiness);
  });
  return r;
}

/**
 * Prometheus metrics. They show internal state (tenant-free but operational), and some gauges
 * query the database (cached, see main/compose.ts): never open to anyone on the public port. With
 * METRICS_TOKEN set, a scrape must send `Authorization: Bearer <METRICS_TOKEN>` (on the public
 * port and on the METRICS_PORT listener alike); the public port serves /metrics only then.
 */
export function metricsRoutes(metrics: MetricsExposition, token: string | undefined): Router {
  const r = Router();
  r.get('/metrics', async (req: Request, res: Response) => {
    if (token) {
      const presented = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
      if (presented === undefined || !constantTimeEqual(presented, token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new Problem(401, 'unauthorized', 'Unauthorized', 'Scrape /metrics with "Authorization: Bearer <METRICS_TOKEN>"');
      }
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return r;
}
