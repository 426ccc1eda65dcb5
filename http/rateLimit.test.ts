/** The token-bucket limiter with an injected clock: exact refill, Retry-After, eviction, HTTP shape. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { byIp, byPrincipal, failedAuthLimit, rateLimit } from './rateLimit';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('rateLimit (token bucket)', () => {
  test('a full bucket lets `capacity` requests through, then refuses with the exact wait', () => {
    const c = clock();
    const rl = rateLimit({ name: 't', capacity: 3, refillPerSecond: 0.5, key: () => 'k', now: c.now });
    expect([rl.take('k'), rl.take('k'), rl.take('k')].map((r) => r.ok)).toEqual([true, true, true]);
    expect(rl.take('k')).toEqual({ ok: false, retryAfterSeconds: 2, remaining: 0 });
    c.advance(1999);
    expect(rl.take('k').ok).toBe(false);
    expect(rl.take('k').retryAfterSeconds).toBe(1); // 1 ms short of a token: still rounds up to 1 s
    c.advance(1);
    expect(rl.take('k').ok).toBe(true);
    expect(rl.take('k').ok).toBe(false);
    expect(rl.counters).toEqual({ allowed: 4, limited: 4, evicted: 0 });
  });

  test('refill is continuous and capped at capacity', () => {
    const c = clock();
    const rl = rateLimit({ name: 't', capacity: 2, refillPerSecond: 10, key: () => 'k', now: c.now });
    rl.take('k');
    rl.take('k');
    c.advance(100); // exactly one token
    expect(rl.take('k')).toMatchObject({ ok: true, remaining: 0 });
    c.advance(60_000); // long idle: never more than capacity
    expect([rl.take('k').ok, rl.take('k').ok, rl.take('k').ok]).toEqual([true, true, false]);
  });

  test('Retry-After is whole seconds, at least 1, for fast and slow buckets', () => {
    const c = clock();
    const fast = rateLimit({ name: 'f', capacity: 1, refillPerSecond: 100, key: () => 'k', now: c.now });
    fast.take('k');
    expect(fast.take('k').retryAfterSeconds).toBe(1);
    const slow = rateLimit({ name: 's', capacity: 1, refillPerSecond: 1 / 60, key: () => 'k', now: c.now });
    slow.take('k');
    expect(slow.take('k').retryAfterSeconds).toBe(60);
    c.advance(30_000);
    expect(slow.take('k').retryAfterSeconds).toBe(30);
  });

  test('keys are independent', () => {
    const c = clock();
    const rl = rateLimit({ name: 't', capacity: 1, refillPerSecond: 1, key: () => 'k', now: c.now });
    expect(rl.take('a').ok).toBe(true);
    expect(rl.take('a').ok).toBe(false);
    expect(rl.take('b').ok).toBe(true);
  });

  test('memory is bounded: idle (refilled) buckets are dropped, and never more than maxKeys are kept', () => {
    const c = clock();
    const rl = rateLimit({ name: 't', capacity: 10, refillPerSecond: 1, key: () => 'k', now: c.now, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) rl.take(`ip-${i}`);
    expect(rl.size()).toBe(100);
    expect(rl.counters.evicted).toBe(900);
    // the most recently used survive the LRU bound
    for (let i = 0; i < 10; i++) rl.take('hot');
    expect(rl.take('hot').ok).toBe(false);
    for (let i = 0; i < 99; i++) rl.take(`other-${i}`); // fills to the bound without pushing 'hot' out
    expect(rl.take('hot').ok).toBe(false);
    c.advance(10_000); // everything refilled: one touch sweeps all the idle buckets
    rl.take('new');
    expect(rl.size()).toBe(1);
  });

  test('rejects nonsense configuration', () => {
    expect(() => rateLimit({ name: 'x', capacity: 0, refillPerSecond: 1, key: () => 'k' })).toThrow(/capacity/);
    expect(() => rateLimit({ name: 'x', capacity: 1, refillPerSecond: 0, key: () => 'k' })).toThrow(/refillPerSecond/);
    expect(() => rateLimit({ name: '', capacity: 1, refillPerSecond: 1, key: () => 'k' })).toThrow(/name/);
  });

  test('failed-auth budget per address: the gate never takes a token, only refusals do; other addresses unaffected', () => {
    const c = clock();
    const f = failedAuthLimit({ name: 'auth', capacity: 2, refillPerSecond: 0.5, now: c.now });
    const req = (ip: string) => ({ ip, socket: {} }) as unknown as express.Request;
    const gate = (ip: string) => f.limiter.peek(`ip:${ip}`).ok; // what the gate middleware asks
    for (let i = 0; i < 10; i++) expect(gate('10.0.0.1')).toBe(true); // successful requests cost nothing
    f.charge(req('10.0.0.1'));
    expect(gate('10.0.0.1')).toBe(true);
    f.charge(req('10.0.0.1'));
    expect(gate('10.0.0.1')).toBe(false);
    expect(f.limiter.peek('ip:10.0.0.1')).toEqual({ ok: false, retryAfterSeconds: 2, remaining: 0 });
    expect(gate('10.0.0.2')).toBe(true);
    c.advance(2000);
    expect(gate('10.0.0.1')).toBe(true);
  });

  describe('as Express middleware', () => {
    let server: http.Server;
    let url: string;
    const c = clock();
    const rl = rateLimit({ name: 'api', capacity: 2, refillPerSecond: 0.25, key: byPrincipal, now: c.now });
    const skip = rateLimit({ name: 'skip', capacity: 1, refillPerSecond: 1, key: () => null, now: c.now });

    beforeAll(async () => {
      const app = express();
      // stands in for authentication: the verified key id of the bearer key
      const verified = (req: express.Request, res: express.Response, next: express.NextFunction) => {
        const m = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
        if (m) res.locals.principal = { kind: 'tenant', tenantId: 't', keyId: `id-of-${m[1]}` };
        next();
      };
      app.use('/v1', verified, rl, skip, (_req, res) => void res.json({ ok: true }));
      app.get('/ip', (req, res) => void res.json({ key: byIp(req) }));
      server = http.createServer(app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    test('429 problem+json with Retry-After once the budget is spent; per key; other keys unaffected', async () => {
      const get = (key: string) => fetch(`${url}/v1/x`, { headers: { authorization: `Bearer ${key}` } });
      expect((await get('key-a')).status).toBe(200);
      expect((await get('key-a')).status).toBe(200);
      const refused = await get('key-a');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
      expect(refused.headers.get('retry-after')).toBe('4');
      expect(await refused.json()).toEqual({
        type: 'https://settle.dev/problems/rate-limited',
        title: 'Too Many Requests',
        status: 429,
        detail: 'Rate limit "api" exceeded; retry after 4 s',
        instance: '/v1/x',
        limit: 'api',
        retryAfterSeconds: 4,
      });
      expect((await get('key-b')).status).toBe(200);
      c.advance(4000);
      expect((await get('key-a')).status).toBe(200);
      expect(skip.counters.allowed).toBe(0); // a null key is never counted
    });

    test('the API key function is the verified key id, never the presented credential; no principal: not counted here', async () => {
      const req = { get: (h: string) => (h === 'authorization' ? 'Bearer sk_settle_SECRETSECRET' : undefined), ip: '10.0.0.1', socket: {} } as unknown as express.Request;
      const res = (principal: unknown) => ({ locals: { principal } }) as unknown as express.Response;
      expect(byPrincipal(req, res({ kind: 'tenant', tenantId: 't', keyId: 'key_123' }))).toBe('key:key_123');
      expect(byPrincipal(req, res({ kind: 'admin' }))).toBe('admin');
      expect(byPrincipal(req, res(undefined))).toBeNull();
      const r = await fetch(`${url}/ip`);
      expect(((await r.json()) as { key: string }).key).toBe('ip:127.0.0.1');
    });
  });
});
