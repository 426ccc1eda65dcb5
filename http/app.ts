import express, { type Express } from 'express';
import type { Runtime } from '../infrastructure/runtime';
import { healthRoutes } from './health';
import { httpMetrics, requestContext, requestLogger } from './middleware';
import { errorHandler, notFound } from './problem';

export interface AppOptions {
  isShuttingDown?: () => boolean;
}

/** The Express application: routing, context, logging, metrics and problem+json errors only. */
export function createApp(rt: Runtime, opts: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(requestContext());
  app.use(requestLogger(rt.logger));
  app.use(httpMetrics(rt.metrics));
  app.use(healthRoutes(rt, opts.isShuttingDown ?? (() => false)));
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
