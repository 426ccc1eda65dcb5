/**
 * Tenant isolation over the real HTTP API, for EVERY operation in /openapi.json (the suite fails
 * when a new operation appears without a case here):
 * - no key → 401, an unknown key → 401;
 * - a tenant key on an admin operation → 403 (also on its own tenant's admin resources);
 * - tenant A on tenant B's ids → 404, and B's resources are byte-for-byte unchanged afterwards;
 *   A's lists and reports never show B's data; `Settle-Tenant` is ignored for tenant keys;
 * - API keys are stored hashed: no table of the schema holds a key's plaintext;
 * - a revoked key fails on the very next request.
 * Real PostgreSQL (DATABASE_URL) and stripe-mock (STRIPE_API_BASE) for provider-backed commands.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client, type ApiResponse } from '../support/api';
import { dropSchema } from '../support/databases';
import type { TestService } from '../support/service';
import { bookingBody, invoiceBody, linkConnectedAccount, payInvoiceOnConnect, securityService, tenantWithKey } from './security.support';

type Api = ReturnType<typeof client>;
const TODAY = new Date().toISOString().slice(0, 10);

describe('security: tenant isolation and API keys', () => {
  let svc: TestService;
  const schema = `sec_t_${randomBytes(5).toString('hex')}`;
  let a: Api;
  let b: Api;
  let admin: Api;
  let aKey: string;
  let bKey: string;
  let aKeyId: string;
  let bKeyId: string;
  const B = { departure: 'DEP-B', booking: '', plan: 'plan-b', customer: 'cus-b', invoice: '', paidInvoice: '', attempt: '' };
  let bSnapshot: Record<string, unknown>;
  let ops: Array<{ method: string; path: string; operationId: string }>;

  async function snapshotOfB(): Promise<Record<string, unknown>> {
    const paths = [
      `/v1/departures/${B.departure}`,
      `/v1/bookings/${B.booking}`,
      `/v1/plans/${B.plan}`,
      `/v1/customers/${B.customer}/subscription`,
      `/v1/invoices/${B.invoice}`,
      `/v1/invoices/${B.invoice}/history`,
      `/v1/invoices/${B.paidInvoice}`,
      `/v1/payments/${B.attempt}`,
    ];
    const out: Record<string, unknown> = {};
    for (const p of paths) {
      const r = await b.get(p);
      out[p] = { status: r.status, body: r.body };
    }
    return out;
  }

  beforeAll(async () => {
    // every operation is tried without a key and with wrong keys (over a hundred refusals from one
    // address): the failed-auth budget per address (security.ratelimit.test.ts) is raised here
    svc = await securityService(schema, 'warn', { RATE_LIMIT_AUTH_BURST: '10000' });
    admin = client(svc.url, ADMIN_KEY);
    ({ api: a, apiKey: aKey, keyId: aKeyId } = await tenantWithKey(svc.url, 'tenant-a'));
    ({ api: b, apiKey: bKey, keyId: bKeyId } = await tenantWithKey(svc.url, 'tenant-b'));
    await linkConnectedAccount(svc, 'tenant-b', 'acct_1TenantBsecurity');

    // tenant B's real resources
    expect((await b.post('/v1/departures', { departureId: B.departure, name: 'B trip', paymentScheduleId: null, capacity: 10 })).status).toBe(201);
    const bk = await b.post<{ bookingId: string }>('/v1/bookings', bookingBody(B.departure, 'b-client@example.com'));
    expect(bk.status).toBe(201);
    B.booking = bk.body.bookingId;
    expect((await b.post('/v1/plans', { planId: B.plan, name: 'B plan', amount: { amount: 2900, currency: 'EUR' }, interval: 'month' })).status).toBe(201);
    expect((await b.post(`/v1/customers/${B.customer}/checkout`, { planId: B.plan })).status).toBe(201);
    const inv = await b.post<{ invoiceId: string }>('/v1/invoices', invoiceBody('client-b', 'b-client@example.com'));
    expect(inv.status).toBe(201);
    B.invoice = inv.body.invoiceId;
    expect((await b.post(`/v1/invoices/${B.invoice}/payment-sessions`, { method: 'stripe_connect' })).status).toBe(201);
    const inv2 = await b.post<{ invoiceId: string }>('/v1/invoices', invoiceBody('client-b2', 'b2@example.com', 5000));
    B.paidInvoice = inv2.body.invoiceId;
    expect((await b.post(`/v1/invoices/${B.paidInvoice}/payment-sessions`, { method: 'stripe_connect' })).status).toBe(201);
    await payInvoiceOnConnect(svc, 'tenant-b', 'acct_1TenantBsecurity', B.paidInvoice, 5000);
    // the read model catches up: B sees its own payment attempt
    for (let i = 0; i < 100 && !B.attempt; i++) {
      const p = await b.get<{ data: Array<{ attemptId: string }> }>('/v1/payments');
      B.attempt = p.body.data?.[0]?.attemptId ?? '';
      if (!B.attempt) await new Promise((r) => setTimeout(r, 50));
    }
    expect(B.attempt).not.toBe('');
    bSnapshot = await snapshotOfB();
    const doc = (await fetch(`${svc.url}/openapi.json`).then((r) => r.json())) as { paths: Record<string, Record<string, { operationId: string }>> };
    ops = Object.entries(doc.paths).flatMap(([path, byMethod]) => Object.entries(byMethod).map(([method, op]) => ({ method: method.toUpperCase(), path, operationId: op.operationId })));
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  /** A concrete request for each operation: B's ids in the path and a body that validates. */
  function concrete(op: { method: string; path: string }): { path: string; body?: unknown } {
    const path = op.path
      .replace('{departureId}', B.departure)
      .replace('{bookingId}', B.booking)
      .replace('{planId}', B.plan)
      .replace('{customerId}', B.customer)
      .replace('{invoiceId}', B.invoice)
      .replace('{attemptId}', B.attempt)
      .replace('{tenantId}', 'tenant-b')
      .replace('{keyId}', bKeyId)
      .replace('{name}', 'invoices')
      .replace('{key}', encodeURIComponent(`booking-tenant-b.${B.booking}`))
      .replace('{runId}', '00000000-0000-4000-8000-000000000000');
    const bodies: Record<string, unknown> = {
      'POST /v1/tenants': { tenantId: 'evil', name: 'Evil' },
      'POST /v1/tenants/{tenantId}/api-keys': { label: 'stolen' },
      'POST /v1/tenants/{tenantId}/stripe-account': { accountId: 'acct_1Evil' },
      'POST /v1/admin/projections/{name}/rebuild': {},
      'POST /v1/admin/projections/{name}/resume': {},
      'POST /v1/admin/outbox/parked/{key}/release': {},
      'POST /v1/admin/outbox/parked/{key}/skip': { reason: 'attack' },
      'POST /v1/admin/reconciliations': { tenantId: 'tenant-b', since: TODAY, dryRun: true },
      'POST /v1/departures': { departureId: 'DEP-NEW', name: 'n', paymentScheduleId: null, capacity: 1 },
      'PATCH /v1/departures/{departureId}': { capacity: 0, inquireToBook: true },
      'POST /v1/bookings': bookingBody(B.departure, 'a@example.com'),
      'POST /v1/bookings/{bookingId}/cancel': { reason: 'attack' },
      'POST /v1/bookings/{bookingId}/refunds': { amount: { amount: 100, currency: 'EUR' }, reason: 'attack' },
      'POST /v1/bookings/crm-retry': { bookingIds: [B.booking], requestedBy: 'attacker' },
      'POST /v1/bookings/{bookingId}/crm-retry': { requestedBy: 'attacker' },
      'POST /v1/plans': { planId: 'plan-new', name: 'n', amount: { amount: 100, currency: 'EUR' }, interval: 'month' },
      'POST /v1/plans/{planId}/price': { amount: { amount: 1, currency: 'EUR' } },
      'POST /v1/plans/{planId}/retire': {},
      'POST /v1/customers/{customerId}/checkout': { planId: B.plan },
      'POST /v1/customers/{customerId}/subscription/plan-change': { planId: B.plan },
      'POST /v1/customers/{customerId}/subscription/cancel': { at: 'now' },
      'POST /v1/invoices': invoiceBody('client-a', 'a@example.com'),
      'POST /v1/invoices/{invoiceId}/payment-sessions': { method: 'stripe_connect' },
      'POST /v1/invoices/{invoiceId}/payer-link': {},
      'POST /v1/invoices/{invoiceId}/void': { reason: 'attack' },
      'POST /v1/invoices/{invoiceId}/refunds': { amount: { amount: 100, currency: 'EUR' }, reason: null },
    };
    const key = `${op.method} ${op.path}`;
    if (op.method === 'GET' || op.method === 'DELETE') return { path: op.path.includes('reports/finance') ? `${path}?from=${TODAY}&to=${TODAY}` : path };
    if (!(key in bodies)) throw new Error(`no body for ${key}: add a case for this new operation`);
    return { path, body: bodies[key] };
  }

  const send = (api: Api, method: string, path: string, body?: unknown): Promise<ApiResponse> =>
    method === 'GET' ? api.get(path) : method === 'DELETE' ? api.del(path) : method === 'PATCH' ? api.patch(path, body) : api.post(path, body);

  /**
   * What tenant A gets from each tenant operation aimed at B. Ops on a B id: 404 exactly. Ops that
   * create in A's own namespace or list A's own data: their status, checked for leaks separately.
   */
  const EXPECTED_FOR_A: Record<string, number> = {
    'GET /v1/departures/{departureId}': 404,
    'PATCH /v1/departures/{departureId}': 404,
    'GET /v1/bookings/{bookingId}': 404,
    'POST /v1/bookings/{bookingId}/cancel': 404,
    'POST /v1/bookings/{bookingId}/refunds': 404,
    'POST /v1/bookings/{bookingId}/crm-retry': 404,
    'GET /v1/plans/{planId}': 404,
    'POST /v1/plans/{planId}/price': 404,
    'POST /v1/plans/{planId}/retire': 404,
    'GET /v1/customers/{customerId}/subscription': 404,
    'POST /v1/customers/{customerId}/subscription/plan-change': 404,
    'POST /v1/customers/{customerId}/subscription/cancel': 404,
    'GET /v1/invoices/{invoiceId}': 404,
    'GET /v1/invoices/{invoiceId}/history': 404,
    'POST /v1/invoices/{invoiceId}/payment-sessions': 404,
    'POST /v1/invoices/{invoiceId}/payer-link': 404,
    'POST /v1/invoices/{invoiceId}/void': 404,
    'POST /v1/invoices/{invoiceId}/refunds': 404,
    'GET /v1/payments/{attemptId}': 404,
    // B's departure id is unknown in A's namespace
    'POST /v1/bookings': 422,
    // B's plan id is unknown in A's namespace (checkout for a customer id B also uses): a domain refusal
    'POST /v1/customers/{customerId}/checkout': 422,
    // no CRM configured here: the bulk retry cannot run for anyone (its messages are keyed by A's tenant id)
    'POST /v1/bookings/crm-retry': 503,
    // A's own namespace / A's own lists
    'POST /v1/departures': 201,
    'POST /v1/plans': 201,
    'POST /v1/invoices': 201,
    'GET /v1/invoices': 200,
    'GET /v1/payments': 200,
    'GET /v1/bookings': 200,
    'GET /v1/reports/finance': 200,
  };

  test('the operation list is the one this suite covers (a new endpoint must get a case)', () => {
    const tenantOps = ops.filter((o) => !isAdmin(o)).map((o) => `${o.method} ${o.path}`);
    expect(tenantOps.sort()).toEqual(Object.keys(EXPECTED_FOR_A).sort());
    expect(ops.filter(isAdmin).map((o) => `${o.method} ${o.path}`).sort()).toEqual(
      [
        'POST /v1/tenants',
        'POST /v1/tenants/{tenantId}/api-keys',
        'POST /v1/tenants/{tenantId}/stripe-account',
        'DELETE /v1/tenants/{tenantId}/api-keys/{keyId}',
        'GET /v1/admin/projections',
        'POST /v1/admin/projections/{name}/rebuild',
        'POST /v1/admin/projections/{name}/resume',
        'GET /v1/admin/projections/{name}/dead-letters',
        'GET /v1/admin/outbox/parked',
        'POST /v1/admin/outbox/parked/{key}/release',
        'POST /v1/admin/outbox/parked/{key}/skip',
        'GET /v1/admin/reports/finance',
        'GET /v1/tenants/{tenantId}/stripe-account',
        'POST /v1/admin/reconciliations',
        'GET /v1/admin/reconciliations',
        'GET /v1/admin/reconciliations/{runId}',
      ].sort(),
    );
  });

  const isAdmin = (o: { path: string }) => o.path.startsWith('/v1/tenants') || o.path.startsWith('/v1/admin/');

  test('every operation: no key → 401, an unknown or malformed key → 401', async () => {
    const anon = client(svc.url);
    const bogus = client(svc.url, `sk_settle_${randomBytes(24).toString('base64url')}`);
    const basic = client(svc.url, undefined, { authorization: `Basic ${Buffer.from(`x:${aKey}`).toString('base64')}` });
    const got: string[] = [];
    for (const op of ops) {
      const { path, body } = concrete(op);
      for (const [who, api] of [['anon', anon], ['bogus', bogus], ['basic', basic]] as const) {
        const r = await send(api, op.method, path, body);
        if (r.status !== 401 || (r.body as { type?: string }).type !== 'https://settle.dev/problems/unauthorized') got.push(`${who} ${op.method} ${op.path} → ${r.status}`);
      }
    }
    expect(got).toEqual([]);
  });

  test('every admin operation: a tenant key → 403, even on its own tenant', async () => {
    const got: string[] = [];
    for (const op of ops.filter(isAdmin)) {
      for (const target of ['tenant-b', 'tenant-a']) {
        const { path, body } = concrete(op);
        const p = path.replace('tenant-b', target).replace(bKeyId, target === 'tenant-a' ? aKeyId : bKeyId);
        const r = await send(a, op.method, p, body);
        if (r.status !== 403 || (r.body as { type?: string }).type !== 'https://settle.dev/problems/forbidden') got.push(`${op.method} ${p} → ${r.status}`);
      }
    }
    expect(got).toEqual([]);
    // nothing happened: no tenant "evil", B's key still works, B's account unchanged
    expect((await admin.post('/v1/tenants', { tenantId: 'evil', name: 'x' })).status).toBe(201);
    expect((await b.get(`/v1/invoices/${B.invoice}`)).status).toBe(200);
    const { rows } = await svc.runtime.db.query<{ account_id: string }>(`SELECT account_id FROM connected_accounts WHERE tenant_id = 'tenant-b'`);
    expect(rows.map((r) => r.account_id)).toEqual(['acct_1TenantBsecurity']);
  });

  test("every tenant operation aimed at tenant B's resources answers tenant A exactly as expected (404 on B's ids); B is unchanged", async () => {
    const got: Record<string, number> = {};
    for (const op of ops.filter((o) => !isAdmin(o))) {
      const { path, body } = concrete(op);
      got[`${op.method} ${op.path}`] = (await send(a, op.method, path, body)).status;
    }
    expect(got).toEqual(EXPECTED_FOR_A);
    // naming B in Settle-Tenant changes nothing for a tenant key
    const asB = client(svc.url, aKey, { 'settle-tenant': 'tenant-b' });
    expect((await asB.get(`/v1/invoices/${B.invoice}`)).status).toBe(404);
    expect((await asB.get(`/v1/bookings/${B.booking}`)).status).toBe(404);
    // B's data is exactly as before every attack
    expect(await snapshotOfB()).toEqual(bSnapshot);
  });

  test("A's lists and reports never contain B's data", async () => {
    const text = JSON.stringify([
      (await a.get('/v1/invoices?limit=100')).body,
      (await a.get('/v1/payments?limit=100')).body,
      (await a.get('/v1/bookings?limit=100')).body,
      (await a.get('/v1/bookings?stage=needs_attention')).body,
      (await a.get(`/v1/reports/finance?from=${TODAY}&to=${TODAY}`)).body,
    ]);
    for (const secret of [B.invoice, B.paidInvoice, B.booking, B.attempt, 'b-client@example.com', 'client-b', 'tenant-b']) expect(text).not.toContain(secret);
  });

  test('API keys are stored hashed: no row in any table of the schema holds a key in plaintext', async () => {
    const issued = [aKey, bKey];
    // also one created through the Idempotency-Key path (its response is stored for replay)
    const withIdem = await admin.post<{ apiKey: string }>('/v1/tenants/tenant-a/api-keys', { label: 'idem' }, { 'idempotency-key': `k-${randomBytes(4).toString('hex')}` });
    expect(withIdem.status).toBe(201);
    issued.push(withIdem.body.apiKey);
    const { rows: tables } = await svc.runtime.db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, [schema]);
    expect(tables.length).toBeGreaterThan(5);
    const leaks: string[] = [];
    for (const { table_name } of tables) {
      const { rows } = await svc.runtime.db.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM "${schema}"."${table_name}" t`);
      for (const r of rows) for (const k of issued) if (r.j.includes(k) || r.j.includes(k.slice(14))) leaks.push(`${table_name}: ${r.j.slice(0, 200)}`);
    }
    expect(leaks).toEqual([]);
    const { rows } = await svc.runtime.db.query<{ key_hash: string }>(`SELECT key_hash FROM api_keys`);
    for (const r of rows) expect(r.key_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('a revoked key stops working on the very next request; the tenant’s other keys keep working', async () => {
    const second = await admin.post<{ apiKey: string; keyId: string }>('/v1/tenants/tenant-a/api-keys', { label: 'to-revoke' });
    const k = client(svc.url, second.body.apiKey);
    for (let i = 0; i < 5; i++) expect((await k.get('/v1/invoices')).status).toBe(200); // warm any cache
    expect((await admin.del(`/v1/tenants/tenant-a/api-keys/${second.body.keyId}`)).status).toBe(204);
    const next = await k.get('/v1/invoices');
    expect(next.status).toBe(401);
    expect(next.body).toMatchObject({ type: 'https://settle.dev/problems/unauthorized' });
    expect((await k.post('/v1/invoices', invoiceBody('x', 'x@example.com'))).status).toBe(401);
    expect((await a.get('/v1/invoices')).status).toBe(200);
    // a tenant cannot revoke through another tenant's path, and the admin cannot revoke B's key through A's path
    expect((await admin.del(`/v1/tenants/tenant-a/api-keys/${bKeyId}`)).status).toBe(404);
    expect((await b.get('/v1/invoices')).status).toBe(200);
  });
});
