import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { HttpMetrics, RunWithContext } from './services';

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's logger (requestLogger): every line names the request. */
    log?: Logger;
  }
}

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

/** The request as logged: method, URL (`loggedUrl`) and the allowlisted headers only. */
function loggedRequest(req: Request): { method: string; url: string; headers: Record<string, unknown> } {
  const headers: Record<string, unknown> = {};
  for (const k of Object.keys(req.headers)) if (LOGGED_HEADERS.has(k.toLowerCase())) headers[k] = req.headers[k];
  return { method: req.method, url: loggedUrl(req.originalUrl), headers };
}

const NOT_LOGGED = new Set(['/healthz', '/metrics']);

const ROOT = Symbol('requestLogger.root');
const BOUND = Symbol('requestLogger.bound');
type Lazy = Request & { [ROOT]?: Logger; [BOUND]?: Logger };
/**
 * `req.log`, defined once on the requests' prototype (a getter defined on each request would
 * turn every request object into a slow dictionary): the child logger bound to this request,
 * made on first use from the logger requestLogger left on it.
 */
const LAZY_LOG: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: Lazy): Logger | undefined {
    const root = this[ROOT];
    return root && (this[BOUND] ??= root.child({ req: loggedRequest(this) }));
  },
};

/**
 * One line per request when it ends (`request completed`, `request aborted` or `request errored`,
 * with `req`, `res`, `responseTime` and `err`), at info, warn for 4xx, error for 5xx; /healthz and
 * /metrics are not logged. `req.log` is a child logger bound to the request, made on first use.
 *
 * Nothing is serialized unless a line is written: at the default level a webhook costs one line,
 * and at `warn` a 200 costs nothing (a child logger per request, as pino-http binds one, serializes
 * and redacts the request at once whether or not anything is ever logged).
 */
export function requestLogger(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = Date.now();
    (req as Lazy)[ROOT] = logger;
    const proto = Object.getPrototypeOf(req) as object;
    if (!Object.prototype.hasOwnProperty.call(proto, 'log')) Object.defineProperty(proto, 'log', LAZY_LOG);
    if (!NOT_LOGGED.has(req.url)) {
      const done = (err?: unknown) => {
        res.off('close', done).off('finish', done).off('error', done);
        const failed = err instanceof Error ? err : res.statusCode >= 500 ? new Error(`failed with status code ${res.statusCode}`) : undefined;
        const level = failed ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
        if (!logger.isLevelEnabled(level)) return;
        const fields = {
          res: { statusCode: res.headersSent ? res.statusCode : null, headers: res.getHeaders() },
          responseTime: Date.now() - started,
          ...(failed ? { err: failed } : {}),
        };
        (req.log as Logger)[level](fields, failed ? 'request errored' : !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted');
      };
      res.on('close', done).on('finish', done).on('error', done);
    }
    next();
  };
}

export function httpMetrics(metrics: HttpMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const end = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      // route template, never the raw URL: ids in paths would explode the label set
      const matched = req.route as { path?: unknown } | undefined; // Express types the matched route as any
      const route = typeof matched?.path === 'string' && matched.path ? `${req.baseUrl}${matched.path}` : 'unmatched';
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
