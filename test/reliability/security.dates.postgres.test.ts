/**
 * Security issue #17, item 11: date filters of the query API. `created_from=…+16:00` and
 * `from=0000-01-01` reached PostgreSQL and answered 500. The accepted grammar (http/routes/schemas.ts):
 * a date YYYY-MM-DD (a real day, years 0001-9999) or an RFC 3339 date-time with Z or an offset
 * within ±14:00. Anything else is a 422 validation problem naming the parameter; everything accepted
 * is something PostgreSQL accepts (200). A fast-check property over random date-like strings on
 * every date parameter: never a 5xx, and 200 exactly when the grammar accepts the value.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ADMIN_KEY } from '../support/api';
import { ConsoleClient } from '../support/console';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, type TestService } from '../support/service';
import { isCalendarDate, isInstant } from '../../http/routes/schemas';
import { tenantWithKey } from './security.support';

jest.setTimeout(180_000);

const RUNS = process.env.RELIABILITY_LONG === '1' ? 2000 : 150;
const SEED = 1711;

describe('security: date filters never reach PostgreSQL unchecked', () => {
  let svc: TestService;
  let key: string;
  let console_: ConsoleClient;
  const schema = `sec_t_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, RATE_LIMIT_API_BURST: '100000', RATE_LIMIT_API_PER_SECOND: '100000', LOG_LEVEL: 'warn' });
    key = (await tenantWithKey(svc.url, 'dates')).apiKey;
    console_ = new ConsoleClient(svc.url);
    await console_.signIn(key);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  /** `raw`: the query string as sent (not encoded again), to test `+` and `%2B` exactly. */
  const get = async (pathAndQuery: string) => {
    const r = await fetch(`${svc.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: r.status, body: (await r.json()) as { type?: string; errors?: Array<{ path: string }> } };
  };

  test.each([
    ['/v1/invoices?created_from=2026-01-01T00:00:00%2B16:00', 'query.created_from'],
    ['/v1/invoices?created_from=2026-01-01T00:00:00+16:00', 'query.created_from'], // + decodes to a space
    ['/v1/payments?from=0000-01-01', 'query.from'],
    ['/v1/payments?to=0000-12-31T23:59:59Z', 'query.to'],
    ['/v1/invoices?created_to=2026-02-30', 'query.created_to'],
    ['/v1/invoices?created_to=2023-02-29T00:00:00Z', 'query.created_to'],
    ['/v1/payments?from=2026-01-01T24:00:00Z', 'query.from'],
    ['/v1/payments?from=2026-01-01T00:00:00%2B14:01', 'query.from'],
    ['/v1/payments?from=10000-01-01', 'query.from'],
  ])('%s is a 422 problem naming %s', async (url, path) => {
    const r = await get(url);
    expect(r.status).toBe(422);
    expect(r.body.type).toBe('https://settle.dev/problems/validation-error');
    expect(r.body.errors?.map((e) => e.path)).toContain(path);
  });

  test.each([
    '/v1/payments?from=0001-01-01',
    '/v1/payments?to=9999-12-31',
    '/v1/invoices?created_from=0001-01-01T00:00:00Z&created_to=9999-12-31T23:59:59.999999999-14:00',
    '/v1/invoices?created_from=2024-02-29T12:00:00%2B14:00',
    '/v1/payments?from=2026-03-01T10:00:00.5-14:00',
  ])('%s is accepted (200)', async (url) => {
    expect((await get(url)).status).toBe(200);
  });

  test('the console filters refuse year 0000 too (422, not 500)', async () => {
    expect((await console_.get('/admin/payments?from=0000-01-01')).status).toBe(422);
    expect((await console_.get('/admin/payments?to=0001-01-01')).status).toBe(200);
  });

  const two = (min: number, max: number) => fc.integer({ min, max }).map((n) => String(n).padStart(2, '0'));
  // biased towards the edges: years 0000/0001/9999/10000, months and days just out of range,
  // offsets around ±14:00 and PostgreSQL's ±15:59
  const dateLike = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({
          y: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('0000', '0001', '9999', '10000', '1969', '2024', '2023') }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')) }),
          mo: two(0, 13),
          d: two(0, 32),
          time: fc.option(fc.record({ h: two(0, 25), mi: two(0, 61), s: two(0, 61), frac: fc.option(fc.integer({ min: 1, max: 12 }).map((n) => `.${'7'.repeat(n)}`), { nil: '' }), sep: fc.constantFrom('T', 'T', 't', ' ') }), { nil: null, freq: 2 }),
          zone: fc.oneof(fc.constant('Z'), fc.constant(''), fc.constant('z'), fc.record({ sign: fc.constantFrom('+', '-', '%2B'), h: two(10, 17), m: two(0, 60) }).map((o) => `${o.sign}${o.h}:${o.m}`), fc.constantFrom('+0100', '+01', 'UTC', '%2B15:59', '%2B16:00', '-14:00')),
        })
        .map(({ y, mo, d, time, zone }) => `${y}-${mo}-${d}${time ? `${time.sep}${time.h}:${time.mi}:${time.s}${time.frac}${zone}` : ''}`),
    },
    // anything
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)) },
    { weight: 1, arbitrary: fc.date({ min: new Date(-62198755200000), max: new Date(253402300799000), noInvalidDate: true }).map((d) => d.toISOString()) },
  );
  const params = [
    ['/v1/invoices', 'created_from'],
    ['/v1/invoices', 'created_to'],
    ['/v1/payments', 'from'],
    ['/v1/payments', 'to'],
  ] as const;

  test('property: no date value gives a 5xx on any date parameter; 200 exactly when the grammar accepts it', async () => {
    await fc.assert(
      fc.asyncProperty(dateLike, fc.constantFrom(...params), async (value, [path, param]) => {
        const r = await get(`${path}?${param}=${value}`);
        expect(r.status).toBeLessThan(500);
        const decoded = new URLSearchParams(`${param}=${value}`).get(param)!;
        expect(r.status).toBe(isInstant(decoded) ? 200 : 422);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  test('property: the console date filters, likewise', async () => {
    await fc.assert(
      fc.asyncProperty(dateLike, fc.constantFrom('from', 'to'), async (value, param) => {
        const r = await console_.get(`/admin/payments?${param}=${value}`);
        expect(r.status).toBeLessThan(500);
        const decoded = new URLSearchParams(`${param}=${value}`).get(param)!;
        expect(r.status).toBe(decoded === '' || isCalendarDate(decoded) ? 200 : 422); // an empty filter field is no filter
      }),
      { numRuns: Math.ceil(RUNS / 3), seed: SEED + 1, endOnFailure: true },
    );
  });
});
