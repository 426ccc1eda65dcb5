/**
 * Security issue #17, item 8: Idempotency-Key namespaces. The admin acting for a tenant
 * (`Settle-Tenant`) and the tenant's own keys shared one namespace: the admin's response was
 * replayed to the tenant's identical request, and a tenant could pre-empt an admin call by using
 * its key first. Keys are now scoped per tenant AND per kind of principal, the check runs after the
 * route's access check, and "the same body" is the same JSON (whitespace and key order aside).
 * The service runs in-process on the real PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, type TestService } from '../support/service';
import { bookingBody, invoiceBody, tenantWithKey } from './security.support';

jest.setTimeout(120_000);

describe('security: Idempotency-Key scope and comparison', () => {
  let svc: TestService;
  let tenant: ReturnType<typeof client>;
  let admin: ReturnType<typeof client>; // acting for tenant "idem"
  const schema = `sec_i_${randomBytes(5).toString('hex')}`;
  const k = () => `key-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, LOG_LEVEL: 'warn' });
    const t = await tenantWithKey(svc.url, 'idem');
    tenant = t.api;
    await tenantWithKey(svc.url, 'idem-other');
    admin = client(svc.url, ADMIN_KEY, { 'settle-tenant': 'idem' });
    expect((await tenant.post('/v1/departures', { departureId: 'DEP', name: 'Trip', paymentScheduleId: 'sched', capacity: 10 })).status).toBe(201);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  test("the admin's response is never replayed to the tenant: the tenant's identical request runs as its own", async () => {
    const key = k();
    const body = invoiceBody('c-1', 'c1@example.com', 1000);
    const a = await admin.post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    expect(a.status).toBe(201);
    const t = await tenant.post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    expect(t.status).toBe(201);
    expect(t.headers.get('idempotent-replayed')).toBeNull();
    expect(t.body.invoiceId).not.toBe(a.body.invoiceId);
    // each replays its own
    const again = await admin.post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.invoiceId).toBe(a.body.invoiceId);
    const tAgain = await tenant.post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    expect(tAgain.body.invoiceId).toBe(t.body.invoiceId);
  });

  test('a tenant cannot pre-empt an admin call by using its key first (no 422, no replay; distinct ids)', async () => {
    const key = k();
    const t = await tenant.post<{ bookingId: string }>('/v1/bookings', bookingBody('DEP', 'first@example.com'), { 'idempotency-key': key });
    expect(t.status).toBe(201);
    // the admin's request with the same key and another body runs
    const a = await admin.post<{ bookingId: string }>('/v1/bookings', bookingBody('DEP', 'admin@example.com'), { 'idempotency-key': key });
    expect(a.status).toBe(201);
    expect(a.headers.get('idempotent-replayed')).toBeNull();
    // and with the SAME body it is still the admin's own booking (ids seeded per principal too)
    const key2 = k();
    const t2 = await tenant.post<{ bookingId: string }>('/v1/bookings', bookingBody('DEP', 'same@example.com'), { 'idempotency-key': key2 });
    const a2 = await admin.post<{ bookingId: string }>('/v1/bookings', bookingBody('DEP', 'same@example.com'), { 'idempotency-key': key2 });
    expect([t2.status, a2.status]).toEqual([201, 201]);
    expect(a2.headers.get('idempotent-replayed')).toBeNull();
    expect(a2.body.bookingId).not.toBe(t2.body.bookingId);
  });

  test("the admin acting for one tenant does not share keys with the admin acting for another", async () => {
    const key = k();
    const body = invoiceBody('c-2', 'c2@example.com', 2000);
    const one = await admin.post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    const other = await client(svc.url, ADMIN_KEY, { 'settle-tenant': 'idem-other' }).post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    expect([one.status, other.status]).toEqual([201, 201]);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
  });

  test('authorization comes before any replay: a tenant key on an admin route is 403 even after the admin used the key', async () => {
    const key = k();
    const made = await client(svc.url, ADMIN_KEY).post<{ apiKey: string }>('/v1/tenants/idem/api-keys', { label: 'x' }, { 'idempotency-key': key });
    expect(made.status).toBe(201);
    const t = await tenant.post('/v1/tenants/idem/api-keys', { label: 'x' }, { 'idempotency-key': key });
    expect(t.status).toBe(403);
    expect(t.headers.get('idempotent-replayed')).toBeNull();
    // a tenant route called by the admin without naming a tenant: 400, and nothing was claimed
    const noTenant = await client(svc.url, ADMIN_KEY).post('/v1/invoices', invoiceBody('c-3', 'c3@example.com'), { 'idempotency-key': key });
    expect(noTenant.status).toBe(400);
    expect((await admin.post('/v1/invoices', invoiceBody('c-3', 'c3@example.com'), { 'idempotency-key': key })).status).toBe(201);
  });

  test("the tenant's keys are the tenant's: another key of the same tenant replays (Stripe: per account); a revoked key gets 401, not the replay", async () => {
    const key = k();
    const body = invoiceBody('c-4', 'c4@example.com', 4000);
    const first = await tenant.post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    const second = await client(svc.url, ADMIN_KEY).post<{ apiKey: string; keyId: string }>('/v1/tenants/idem/api-keys', { label: 'rotated' });
    const rotated = await client(svc.url, second.body.apiKey).post<{ invoiceId: string }>('/v1/invoices', body, { 'idempotency-key': key });
    expect(rotated.headers.get('idempotent-replayed')).toBe('true');
    expect(rotated.body.invoiceId).toBe(first.body.invoiceId);
    expect((await client(svc.url, ADMIN_KEY).del(`/v1/tenants/idem/api-keys/${second.body.keyId}`)).status).toBe(204);
    expect((await client(svc.url, second.body.apiKey).post('/v1/invoices', body, { 'idempotency-key': key })).status).toBe(401);
  });

  test('the same JSON with other whitespace and key order is the same request; another value is 422', async () => {
    const key = k();
    const body = invoiceBody('c-5', 'c5@example.com', 5000);
    const first = await tenant.post<{ invoiceId: string }>('/v1/invoices', JSON.stringify(body), { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const reordered = (o: unknown): unknown =>
      Array.isArray(o) ? o.map(reordered) : o && typeof o === 'object' ? Object.fromEntries(Object.entries(o).reverse().map(([kk, v]) => [kk, reordered(v)])) : o;
    const pretty = `\n  ${JSON.stringify(reordered(body), null, 4)}\n\n`;
    expect(pretty).not.toBe(JSON.stringify(body));
    const replay = await tenant.post<{ invoiceId: string }>('/v1/invoices', pretty, { 'idempotency-key': key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.invoiceId).toBe(first.body.invoiceId);
    const different = await tenant.post('/v1/invoices', { ...body, lineItems: [{ ...body.lineItems[0], unitAmount: 5001 }] }, { 'idempotency-key': key });
    expect(different.status).toBe(422);
    expect(different.body).toMatchObject({ type: 'https://settle.dev/problems/idempotency-key-reused' });
    // array order is part of the value
    const key2 = k();
    const two = { ...body, allowedPaymentMethods: ['stripe_connect', 'paypal'] };
    expect((await tenant.post('/v1/invoices', two, { 'idempotency-key': key2 })).status).toBe(201);
    expect((await tenant.post('/v1/invoices', { ...two, allowedPaymentMethods: ['paypal', 'stripe_connect'] }, { 'idempotency-key': key2 })).status).toBe(422);
  });
});
