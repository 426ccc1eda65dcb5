/**
 * /openapi.json says what the server enforces and answers (the fuzz test,
 * openapi.schemathesis.postgres.test.ts, checks the answers; this pins the document's promises),
 * and the protocol answers it documents: 405 with Allow, 401 with WWW-Authenticate.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestService, type TestService } from '../test/support/service';

type Schema = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- untyped JSON (a parsed document or fixture), read by shape
const ADMIN = 'openapi-admin-key-0123456789abcdef';

describe('/openapi.json', () => {
  let dir: string;
  let svc: TestService;
  let doc: Schema;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-openapi-'));
    svc = await startTestService({ DATA_DIR: dir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined, ADMIN_API_KEY: ADMIN });
    doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as Schema;
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const operations = () => Object.entries(doc.paths as Schema).flatMap(([p, ops]) => Object.entries(ops as Schema).map(([method, op]) => ({ path: p, method, op: op as Schema })));
  const op = (id: string) => operations().find((o) => o.op.operationId === id)!.op;

  test('every success answer has its body schema, and every operation its problems with their types and headers', () => {
    for (const { path: p, method, op: o } of operations()) {
      const [status, ok] = Object.entries(o.responses as Schema).find(([s]) => s.startsWith('2'))!;
      if (status !== '204') {
        const schema = ok.content['application/json'].schema as Schema;
        expect({ op: o.operationId, properties: Object.keys(schema.properties ?? {}).length > 0 }).toEqual({ op: o.operationId, properties: true });
      }
      expect(o.responses['401'].headers['WWW-Authenticate']).toBeDefined();
      expect(o.responses['429'].headers['Retry-After']).toBeDefined();
      expect(o.responses['503'].content['application/problem+json']).toBeDefined();
      if (/^\/v1\/(admin|tenants)/.test(p)) expect(o.responses['403']).toBeDefined();
      if (method === 'get') expect(Object.keys(o.responses)).toContain('304');
      if (method === 'post') expect(o.parameters.find((x: Schema) => x.name === 'Idempotency-Key').schema.pattern).toBe('^[\\x21-\\x7e]{1,255}$');
    }
    expect(op('refundInvoice').responses['402'].description).toContain('payment-declined');
    expect(op('refundInvoice').responses['503'].content['application/problem+json'].schema.allOf[1].properties.type.enum).toEqual(
      expect.arrayContaining(['https://settle.dev/problems/provider-unavailable', 'https://settle.dev/problems/database-unavailable']),
    );
  });

  test('requests: fields with a default are optional; currency, positive amounts, dates and required query parameters as enforced', () => {
    const departure = op('createDeparture').requestBody.content['application/json'].schema as Schema;
    expect(departure.required.sort()).toEqual(['capacity', 'departureId', 'name']);
    const booking = op('requestBooking').requestBody.content['application/json'].schema as Schema;
    expect(booking.required).not.toContain('paymentScheduleId');
    expect(booking.properties.price.properties.amount.exclusiveMinimum).toBe(0);
    const currency = booking.properties.price.properties.currency as Schema;
    expect(currency.pattern).toBe('^[A-Z]{3}$');
    expect(currency.enum).toEqual(expect.arrayContaining(['EUR', 'JPY', 'KWD']));
    expect(currency.enum).not.toContain('XXX');
    const finance = op('getFinanceReport');
    const params = Object.fromEntries((finance.parameters as Schema[]).map((x) => [x.name, x]));
    expect([params.from.required, params.to.required, params.format.required]).toEqual([true, true, false]);
    expect(params.from.schema.format).toBe('date');
    expect(Object.keys(finance.responses['200'].content).sort()).toEqual(['application/json', 'text/csv']);
    const reads = Object.fromEntries((op('listInvoices').parameters as Schema[]).map((x) => [x.name, x]));
    expect(reads.min_position.schema.pattern).toBe('^\\d{1,20}/\\d{1,20}$');
    expect(op('listInvoices').responses['200'].headers['Settle-Stale']).toBeDefined();
    expect(op('requestBooking').responses['201'].headers['Settle-Position']).toBeDefined();
  });

  test('a documented path with another method answers 405 with Allow; a missing key 401 with WWW-Authenticate', async () => {
    const wrong = await fetch(`${svc.url}/v1/bookings`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(wrong.headers.get('content-type')).toContain('application/problem+json');
    expect(await wrong.json()).toMatchObject({ status: 405, type: 'https://settle.dev/problems/method-not-allowed' });
    const nested = await fetch(`${svc.url}/v1/tenants/t/api-keys/k`, { method: 'GET', headers: { authorization: `Bearer ${ADMIN}` } });
    expect([nested.status, nested.headers.get('allow')]).toEqual([405, 'DELETE']);
    const anonymous = await fetch(`${svc.url}/v1/bookings`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="settle"');
    const unknown = await fetch(`${svc.url}/v1/bookings`, { headers: { authorization: 'Bearer nope' } });
    expect(unknown.headers.get('www-authenticate')).toBe('Bearer realm="settle", error="invalid_token"');
  });
});
