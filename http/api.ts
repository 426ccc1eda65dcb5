/**
 * Route definitions that validate and document themselves: each route names its zod body
 * schema, and the same schemas produce the OpenAPI 3.1 document served at /openapi.json.
 * Errors leave as problem+json: validation 422 with field paths, domain refusals 409/422 with
 * their stable code, concurrency 409, provider failures 402/502/503.
 */
import { UNSTORABLE_TEXT } from '../infrastructure/sql/client';
import { type NextFunction, type Request, type Response, type Router } from 'express';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConcurrencyConflict } from '../commands/handle';
import { ProviderError } from '../domain/ports/billingProvider';
import { formatPosition, type Position } from '../domain/ports/eventStore';
import { DomainRefusal } from '../domain/shared/decider';
import { requireAdmin, tenantOf } from './auth';
import { Problem } from './problem';

export type Access = 'tenant' | 'admin';

export interface HandlerContext<B> {
  readonly req: Request;
  readonly res: Response;
  readonly body: B;
  /** Validated query string (routes with a `query` schema). */
  readonly query: Record<string, unknown>;
  readonly params: Record<string, string>;
  /** The tenant the call acts for (tenant routes only). */
  readonly tenantId: string;
}

export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
  readonly revision?: bigint | null;
  readonly position?: Position | null;
}

export interface RouteSpec<S extends z.ZodType | undefined = z.ZodType | undefined> {
  readonly method: 'get' | 'post' | 'patch' | 'delete';
  /** Express path below /v1, e.g. /bookings/:bookingId */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly access: Access;
  readonly body?: S;
  /** Query-string schema (GET routes). */
  readonly query?: z.ZodObject;
  /**
   * Read models this route reads: `min_position` waits (up to 2 s) for them to reach a position a
   * command returned, else the answer says it is stale.
   */
  readonly reads?: readonly string[];
  readonly success: number;
  readonly handler: (ctx: HandlerContext<S extends z.ZodType ? z.infer<S> : undefined>) => Promise<Reply>;
}

export function route<S extends z.ZodType | undefined>(spec: RouteSpec<S>): RouteSpec {
  return spec as unknown as RouteSpec;
}

/**
 * The path of the first string PostgreSQL cannot store (NUL) or that is not valid Unicode (lone
 * surrogate). Iterative (an explicit stack, in document order), so no nesting depth can overflow it.
 */
export function unstorableText(value: unknown, path: string): string | null {
  const stack: Array<[unknown, string]> = [[value, path]];
  while (stack.length > 0) {
    const [v, p] = stack.pop()!;
    if (typeof v === 'string') {
      if (UNSTORABLE_TEXT.test(v)) return p;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${p}.${i}`]);
    } else if (v && typeof v === 'object') {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i]!;
        stack.push([child, `${p}.${k}`], [k, p]); // the key is checked before its value
      }
    }
  }
  return null;
}

export function validationProblem(error: z.ZodError, where: 'body' | 'params' | 'query'): Problem {
  const errors = error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  return new Problem(422, 'validation-error', 'Validation Failed', `The request ${where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
}

export function toProblem(err: unknown): Problem | null {
  if (err instanceof Problem) return err;
  if (err instanceof DomainRefusal) {
    const field = typeof err.details.field === 'string' ? [{ path: `body.${err.details.field}`, message: err.message }] : [];
    const extra = Object.fromEntries(Object.entries(err.details).filter(([k]) => k !== 'field'));
    return new Problem(err.kind === 'conflict' ? 409 : 422, err.code.replace(/_/g, '-'), err.kind === 'conflict' ? 'Conflict' : 'Unprocessable', err.message, field, { code: err.code, ...extra });
  }
  if (err instanceof ConcurrencyConflict) return new Problem(409, 'concurrency-conflict', 'Conflict', err.message);
  if (err instanceof ProviderError) {
    switch (err.kind) {
      case 'declined':
      case 'needs_action':
        return new Problem(402, `payment-${err.kind.replace('_', '-')}`, 'Payment Failed', err.message, [], { code: err.code, declineCode: err.declineCode });
      case 'retryable':
      case 'unavailable':
        return new Problem(503, 'provider-unavailable', 'Provider Unavailable', `The payment provider could not be reached: ${err.message}. Retry with the same Idempotency-Key.`);
      case 'invalid':
        return new Problem(422, 'provider-rejected', 'Rejected By Provider', err.message, [], { code: err.code });
      case 'auth':
        return new Problem(502, 'provider-auth', 'Provider Authentication Failed', 'The payment provider refused our credentials; operators have been told.');
    }
  }
  return null;
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

export interface Freshness {
  /** Waits until every named projection passed `position`, up to `ms`; says whether they did. */
  waitFor(projections: readonly string[], position: Position, ms: number): Promise<boolean>;
}

const MIN_POSITION = /^(\d{1,20})\/(\d{1,20})$/;

type Middleware = (req: Request, res: Response, next: NextFunction) => unknown;

/**
 * `beforeCommand`: runs on every POST route after its access check (admin-only routes: the admin
 * key; tenant routes: a tenant to act for), before the body is validated: the Idempotency-Key
 * check, so a stored response is replayed only to a caller allowed to make the request.
 */
export function mount(router: Router, specs: readonly RouteSpec[], freshness?: Freshness, beforeCommand?: Middleware): void {
  for (const spec of specs) {
    const chain: Middleware[] = [];
    if (spec.access === 'admin') chain.push(requireAdmin);
    if (spec.method === 'post' && beforeCommand) {
      if (spec.access === 'tenant') {
        chain.push((_req, res, next) => {
          tenantOf(res);
          next();
        });
      }
      chain.push(beforeCommand);
    }
    if (spec.body) {
      chain.push((req, _res, next) => {
        if (!req.is('application/json')) throw new Problem(415, 'unsupported-media-type', 'Unsupported Media Type', 'Send the body as application/json');
        next();
      });
    }
    router[spec.method](spec.path, ...chain, async (req: Request, res: Response) => {
      let body: unknown = undefined;
      if (spec.body) {
        const bad = unstorableText(req.body, 'body');
        if (bad) throw new Problem(422, 'validation-error', 'Validation Failed', `${bad}: text must not contain NUL characters or unpaired UTF-16 surrogates`, [{ path: bad, message: 'contains characters that cannot be stored' }]);
        const parsed = spec.body.safeParse(req.body ?? {});
        if (!parsed.success) throw validationProblem(parsed.error, 'body');
        body = parsed.data;
      }
      let query: Record<string, unknown> = {};
      if (spec.query) {
        const { min_position: _mp, ...rest } = req.query as Record<string, unknown>;
        const parsed = spec.query.safeParse(rest);
        if (!parsed.success) throw validationProblem(parsed.error, 'query');
        query = parsed.data as Record<string, unknown>;
      }
      const tenantId = spec.access === 'tenant' ? tenantOf(res) : ((res.locals.tenantId as string | undefined) ?? '');
      let stale = false;
      const minPosition = req.query.min_position;
      if (minPosition !== undefined && spec.reads && freshness) {
        const m = typeof minPosition === 'string' ? MIN_POSITION.exec(minPosition) : null;
        if (!m) throw new Problem(422, 'validation-error', 'Validation Failed', 'min_position must be a position returned by a command, e.g. 812/33', [{ path: 'query.min_position', message: 'invalid position' }]);
        stale = !(await freshness.waitFor(spec.reads, { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) }, 2000));
        if (stale) res.setHeader('Settle-Stale', 'true');
      }
      let reply: Reply;
      try {
        reply = await spec.handler({ req, res, body: body as never, query, params: req.params as Record<string, string>, tenantId });
      } catch (err) {
        const p = toProblem(err);
        if (p) throw p;
        throw err;
      }
      const status = reply.status ?? spec.success;
      if (reply.revision !== undefined && reply.revision !== null) res.setHeader('Settle-Revision', reply.revision.toString());
      if (reply.position) res.setHeader('Settle-Position', formatPosition(reply.position));
      if (status === 204) {
        res.status(204).end();
        return;
      }
      const payload = {
        ...(reply.body as Record<string, unknown>),
        ...(reply.revision !== undefined ? { revision: reply.revision === null ? null : reply.revision.toString() } : {}),
        ...(reply.position !== undefined ? { position: reply.position ? formatPosition(reply.position) : null } : {}),
      };
      const out = JSON.parse(JSON.stringify(stale ? { ...payload, stale: true } : payload, bigintSafe)) as unknown;
      if (spec.method === 'get') {
        // ETag over the representation; If-None-Match answers 304 without a body.
        const etag = `W/"${createHash('sha1').update(JSON.stringify(out)).digest('base64url')}"`;
        res.setHeader('ETag', etag);
        res.setHeader('Cache-Control', 'private, no-cache');
        const inm = req.get('if-none-match');
        if (inm && inm.split(/\s*,\s*/).includes(etag) && !stale) {
          res.status(304).end();
          return;
        }
      }
      res.status(status).json(out);
    });
  }
}

/** OpenAPI 3.1, generated from the same route specs and zod schemas that validate requests. */
export function openApiDocument(specs: readonly RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const problem = { $ref: '#/components/responses/Problem' };
  for (const s of specs) {
    const path = `/v1${s.path}`.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...s.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const op: Record<string, unknown> = {
      operationId: s.operationId,
      summary: s.summary,
      tags: [s.tag],
      security: [{ bearer: [] }],
      parameters: [
        ...params,
        ...(s.method === 'post' ? [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 }, description: 'Replays the first response for 24 h; 422 when reused with another body.' }] : []),
        ...(s.query ? Object.entries((z.toJSONSchema(s.query, { unrepresentable: 'any' }) as { properties?: Record<string, unknown> }).properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema })) : []),
        ...(s.reads ? [{ name: 'min_position', in: 'query', required: false, schema: { type: 'string', pattern: '^\\d+/\\d+$' }, description: 'A position returned by a command: wait up to 2 s for the read model to include it, else the answer carries Settle-Stale: true.' }] : []),
        ...(s.access === 'tenant' ? [{ name: 'Settle-Tenant', in: 'header', required: false, schema: { type: 'string' }, description: 'Admin key only: the tenant to act for.' }] : []),
      ],
      responses: {
        [String(s.success)]: { description: 'Success', ...(s.success === 204 ? {} : { content: { 'application/json': { schema: { type: 'object' } } } }) },
        '400': problem,
        '401': problem,
        '404': problem,
        '409': problem,
        '422': problem,
      },
    };
    if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: z.toJSONSchema(s.body, { target: 'draft-2020-12', unrepresentable: 'any' }) } } };
    paths[path] = { ...(paths[path] ?? {}), [s.method]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Settle API', version, description: 'Commands and queries for bookings, departures, subscriptions, plans and invoices. Money is integer minor units plus ISO 4217 currency.' },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A tenant API key, or the admin key' } },
      responses: {
        Problem: {
          description: 'RFC 9457 problem details',
          content: {
            'application/problem+json': {
              schema: {
                type: 'object',
                required: ['type', 'title', 'status', 'detail'],
                properties: {
                  type: { type: 'string', format: 'uri' },
                  title: { type: 'string' },
                  status: { type: 'integer' },
                  detail: { type: 'string' },
                  instance: { type: 'string' },
                  requestId: { type: 'string' },
                  errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
                },
              },
            },
          },
        },
      },
    },
    paths,
  };
}
