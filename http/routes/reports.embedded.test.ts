/**
 * The finance report routes through the real route machinery (authenticate + mount + problem
 * handler) on the embedded database: tenant scoping, the admin's all-tenant view, JSON and CSV
 * representations, validation.
 */
import express, { Router } from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { SqlTenantDirectory } from '../../infrastructure/sql/apiAccess';
import { embeddedDatabase, type TestDatabase } from '../../test/support/databases';
import { ADMIN_KEY, client } from '../../test/support/api';
import { FinanceLedger } from '../../projections/finance/ledger';
import { CSV_HEADER } from '../../projections/finance/report';
import { mount, openApiDocument } from '../api';
import { authenticate } from '../auth';
import { errorHandler, notFound } from '../problem';
import { reportRoutes } from './reports';

describe('finance report routes', () => {
  let t: TestDatabase;
  let server: Server;
  let base = '';
  let keyA = '';

  beforeAll(async () => {
    t = await embeddedDatabase();
    const directory = new SqlTenantDirectory(t.db);
    await directory.createTenant('ten-a', 'A');
    await directory.createTenant('ten-b', 'B');
    keyA = (await directory.issueKey('ten-a', null)).apiKey;
    const ledger = new FinanceLedger();
    const succeeded = (tenantId: string, amount: number, currency: string) => ({
      id: randomUUID(),
      type: 'payment.succeeded',
      version: 1,
      tenantId,
      data: { provider: 'stripe', amount: { amount, currency }, applicationFee: null, errorCode: null, declineCode: null, day: '2026-03-01' },
    });
    for (const m of [succeeded('ten-a', 10_050, 'EUR'), succeeded('ten-a', 700, 'JPY'), succeeded('ten-b', 99, 'EUR')]) await t.db.transaction((tx) => ledger.apply(tx, m));

    const app = express();
    const v1 = Router();
    v1.use(authenticate(directory, ADMIN_KEY));
    mount(v1, reportRoutes({ db: t.db }));
    app.use('/v1', v1);
    app.use(notFound);
    app.use(errorHandler);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await t?.drop();
  });

  const q = '?from=2026-03-01&to=2026-03-31';

  test('a tenant sees its own ledger as JSON: rows, totals per currency', async () => {
    const r = await client(base, keyA).get<{ tenantId: string; rows: Array<{ tenantId: string }>; totals: Array<{ currency: string; net: number }> }>(`/v1/reports/finance${q}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(r.body.tenantId).toBe('ten-a');
    expect(r.body.rows.map((x) => x.tenantId)).toEqual(['ten-a', 'ten-a']);
    expect(r.body.totals).toEqual([expect.objectContaining({ currency: 'EUR', net: 10_050 }), expect.objectContaining({ currency: 'JPY', net: 700 })]);
    expect(r.headers.get('etag')).toBeTruthy();
  });

  test('CSV with Accept: text/csv (or format=csv), with its own ETag', async () => {
    const json = await client(base, keyA).get(`/v1/reports/finance${q}`);
    const r = await client(base, keyA).get<string>(`/v1/reports/finance${q}`, { accept: 'text/csv' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(r.headers.get('content-disposition')).toBe('attachment; filename="finance-ten-a-2026-03-01-2026-03-31.csv"');
    expect(r.headers.get('vary')).toMatch(/Accept/);
    expect(r.headers.get('etag')).not.toBe(json.headers.get('etag'));
    const lines = r.body.split('\r\n');
    expect(lines[0]).toBe(CSV_HEADER.join(','));
    expect(lines[1]).toBe('ten-a,2026-03-01,EUR,stripe,10050,100.50,0,0.00,0,0.00,0,0.00,0,0.00,10050,100.50,1,0');
    expect(lines[2]).toBe('ten-a,2026-03-01,JPY,stripe,700,700,0,0,0,0,0,0,0,0,700,700,1,0');
    const again = await client(base, keyA).get<string>(`/v1/reports/finance${q}&format=csv`);
    expect(again.body).toBe(r.body);
    const notModified = await client(base, keyA).get(`/v1/reports/finance${q}`, { accept: 'text/csv', 'if-none-match': r.headers.get('etag')! });
    expect(notModified.status).toBe(304);
  });

  test('the admin sees one tenant with Settle-Tenant, every tenant on the admin route', async () => {
    const acting = await client(base, ADMIN_KEY, { 'settle-tenant': 'ten-b' }).get<{ rows: Array<{ tenantId: string }> }>(`/v1/reports/finance${q}`);
    expect(acting.body.rows.map((x) => x.tenantId)).toEqual(['ten-b']);
    const all = await client(base, ADMIN_KEY).get<{ tenantId: null; rows: unknown[]; totals: Array<{ currency: string; grossCollected: number }> }>(`/v1/admin/reports/finance${q}`);
    expect(all.status).toBe(200);
    expect(all.body.tenantId).toBeNull();
    expect(all.body.rows).toHaveLength(3);
    expect(all.body.totals.find((x) => x.currency === 'EUR')!.grossCollected).toBe(10_149);
    const one = await client(base, ADMIN_KEY).get<{ rows: unknown[] }>(`/v1/admin/reports/finance${q}&tenant_id=ten-b`);
    expect(one.body.rows).toHaveLength(1);
    const csv = await client(base, ADMIN_KEY).get<string>(`/v1/admin/reports/finance${q}`, { accept: 'text/csv' });
    expect(csv.body.split('\r\n')).toHaveLength(5);
    // a tenant key cannot use the admin route
    expect((await client(base, keyA).get(`/v1/admin/reports/finance${q}`)).status).toBe(403);
    // with today's api.ts, the tenant route asks the admin to name a tenant (see the report)
    expect((await client(base, ADMIN_KEY).get(`/v1/reports/finance${q}`)).status).toBe(400);
  });

  test('validation: dates, order, range, unknown parameters', async () => {
    const c = client(base, keyA);
    for (const bad of ['?from=2026-3-1&to=2026-03-31', '?from=2026-02-30&to=2026-03-31', '?from=2026-03-02&to=2026-03-01', '?from=2024-01-01&to=2026-01-01', '?from=2026-03-01', `${q}&tenant_id=ten-b`, `${q}&format=xml`]) {
      const r = await c.get<{ type: string; errors: Array<{ path: string }> }>(`/v1/reports/finance${bad}`);
      expect([bad, r.status]).toEqual([bad, 422]);
      expect(r.body.errors[0]!.path).toMatch(/^query/);
    }
  });

  test('documented in OpenAPI', () => {
    const doc = openApiDocument(reportRoutes({ db: t.db }), '1') as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(['/v1/reports/finance', '/v1/admin/reports/finance']);
  });
});
