import { createHash } from 'node:crypto';
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
  readonly key: (req: Request) => string | null | undefined;
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
    const key = opts.key(req);
    if (!key) return next();
    const r = take(key);
    if (r.ok) return next();
    res.setHeader('Retry-After', String(r.retryAfterSeconds));
    sendProblem(req, res, new Problem(429, RATE_LIMITED, 'Too Many Requests', `Rate limit "${name}" exceeded; retry after ${r.retryAfterSeconds} s`, [], { limit: name, retryAfterSeconds: r.retryAfterSeconds }));
  };

  return Object.assign(middleware, {
    limiterName: name,
    counters,
    size: () => buckets.size,
    take,
    reset() {
      buckets.clear();
      counters.allowed = 0;
      counters.limited = 0;
      counters.evicted = 0;
    },
  });
}

// ---- keys -------------------------------------------------------------------------------------

/** The client IP (behind `trust proxy`, the forwarded one). */
export function byIp(req: Request): string {
  return `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`;
}

/**
 * The bearer credential, hashed (the limiter never holds a key in plaintext); requests without
 * one count against their IP.
 */
export function byApiKey(req: Request): string {
  const m = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
  return m ? `key:${createHash('sha256').update(m[1]!).digest('base64url').slice(0, 22)}` : byIp(req);
}
