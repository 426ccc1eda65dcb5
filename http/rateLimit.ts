import type { NextFunction, Request, Response } from 'express';
import { Problem, sendProblem } from './problem';

/**
 * In-memory token-bucket rate limiting (no dependencies, per process).
 *
 * Each key (client IP, API key, …) has a bucket of `capacity` tokens refilled continuously at
 * `refillPerSecond`; a request takes one token. An empty bucket answers 429 problem+json
 * (`https://settle.dev/problems/rate-limited`) with `Retry-After` in whole seconds (≥ 1): the time
 * until one token is back. Memory is bounded: a bucket idle long enough to be full again is the
 * same as no bucket and is dropped, and at most `maxKeys` buckets are kept (least recently used
 * dropped first; a dropped bucket comes back full, which errs on the side of letting traffic in).
 *
 * Limits are per process: N instances allow N × the budget.
 */
export interface RateLimitOptions {
  /** Names the limiter in problems and counters, e.g. `api`, `webhooks`, `public`. */
  readonly name: string;
  /** Burst size: tokens in a full bucket (≥ 1). */
  readonly capacity: number;
  /** Sustained rate: tokens added per second (> 0). */
  readonly refillPerSecond: number;
  /** The bucket a request counts against; null/empty: not limited by this limiter. */
  readonly key: (req: Request, res: Response) => string | null | undefined;
  /** Milliseconds clock (tests inject one). Default `Date.now`. */
  readonly now?: () => number;
  /** Upper bound on tracked keys. Default 10 000. */
  readonly maxKeys?: number;
}

export interface RateLimitCounters {
  /** Requests let through. */
  allowed: number;
  /** Requests answered 429. */
  limited: number;
  /** Buckets dropped (idle, or over maxKeys). */
  evicted: number;
}

export interface TakeResult {
  readonly ok: boolean;
  /** Whole seconds until a token is available (0 when ok). */
  readonly retryAfterSeconds: number;
  /** Tokens left after this take (floored). */
  readonly remaining: number;
}

export interface RateLimiter {
  (req: Request, res: Response, next: NextFunction): void;
  readonly limiterName: string;
  readonly counters: Readonly<RateLimitCounters>;
  /** Buckets currently held. */
  size(): number;
  /** Takes a token for `key` (the middleware's decision, usable without HTTP). */
  take(key: string): TakeResult;
  /** Whether `key` has a token, without taking it. */
  peek(key: string): TakeResult;
  /** Forgets every bucket and zeroes the counters. */
  reset(): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

export const RATE_LIMITED = 'rate-limited';

export function rateLimit(opts: RateLimitOptions): RateLimiter {
  const { name, capacity, refillPerSecond } = opts;
  if (!name) throw new Error('rateLimit: name is required');
  if (!Number.isFinite(capacity) || capacity < 1) throw new Error(`rateLimit(${name}): capacity must be ≥ 1`);
  if (!Number.isFinite(refillPerSecond) || refillPerSecond <= 0) throw new Error(`rateLimit(${name}): refillPerSecond must be > 0`);
  const maxKeys = opts.maxKeys ?? 10_000;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new Error(`rateLimit(${name}): maxKeys must be a positive integer`);
  const now = opts.now ?? Date.now;
  /** An untouched bucket is full again after this long: keeping it changes nothing. */
  const fullAfterMs = (capacity / refillPerSecond) * 1000;
  // Map iteration order is insertion order; re-inserting on each use keeps it least-recently-used first.
  const buckets = new Map<string, Bucket>();
  const counters: RateLimitCounters = { allowed: 0, limited: 0, evicted: 0 };

  function sweep(t: number): void {
    for (const [k, b] of buckets) {
      if (t - b.at < fullAfterMs && buckets.size <= maxKeys) break;
      buckets.delete(k);
      counters.evicted++;
    }
  }

  function peek(key: string): TakeResult {
    const b = buckets.get(key);
    if (!b) return { ok: true, retryAfterSeconds: 0, remaining: Math.floor(capacity) };
    const tokens = Math.min(capacity, b.tokens + (Math.max(0, now() - b.at) / 1000) * refillPerSecond);
    if (tokens >= 1) return { ok: true, retryAfterSeconds: 0, remaining: Math.floor(tokens) };
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / refillPerSecond - 1e-9)), remaining: 0 };
  }

  function take(key: string): TakeResult {
    const t = now();
    let b = buckets.get(key);
    if (b) {
      buckets.delete(key);
      const elapsed = Math.max(0, t - b.at) / 1000;
      b.tokens = Math.min(capacity, b.tokens + elapsed * refillPerSecond);
      b.at = t;
    } else {
      b = { tokens: capacity, at: t };
    }
    buckets.set(key, b);
    sweep(t);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      counters.allowed++;
      return { ok: true, retryAfterSeconds: 0, remaining: Math.floor(b.tokens) };
    }
    counters.limited++;
    const wait = Math.max(1, Math.ceil((1 - b.tokens) / refillPerSecond - 1e-9));
    return { ok: false, retryAfterSeconds: wait, remaining: 0 };
  }

  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const key = opts.key(req, res);
    if (!key) { next(); return; }
    const r = take(key);
    if (r.ok) { next(); return; }
    refuse(req, res, name, r);
  };

  return Object.assign(middleware, {
    limiterName: name,
    counters,
    size: () => buckets.size,
    take,
    peek,
    reset() {
      buckets.clear();
      counters.allowed = 0;
      counters.limited = 0;
      counters.evicted = 0;
    },
  });
}

function refuse(req: Request, res: Response, name: string, r: TakeResult): void {
  res.setHeader('Retry-After', String(r.retryAfterSeconds));
  sendProblem(req, res, new Problem(429, RATE_LIMITED, 'Too Many Requests', `Rate limit "${name}" exceeded; retry after ${r.retryAfterSeconds} s`, [], { limit: name, retryAfterSeconds: r.retryAfterSeconds }));
}

/**
 * A budget of failed authentication attempts per client address. `gate` runs before
 * authentication and answers 429 while the address has no budget left, without taking any (so a
 * flood of made-up keys never reaches the key lookup, and never gets a bucket per made-up key);
 * `charge` takes one when a request is refused as unauthenticated (no key, unknown or revoked key).
 */
export interface FailedAuthLimiter {
  readonly limiter: RateLimiter;
  // function-valued properties, not methods: both are handed around detached (middleware, callbacks)
  readonly gate: (req: Request, res: Response, next: NextFunction) => void;
  readonly charge: (req: Request) => void;
}

export function failedAuthLimit(opts: Omit<RateLimitOptions, 'key'>): FailedAuthLimiter {
  const limiter = rateLimit({ ...opts, key: () => null });
  return {
    limiter,
    gate(req, res, next) {
      const r = limiter.peek(byIp(req));
      if (r.ok) { next(); return; }
      refuse(req, res, opts.name, r);
    },
    charge(req) {
      limiter.take(byIp(req));
    },
  };
}

// ---- keys -------------------------------------------------------------------------------------

/** The client IP (behind `trust proxy`, the forwarded one). */
export function byIp(req: Request): string {
  return `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`;
}

/**
 * The verified principal (after authentication): a tenant API key by its key id, the admin key as
 * one bucket. Never the presented credential: a made-up key has no bucket of its own.
 */
export function byPrincipal(_req: Request, res: Response): string | null {
  const p = res.locals.principal as { kind: 'admin' } | { kind: 'tenant'; keyId: string } | undefined;
  if (!p) return null;
  return p.kind === 'admin' ? 'admin' : `key:${p.keyId}`;
}
