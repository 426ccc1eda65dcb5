import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import pinoHttp from 'pino-http';
import type { Logger } from 'pino';
import type { HttpMetrics, RunWithContext } from './services';

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Binds a request id (X-Request-Id, or a new UUID) and a correlation id (X-Correlation-Id, or the
 * request id) to the request: echoed in response headers, stored in the async context so every
 * log line and every appended event carries them.
 */
export function requestContext(runWithContext: RunWithContext) {
  return (req: Request, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    const requestId = given && ID.test(given) ? given : randomUUID();
    const corr = req.get('x-correlation-id');
    const correlationId = corr && ID.test(corr) ? corr : requestId;
    res.locals.requestId = requestId;
    res.locals.correlationId = correlationId;
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Correlation-Id', correlationId);
    runWithContext({ requestId, correlationId }, () => next());
  };
}

const LOGGED_HEADERS = new Set(['host', 'user-agent', 'content-type', 'content-length', 'accept', 'x-request-id', 'x-correlation-id', 'idempotency-key', 'settle-tenant', 'if-none-match']);

/**
 * The URL as logged. Payer routes carry credentials in the query string (a payer link's `sig` and
 * `expires`, PayPal's return `token` and `PayerID`): their query is never logged.
 */
export function loggedUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const path = url.slice(0, q);
  return path === '/pay' || path.startsWith('/pay/') ? `${path}?[redacted]` : url;
}

export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId: (_req, res) => (res as Response).locals?.requestId ?? randomUUID(),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
    serializers: {
      // an allowlist, not a blocklist: a credential in a header Settle does not know is never logged
      req: (req: { method: string; url: string; headers: Record<string, unknown> }) => ({
        method: req.method,
        url: loggedUrl(req.url),
        headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => LOGGED_HEADERS.has(k.toLowerCase()))),
      }),
    },
  });
}

export function httpMetrics(metrics: HttpMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const end = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      // route template, never the raw URL: ids in paths would explode the label set
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const labels = { method: req.method, route, status: String(res.statusCode) };
      end(labels);
      metrics.httpRequests.inc(labels);
    });
    next();
  };
}

/**
 * Conservative security headers for an API (and the payer pages): no sniffing, no framing, no
 * referrer leaks, HSTS when the request arrived over TLS.
 */
export function securityHeaders() {
  return (req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; style-src 'self' 'unsafe-inline'");
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    if (req.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    next();
  };
}
