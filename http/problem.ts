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
      type: `${PROBLEM_BASE}${p.slug}`,
      title: p.title,
      status: p.status,
      detail: p.detail,
      instance: req.originalUrl,
      requestId: res.locals.requestId,
      ...(p.errors.length > 0 ? { errors: p.errors } : {}),
      ...p.extra,
    });
}

export function notFound(req: Request, res: Response): void {
  sendProblem(req, res, new Problem(404, 'not-found', 'Not Found', `No route for ${req.method} ${req.path}`));
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
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
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
  req.log?.error({ err }, 'unhandled error');
  sendProblem(req, res, new Problem(500, 'internal', 'Internal Server Error', 'The request failed on our side; it is safe to retry.'));
}
