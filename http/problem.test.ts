import type { NextFunction, Request, Response } from 'express';
import { errorHandler, isDatabaseUnavailable } from './problem';

function fakeRes() {
  const out: { status?: number; headers: Record<string, string>; body?: unknown; type?: string } = { headers: {} };
  const res = {
    headersSent: false,
    locals: { requestId: 'r1' },
    setHeader: (k: string, v: string) => void (out.headers[k.toLowerCase()] = v),
    status(s: number) {
      out.status = s;
      return this;
    },
    type(t: string) {
      out.type = t;
      return this;
    },
    json(b: unknown) {
      out.body = b;
      return this;
    },
  };
  return { res: res as unknown as Response, out };
}

describe('error handler', () => {
  test.each([
    [{ code: '08006', message: 'connection failure' }],
    [{ code: '57P01', message: 'terminating connection due to administrator command' }],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' }],
    [new Error('Connection terminated unexpectedly')],
  ])('a database outage (%j) is a 503 problem with Retry-After, not a 500', (err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
    const { res, out } = fakeRes();
    errorHandler(err, { originalUrl: '/v1/x', log: undefined } as unknown as Request, res, (() => undefined) as NextFunction);
    expect(out.status).toBe(503);
    expect(out.headers['retry-after']).toBe('2');
    expect(out.body).toMatchObject({ type: 'https://settle.dev/problems/database-unavailable', status: 503 });
  });

  test('other failures stay 500 and say nothing internal', () => {
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isDatabaseUnavailable({ code: '23505', message: 'duplicate key' })).toBe(false);
    const { res, out } = fakeRes();
    errorHandler(new TypeError('secret internals'), { originalUrl: '/v1/x' } as unknown as Request, res, (() => undefined) as NextFunction);
    expect(out.status).toBe(500);
    expect(JSON.stringify(out.body)).not.toContain('secret internals');
  });
});
