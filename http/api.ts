/**
 * Route definitions that validate and document themselves: each route names its zod body
 * schema, and the same schemas produce the OpenAPI 3.1 document served at /openapi.json.
 * Errors leave as problem+json: validation 422 with field paths, domain refusals 409/422 with
 * their stable code, concurrency 409, provider failures 402/502/503.
 */
import { UNSTORABLE_TEXT } from '../domain/ports/sql';
import { type NextFunction, type Request, type Response, type Router } from 'express';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConcurrencyConflict } from '../commands/handle';
import { ProviderError } from '../domain/ports/billingProvider';
import { formatPosition, type Position } from '../domain/ports/eventStore';
import { DomainRefusal } from '../domain/shared/decider';
import { requireAdmin, tenantOf } from './auth';
import { PROBLEM_BASE, Problem } from './problem';

export type Access = 'tenant' | 'admin';
export type ProblemStatus = 400 | 402 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 502 | 503;

/** The `:name` parameters of an Express path, e.g. `'bookingId' | 'step'` for `/bookings/:bookingId/:step`. */
export type PathParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}` ? Name | PathParamNames<`/${Rest}`> : P extends `${string}:${infer Name}` ? Name : never;

/** The parameters of a matched route: Express only matches the path when each one is present. */
export type PathParams<P extends string> = string extends P ? Readonly<Record<string, string>> : Readonly<Record<PathParamNames<P>, string>>;

export interface HandlerContext<B, P extends string = string> {
  readonly req: Request;
  readonly res: Response;
  readonly body: B;
  /** Validated query string (routes with a `query` schema). */
  readonly query: Record<string, unknown>;
  readonly params: PathParams<P>;
  /** The tenant the call acts for (tenant routes only). */
  readonly tenantId: string;
}

export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
  readonly revision?: bigint | null;
  readonly position?: Position | null;
}

export interface RouteSpec<S extends z.ZodType | undefined = z.ZodType | undefined, P extends string = string> {
  readonly method: 'get' | 'post' | 'patch' | 'delete';
  /** Express path below /v1, e.g. /bookings/:bookingId */
  readonly path: P;
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
  /**
   * The body of the success answer (null for 204): documented in /openapi.json, and every answer
   * is checked against it (a mismatch is logged as an error: the document would be lying).
   */
  readonly response: z.ZodType | null;
  /** Other success statuses the route can answer with the same body (e.g. 200 for a reused checkout). */
  readonly alsoSuccess?: readonly number[];
  /** The success body is also available as text/csv (Accept: text/csv or format=csv). */
  readonly csv?: z.ZodType;
  /**
   * Problems this route raises itself, by status: their `type` slugs (docs/problems.md); `'refusal'`
   * stands for the domain refusals of that status. Those of authentication, rate limits, the body,
   * the query, Idempotency-Key and the database are added from the route's shape.
   */
  readonly problems?: Readonly<Partial<Record<ProblemStatus, readonly string[]>>>;
  readonly handler: (ctx: HandlerContext<S extends z.ZodType ? z.infer<S> : undefined, P>) => Promise<Reply>;
}

/**
 * A route spec with its path's parameters in its handler's type. The spec is kept under the erased
 * `RouteSpec` type: `mount` hands the handler the body its own schema parsed and the parameters its
 * own path names (`routeParams`), which is what the precise type promised.
 */
export function route<S extends z.ZodType | undefined, const P extends string>(spec: RouteSpec<S, P>): RouteSpec {
  return spec as unknown as RouteSpec;
}

const PATH_PARAM = /:([A-Za-z]+)/g;

/**
 * The parameters a matched route's path names. Express matches the path only when each is present,
 * so one missing is a broken invariant (a 500), never the client's mistake.
 */
export function routeParams(path: string, params: Readonly<Record<string, unknown>>): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [, name = ''] of path.matchAll(PATH_PARAM)) {
    const value = params[name];
    if (typeof value !== 'string') throw new Error(`invariant: route ${path} matched without its :${name} parameter`);
    out[name] = value;
  }
  return out;
}

/**
 * The path of the first string PostgreSQL cannot store (NUL) or that is not valid Unicode (lone
 * surrogate). Iterative (an explicit stack, in document order), so no nesting depth can overflow it.
 */
export function unstorableText(value: unknown, path: string): string | null {
  const stack: Array<[unknown, string]> = [[value, path]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, p] = top;
    if (typeof v === 'string') {
      if (UNSTORABLE_TEXT.test(v)) return p;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${p}.${i}`]);
    } else if (v && typeof v === 'object') {
      const entries: Array<[string, unknown]> = Object.entries(v);
      for (const [k, child] of entries.reverse()) {
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

/** A finance report answered as CSV (http/routes/reports.ts): its body is the text, not the JSON document. */
function isCsv(reply: Reply): boolean {
  return (reply.body as { representation?: unknown } | undefined)?.representation === 'text/csv';
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
    const documented = successBody(spec);
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
        query = parsed.data;
      }
      const tenantId = spec.access === 'tenant' ? tenantOf(res) : ((res.locals.tenantId as string | undefined) ?? '');
      let stale = false;
      const minPosition = req.query.min_position;
      if (minPosition !== undefined && spec.reads && freshness) {
        const m = typeof minPosition === 'string' ? MIN_POSITION.exec(minPosition) : null;
        const [, commit, prepare] = m ?? [];
        if (commit === undefined || prepare === undefined) throw new Problem(422, 'validation-error', 'Validation Failed', 'min_position must be a position returned by a command, e.g. 812/33', [{ path: 'query.min_position', message: 'invalid position' }]);
        stale = !(await freshness.waitFor(spec.reads, { commit: BigInt(commit), prepare: BigInt(prepare) }, 2000));
        if (stale) res.setHeader('Settle-Stale', 'true');
      }
      let reply: Reply;
      try {
        reply = await spec.handler({ req, res, body: body, query, params: routeParams(spec.path, req.params), tenantId });
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
      if (documented && !isCsv(reply)) {
        // the answer must be what /openapi.json says: a mismatch is our bug, told loudly, never hidden from the caller
        const checked = documented.safeParse(out);
        if (!checked.success) req.log?.error({ operationId: spec.operationId, issues: checked.error.issues.slice(0, 5) }, 'answer does not match its documented response schema');
      }
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

/** The problems of a command that calls a payment provider (toProblem), merged with the route's own. */
export function PROVIDER_PROBLEMS(own: Partial<Record<ProblemStatus, readonly string[]>>): Partial<Record<ProblemStatus, readonly string[]>> {
  const provider: Partial<Record<ProblemStatus, readonly string[]>> = {
    402: ['payment-declined', 'payment-needs-action'],
    409: ['refusal', 'concurrency-conflict'],
    422: ['refusal', 'provider-rejected'],
    502: ['provider-auth'],
    503: ['provider-unavailable'],
  };
  const out: Partial<Record<ProblemStatus, readonly string[]>> = { ...provider };
  for (const [k, v] of Object.entries(own)) out[Number(k) as ProblemStatus] = [...(provider[Number(k) as ProblemStatus] ?? []), ...v];
  return out;
}

const IDEMPOTENCY_KEY_PATTERN = '^[\\x21-\\x7e]{1,255}$';
const MIN_POSITION_PATTERN = '^\\d{1,20}/\\d{1,20}$';

/** The problem types a route can answer, by status: its own and those its shape implies. */
export function problemsOf(s: RouteSpec): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  const add = (status: number, ...types: string[]) => {
    const set = out.get(status) ?? new Set<string>();
    types.forEach((t) => set.add(t));
    out.set(status, set);
  };
  add(401, 'unauthorized');
  add(429, 'rate-limited');
  add(503, 'database-unavailable');
  // the admin key naming an unknown tenant in Settle-Tenant
  add(404, 'tenant-not-found');
  if (s.access === 'admin') add(403, 'forbidden');
  else add(400, 'tenant-required');
  if (s.method === 'post') {
    add(400, 'invalid-idempotency-key');
    add(409, 'idempotency-key-in-use');
    add(422, 'idempotency-key-reused');
  }
  if (s.body) {
    add(400, 'malformed-json', 'json-too-deep');
    add(413, 'payload-too-large');
    add(415, 'unsupported-media-type', 'unsupported-encoding');
    add(422, 'validation-error');
  }
  if (s.query || s.reads) add(422, 'validation-error');
  for (const [status, types] of Object.entries(s.problems ?? {})) add(Number(status), ...types);
  return out;
}

const TITLES: Record<number, string> = {
  304: 'Not Modified: the representation still has the ETag sent in If-None-Match',
  400: 'Bad Request',
  401: 'Unauthorized: no bearer key, or an unknown or revoked one',
  402: 'Payment Failed: the provider declined the payment or needs the payer to act',
  403: 'Forbidden: the admin key is needed',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large (over 1 MB)',
  415: 'Unsupported Media Type: send application/json (UTF-8)',
  422: 'Unprocessable: validation, Idempotency-Key reuse or a domain refusal',
  429: 'Too Many Requests',
  502: 'The payment provider refused our credentials',
  503: 'Service Unavailable: the database or the payment provider',
};

const header = (description: string, schema: Record<string, unknown> = { type: 'string' }) => ({ description, schema });

function problemResponse(status: number, types: Set<string>): Record<string, unknown> {
  const refusal = types.has('refusal');
  const named = [...types].filter((t) => t !== 'refusal').sort();
  const typeSchema = refusal ? { type: 'string', format: 'uri' } : { type: 'string', enum: named.map((t) => `${PROBLEM_BASE}${t}`) };
  const headers: Record<string, unknown> = {};
  if (status === 401) headers['WWW-Authenticate'] = header('Bearer challenge', { type: 'string', pattern: '^Bearer' });
  if (status === 429 || status === 503) headers['Retry-After'] = header('Seconds to wait before retrying', { type: 'string', pattern: '^\\d+$' });
  if (status === 409 && named.includes('idempotency-key-in-use')) headers['Retry-After'] = header('With idempotency-key-in-use: seconds to wait', { type: 'string', pattern: '^\\d+$' });
  return {
    description: `${TITLES[status] ?? 'Problem'}. Problem types: ${[...named.map((t) => `\`${t}\``), ...(refusal ? ['a domain refusal (its `code` in kebab-case, see docs/problems.md)'] : [])].join(', ')}`,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: { 'application/problem+json': { schema: { allOf: [{ $ref: '#/components/schemas/Problem' }, { type: 'object', properties: { status: { const: status }, type: typeSchema } }] } } },
  };
}

/** The documented success body: the route's schema plus what mount() adds (revision, position, stale). */
function successBody(s: RouteSpec): z.ZodType | null {
  if (!s.response) return null;
  if (!(s.response instanceof z.ZodObject)) return s.response;
  let body = s.response;
  if (s.method !== 'get') body = body.extend({ revision: z.string().nullable().optional().meta({ description: 'The stream revision after the command' }), position: z.string().nullable().optional().meta({ description: 'Pass as min_position to read your write' }) });
  if (s.reads) body = body.extend({ stale: z.literal(true).optional().meta({ description: 'The read model had not reached min_position within 2 s' }) });
  return body;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io }) as Record<string, unknown>;
  return rest;
}

/**
 * OpenAPI 3.1, generated from the same route specs and zod schemas that validate requests
 * (`io: 'input'`: a field with a default is optional) and that every answer is checked against.
 */
export function openApiDocument(specs: readonly RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const s of specs) {
    const path = `/v1${s.path}`.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...s.path.matchAll(PATH_PARAM)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string', minLength: 1 } }));
    const query = s.query ? (jsonSchema(s.query, 'input') as { properties?: Record<string, unknown>; required?: string[] }) : null;
    const success = successBody(s);
    const successHeaders: Record<string, unknown> = {};
    if (s.method === 'get') {
      successHeaders.ETag = header('Weak validator of the representation; send it back in If-None-Match');
      successHeaders['Cache-Control'] = header('private, no-cache');
    } else {
      successHeaders['Settle-Revision'] = header('The stream revision after the command', { type: 'string', pattern: '^\\d+$' });
      successHeaders['Settle-Position'] = header('The global position of the append; pass it as min_position to read your write', { type: 'string', pattern: MIN_POSITION_PATTERN });
    }
    if (s.method === 'post') successHeaders['Idempotent-Replayed'] = header('true when this is the stored answer of an earlier request with the same Idempotency-Key', { type: 'string', enum: ['true'] });
    if (s.reads) successHeaders['Settle-Stale'] = header('true when the read model had not reached min_position within 2 s', { type: 'string', enum: ['true'] });
    const content: Record<string, unknown> = {};
    if (success) content['application/json'] = { schema: jsonSchema(success, 'output') };
    if (s.csv) content['text/csv'] = { schema: jsonSchema(s.csv, 'output') };
    const okResponse = { description: 'Success', headers: successHeaders, ...(s.success === 204 ? {} : { content }) };
    const responses: Record<string, unknown> = {};
    for (const status of [s.success, ...(s.alsoSuccess ?? [])]) responses[String(status)] = okResponse;
    if (s.method === 'get') responses['304'] = { description: TITLES[304], headers: { ETag: successHeaders.ETag } };
    for (const [status, types] of [...problemsOf(s)].sort(([a], [b]) => a - b)) responses[String(status)] = problemResponse(status, types);
    const op: Record<string, unknown> = {
      operationId: s.operationId,
      summary: s.summary,
      tags: [s.tag],
      security: [{ bearer: [] }],
      parameters: [
        ...params,
        ...(s.method === 'post'
          ? [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN, minLength: 1, maxLength: 255 }, description: '1 to 255 visible ASCII characters. Replays the first response for 24 h; 422 when reused with another body.' }]
          : []),
        ...(query ? Object.entries(query.properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: (query.required ?? []).includes(name), schema })) : []),
        ...(s.reads ? [{ name: 'min_position', in: 'query', required: false, schema: { type: 'string', pattern: MIN_POSITION_PATTERN }, description: 'A position returned by a command: wait up to 2 s for the read model to include it, else the answer carries Settle-Stale: true.' }] : []),
        ...(s.method === 'get' ? [{ name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'An ETag of an earlier answer: 304 while it still matches.' }] : []),
        ...(s.access === 'tenant' ? [{ name: 'Settle-Tenant', in: 'header', required: false, schema: { type: 'string' }, description: 'Admin key only: the tenant to act for.' }] : []),
      ],
      responses,
    };
    if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(s.body, 'input') } } };
    paths[path] = { ...(paths[path] ?? {}), [s.method]: op };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Settle API',
      version,
      description:
        'Commands and queries for bookings, departures, subscriptions, plans and invoices. Money is integer minor units plus ISO 4217 currency. Errors are RFC 9457 problem+json (docs/problems.md). A method a path does not support answers 405 with `Allow`.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A tenant API key, or the admin key' } },
      schemas: {
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string', format: 'uri' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            requestId: { type: 'string' },
            code: { type: 'string', description: 'Domain refusals: the refusal code (snake_case)' },
            errors: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
    },
    paths,
  };
}

/** The methods each documented /v1 path answers, for 405 with Allow (an unsupported method on a known path). */
export function methodNotAllowed(specs: readonly RouteSpec[]): Middleware {
  const patterns = specs.map((s) => ({ re: new RegExp(`^${s.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}/?$`), method: s.method.toUpperCase() }));
  return (req, res, next) => {
    const allowed = new Set(patterns.filter((p) => p.re.test(req.path)).map((p) => p.method));
    if (allowed.size === 0 || allowed.has(req.method) || (req.method === 'HEAD' && allowed.has('GET'))) { next(); return; }
    if (allowed.has('GET')) allowed.add('HEAD');
    const allow = [...allowed].sort().join(', ');
    res.setHeader('Allow', allow);
    throw new Problem(405, 'method-not-allowed', 'Method Not Allowed', `${req.method} is not supported on this path; use ${allow}`);
  };
}
