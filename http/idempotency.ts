import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { IdempotencyStore } from '../domain/ports/apiAccess';
import type { Principal } from './auth';
import { Problem } from './problem';

/**
 * Idempotency-Key on POST, with Stripe's semantics:
 * - first use: the request runs and its response (2xx and 4xx) is stored with the key;
 * - the same key with the same method, path and body: the stored response is replayed
 *   (`Idempotent-Replayed: true`), the command does not run again;
 * - the same key with a different body (or endpoint): 422;
 * - the same key while the first request is still running: 409, retry later (a claim older than
 *   five minutes counts as abandoned; the first request's late answer is then not stored);
 * - a 5xx is not stored: the key is released so a retry runs again (commands are themselves
 *   idempotent through event ids seeded by the key).
 * - "the same body" means the same JSON: whitespace and key order do not matter (the parsed body is
 *   compared in a canonical form), a different value is a different body;
 * - keys are scoped per tenant AND per kind of principal (idempotencyScope): the admin acting for a
 *   tenant and the tenant itself never share a key, so neither can replay (or pre-empt) the other's
 *   request. The check runs per route after authentication and the route's access check
 *   (mount() in api.ts), so a replay is only ever served to a caller allowed to make the request.
 * Kept at least 24 hours.
 */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** Retries `fn` with doubling delays (1 s, 2 s, 4 s ... up to `attempts`); gives up quietly. */
function retryLater(fn: () => Promise<unknown>, delayMs: number, attempts: number): void {
  if (attempts <= 0) return;
  const t = setTimeout(() => {
    fn().catch(() => retryLater(fn, Math.min(delayMs * 2, 30_000), attempts - 1));
  }, delayMs);
  t.unref();
}

/**
 * The key namespace of a caller: a tenant key acts as its tenant (`<tenant>`, as before: tenant ids
 * are letters, digits, `_` and `-`, so they never contain `@`); the admin key as `admin@<tenant>`
 * when acting for one (`Settle-Tenant`), `admin@` otherwise.
 */
export function idempotencyScope(principal: Principal, tenantId: string | undefined): string {
  return principal.kind === 'admin' ? `admin@${tenantId ?? ''}` : principal.tenantId;
}

/** JSON with object keys sorted (arrays keep their order): equal for equal JSON values. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  // these have no JSON text: JSON.stringify returns undefined for them, whatever its type says
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
  return JSON.stringify(value);
}

/**
 * The fingerprint of a request body: of its canonical JSON when it was parsed as JSON (bodies are
 * at most 64 levels deep by then, see jsonDepth.ts), else of its bytes. `legacy`: the byte hash
 * earlier releases stored, still matched while their records live.
 */
function bodyFingerprint(req: Request): { hash: string; legacy: string } {
  const raw = (req as Request & { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0);
  const legacy = createHash('sha256').update(raw).digest('hex');
  const parsed = raw.length > 0 && req.is('application/json') && req.body !== undefined;
  return { hash: parsed ? `json:${createHash('sha256').update(canonicalJson(req.body)).digest('hex')}` : legacy, legacy };
}

export function idempotency(store: IdempotencyStore) {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST') { next(); return; }
    const key = req.get('idempotency-key');
    if (key === undefined) { next(); return; }
    if (!KEY.test(key)) throw new Problem(400, 'invalid-idempotency-key', 'Invalid Idempotency-Key', 'Idempotency-Key must be 1 to 255 visible ASCII characters', [{ path: 'header.Idempotency-Key', message: 'invalid' }]);
    const scope = idempotencyScope(res.locals.principal as Principal, res.locals.tenantId as string | undefined);
    const { hash: bodyHash, legacy } = bodyFingerprint(req);
    const [path = ''] = req.originalUrl.split('?');
    const claim = await store.claim(scope, key, req.method, path, bodyHash, legacy);
    switch (claim.kind) {
      case 'replay':
        res.setHeader('Idempotent-Replayed', 'true');
        res.status(claim.response.status);
        res.type(claim.response.status >= 400 ? 'application/problem+json' : 'application/json');
        res.send(JSON.stringify(claim.response.body));
        return;
      case 'mismatch':
        throw new Problem(422, 'idempotency-key-reused', 'Idempotency-Key Reused', `This Idempotency-Key was used for a different request (${claim.method} ${claim.path} with another body)`, [
          { path: 'header.Idempotency-Key', message: 'already used for a different request' },
        ]);
      case 'in_progress':
        res.setHeader('Retry-After', '1');
        throw new Problem(409, 'idempotency-key-in-use', 'Request In Progress', 'A request with this Idempotency-Key is still being processed; retry shortly');
      case 'claimed':
        break;
    }
    res.locals.idempotencyKey = key;
    // The outcome is stored before the response leaves, so an immediate retry already replays it.
    const send = res.json.bind(res);
    res.json = (b: unknown) => {
      const status = res.statusCode;
      // fields shown once (a new API key) are never stored: a replay says so instead of repeating them
      const hidden = (res.locals.idempotencyHide as string[] | undefined) ?? [];
      const stored = hidden.length > 0 && b && typeof b === 'object' ? Object.fromEntries(Object.entries(b as Record<string, unknown>).map(([k, v]) => [k, hidden.includes(k) ? '[shown once; not replayed]' : v])) : b;
      const save = () => (status >= 500 ? store.release(scope, key, claim.token) : store.complete(scope, key, claim.token, { status, body: stored }));
      save()
        .catch((err: unknown) => {
          // typically the database is down (that is why this was a 5xx): keep trying in the
          // background so the key does not stay "in progress" once the database is back
          req.log?.warn({ err }, 'idempotency record not saved yet; retrying in the background');
          retryLater(save, 1000, 8);
        })
        .finally(() => send(b));
      return res;
    };
    next();
  };
}
