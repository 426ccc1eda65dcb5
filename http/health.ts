import { Router } from 'express';
import type { Runtime } from '../infrastructure/runtime';

/** Liveness, readiness and Prometheus metrics. */
export function healthRoutes(rt: Runtime, isShuttingDown: () => boolean): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    if (isShuttingDown()) {
      res.status(503).json({ status: 'unavailable', checks: { shutdown: { ok: false, detail: 'shutting down' } } });
      return;
    }
    const readiness = await rt.readiness();
    res.status(readiness.status === 'unavailable' ? 503 : 200).json(readiness);
  });
  r.get('/metrics', async (_req, res) => {
    res.type(rt.metrics.registry.contentType).send(await rt.metrics.registry.metrics());
  });
  return r;
}
