import type { NextFunction, Request, Response } from 'express';

/**
 * RFC 9457 problem details. `type` is a stable URI per kind of problem (documented in
 * docs/problems.md); `detail` is for humans; `errors` lists offending field paths.
 */
export interface ProblemField {
  readonly path: string;
  readonly message: string;
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly errors: readonly ProblemField[] = [],
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(detail);
  }
}

export const PROBLEM_BASE = 'https://settle.dev/problems/';

export function sendProblem(req: Request, res: Response, p: Problem): void {
  res
    .status(p.status)
    .type('application/problem+json')
    .json({
      // extension members first: they can never replace the RFC 9457 members below
      ...p.extra,
      type: `${PROBLEM_BASE}${p.slug}`,
      title: p.title,
      status: p.status,
      detail: p.detail,
      instance: req.originalUrl,
      requestId: res.locals.requestId as string | undefined, // set by requestContext; absent before it ran
      ...(p.errors.length > 0 ? { errors: p.errors } : {}),
    });
}

export function notFound(req: Request, res: Response): void {
  sendProblem(req, res, new Problem(404, 'not-found', 'Not Found', `No route for ${req.method} ${req.path}`));
}

/** Connection-class failures of PostgreSQL (SQLSTATE class 08, the 57P01-57P03 shutdown codes) and of the socket. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null | undefined; // anything can be thrown
  if (typeof e?.code === 'string' && (/^08/.test(e.code) || /^57P0[1-3]$/.test(e.code) || e.code === '53300' || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT)$/.test(e.code))) return true;
  return (
    typeof e?.message === 'string' &&
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|the database system is|Client was closed|terminating connection/i.test(e.message)
  );
}

/** Last error handler: known problems keep their status; body-parser errors become 4xx; the rest 500. */
export function errorHandler(err: unknown, req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) {
    next(err);
    return;
  }
  if (err instanceof Problem) {
    sendProblem(req, res, err);
    return;
  }
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string } | null | undefined; // anything can be thrown
  if (e && e.type === 'entity.parse.failed') {
    sendProblem(req, res, new Problem(400, 'malformed-json', 'Malformed JSON', `The request body is not valid JSON: ${e.message ?? ''}`));
    return;
  }
  if (e && e.type === 'entity.too.large') {
    sendProblem(req, res, new Problem(413, 'payload-too-large', 'Payload Too Large', 'The request body exceeds the size limit'));
    return;
  }
  if (e && e.type === 'encoding.unsupported') {
    sendProblem(req, res, new Problem(415, 'unsupported-encoding', 'Unsupported Encoding', e.message ?? 'unsupported body encoding'));
    return;
  }
  if (isDatabaseUnavailable(err)) {
    // the database is restarting or unreachable, or every pooled connection stayed busy past the
    // connection timeout (a burst larger than the pool): nothing was committed; the caller retries
    req.log?.warn({ err }, 'database unavailable');
    res.setHeader('Retry-After', '2');
    sendProblem(req, res, new Problem(503, 'database-unavailable', 'Service Unavailable', 'The database is unavailable or has no free connection; nothing was stored. Retry after the Retry-After delay (with the same Idempotency-Key).'));
    return;
  }
  req.log?.error({ err }, 'unhandled error');
  sendProblem(req, res, new Problem(500, 'internal', 'Internal Server Error', 'The request failed on our side; it is safe to retry.'));
}
