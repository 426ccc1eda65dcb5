/**
 * The read-model query API over HTTP against a real PostgreSQL (DATABASE_URL): filters, cursor
 * pagination, ETag/304, read-your-writes with min_position and the staleness marker, tenant scope.
 */
import { randomBytes } from 'node:crypto';
import { handle } from '../commands/handle';
import { streams } from '../commands/streams';
import { bookingDecider, type BookingCommand } from '../domain/booking/booking';
import { invoiceDecider, type InvoiceCommand } from '../domain/invoice/invoice';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { startTestService, type TestService, scrape } from '../test/support/service';

describe('query API (PostgreSQL)', () => {
  let svc: TestService;
  const schema = `q_${randomBytes(5).toString('hex')}`;
  let acme: ReturnType<typeof client>;
  let other: ReturnType<typeof client>;
  let lastPosition = '';
  let otherPosition = '';

  const invoice = (customerId: string, amount: number, currency = 'EUR') => ({
    customerId,
    customer: { name: customerId, email: `${customerId}@example.com` },
    currency,
    lineItems: [{ description: 'Session', quantity: 1, unitAmount: amount }],
    dueDate: '2026-12-31',
    allowedPaymentMethods: ['stripe_connect'],
  });

  async function pay(invoiceId: string, amount: number, outcome: 'succeeded' | 'failed', pi: string) {
    const r = await handle(
      svc.runtime.eventStore,
      streams.invoice('acme', invoiceId),
      invoiceDecider,
      () =>
        ({
          type: 'RecordPaymentAttempt',
          data: {
            attemptId: pi,
            provider: 'stripe',
            providerPaymentId: pi,
            providerChargeId: null,
            amount: { amount, currency: 'EUR' },
            outcome,
            errorCode: outcome === 'failed' ? 'card_declined' : null,
            declineCode: outcome === 'failed' ? 'insufficient_funds' : null,
            message: outcome === 'failed' ? 'Your card has insufficient funds.' : null,
            occurredAt: new Date().toISOString(),
            actor: { kind: 'provider', id: `evt_${pi}` },
          },
          metadata: { now: new Date() },
        }) satisfies InvoiceCommand,
      { tenantId: 'acme', correlationId: `evt_${pi}`, causationId: `evt_${pi}`, now: new Date() },
    );
    lastPosition = `${r.position!.commit}/${r.position!.prepare}`;
  }

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'acme', name: 'Acme' });
    await admin.post('/v1/tenants', { tenantId: 'other', name: 'Other' });
    acme = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/acme/api-keys', {})).body.apiKey);
    other = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/other/api-keys', {})).body.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await acme.post<{ invoiceId: string }>('/v1/invoices', invoice(i % 2 === 0 ? 'alice' : 'bob', 1000 + i))).body.invoiceId);
    await pay(ids[0]!, 1000, 'failed', 'pi_fail_0');
    await pay(ids[0]!, 1000, 'succeeded', 'pi_ok_0');
    await pay(ids[1]!, 1001, 'succeeded', 'pi_ok_1');
    otherPosition = (await other.post<{ position: string }>('/v1/invoices', invoice('alice', 5))).body.position;
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  test('invoices: filters and cursor pagination walk every row once, newest first, tenant-scoped', async () => {
    const all = await acme.get<{ data: Array<{ invoiceId: string; customerId: string; status: string }>; nextCursor: string | null }>(`/v1/invoices?limit=100&min_position=${lastPosition}`);
    expect(all.body.data).toHaveLength(7);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: { body: { data: Array<{ invoiceId: string }>; nextCursor: string | null } } = await acme.get(`/v1/invoices?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...r.body.data.map((i) => i.invoiceId));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.body.data.map((i) => i.invoiceId));
    const alice = await acme.get<{ data: Array<{ customerId: string }> }>('/v1/invoices?customer_id=alice');
    expect(alice.body.data).toHaveLength(4);
    expect(alice.body.data.every((i) => i.customerId === 'alice')).toBe(true);
    const paid = await acme.get<{ data: Array<{ status: string; amountPaid: unknown }> }>('/v1/invoices?status=paid');
    expect(paid.body.data).toHaveLength(2);
    expect((await other.get<{ data: unknown[] }>(`/v1/invoices?min_position=${otherPosition}`)).body.data).toHaveLength(1);
    expect((await acme.get('/v1/invoices?created_from=2999-01-01')).body).toMatchObject({ data: [] });
  });

  test('bad filters and cursors are 422 problems naming the query field', async () => {
    const r = await acme.get<{ errors: Array<{ path: string }> }>('/v1/invoices?status=lost&limit=0');
    expect(r.status).toBe(422);
    expect(r.body.errors.map((e) => e.path).sort()).toEqual(['query.limit', 'query.status']);
    expect((await acme.get('/v1/invoices?cursor=garbage')).status).toBe(422);
    // well-formed but crafted cursors are refused before they reach the database
    const crafted = Buffer.from(JSON.stringify(['x', 'y'])).toString('base64url');
    expect((await acme.get(`/v1/invoices?cursor=${crafted}`)).status).toBe(422);
    expect((await acme.get(`/v1/payments?cursor=${Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', 'not-a-uuid'])).toString('base64url')}`)).status).toBe(422);
    expect((await acme.get('/v1/invoices?colour=red')).status).toBe(422);
    expect((await acme.get('/v1/invoices?min_position=yesterday')).status).toBe(422);
  });

  test('payments: every attempt including failures, with decline code, message and docs link; filters by status', async () => {
    const r = await acme.get<{ data: Array<{ status: string; declineCode: string | null; docsUrl: string | null; message: string | null; payable: { type: string } }> }>(`/v1/payments?min_position=${lastPosition}`);
    expect(r.body.data).toHaveLength(3);
    const failed = r.body.data.find((p) => p.status === 'failed')!;
    expect(failed).toMatchObject({ declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.', payable: { type: 'invoice' } });
    expect(failed.docsUrl).toBe('https://docs.stripe.com/declines/codes#insufficient_funds');
    expect((await acme.get<{ data: unknown[] }>('/v1/payments?status=succeeded')).body.data).toHaveLength(2);
    expect((await acme.get<{ data: unknown[] }>('/v1/payments?customer_id=alice')).body.data).toHaveLength(2);
    const one = r.body.data[0] as unknown as { attemptId: string };
    expect((await acme.get(`/v1/payments/${one.attemptId}`)).status).toBe(200);
    expect((await other.get(`/v1/payments/${one.attemptId}`)).status).toBe(404);
  });

  test('ETag: an unchanged resource answers 304 to If-None-Match; a change gives a new ETag', async () => {
    const first = await acme.get<{ invoiceId: string }[]>(`/v1/invoices?customer_id=bob`);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"/);
    const again = await acme.get(`/v1/invoices?customer_id=bob`, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    const created = await acme.post<{ position: string }>('/v1/invoices', invoice('bob', 77));
    const changed = await acme.get(`/v1/invoices?customer_id=bob&min_position=${created.body.position}`, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  test('read-your-writes: min_position waits for the projection; a position it cannot reach in 2 s is marked stale', async () => {
    const created = await acme.post<{ invoiceId: string; position: string }>('/v1/invoices', invoice('carol', 4200));
    const r = await acme.get(`/v1/invoices/${created.body.invoiceId}?min_position=${created.body.position}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('settle-stale')).toBeNull();
    const [commit] = created.body.position.split('/');
    const future = `${BigInt(commit!) + 1000000n}/1`;
    const started = Date.now();
    const stale = await acme.get<{ stale?: boolean }>(`/v1/invoices?customer_id=carol&min_position=${future}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('settle-stale')).toBe('true');
    expect(stale.body.stale).toBe(true);
  });

  test('bookings: list by stage with the ones that need attention first; one booking with its CRM pipeline', async () => {
    await acme.post('/v1/departures', { departureId: 'D1', name: 'Trip', paymentScheduleId: 'sched', capacity: 10 });
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const b = await acme.post<{ bookingId: string }>('/v1/bookings', {
        departureId: 'D1',
        contact: { firstName: 'Ada', lastName: `L${i}`, email: `ada${i}@example.com`, phone: '+1 555' },
        guests: [{ firstName: 'Ada', lastName: `L${i}` }],
        price: { amount: 90000, currency: 'EUR' },
      });
      made.push(b.body.bookingId);
    }
    const ctx = { tenantId: 'acme', correlationId: 'c', causationId: 'c', now: new Date() };
    const run = (id: string, c: BookingCommand) => handle(svc.runtime.eventStore, streams.booking('acme', id), bookingDecider, () => c, ctx);
    const now = { now: new Date() };
    await run(made[1]!, { type: 'RecordPaymentCompleted', data: { provider: 'stripe', providerPaymentId: 'pi_b1', providerChargeId: null, amount: { amount: 90000, currency: 'EUR' } }, metadata: now });
    const failed = await run(made[1]!, { type: 'RecordCrmStageFailed', data: { stage: 'create_contact_booking', attempts: 5, lastError: 'CRM timeout' }, metadata: now });
    const pos = `${failed.position!.commit}/${failed.position!.prepare}`;
    const list = await acme.get<{ data: Array<{ bookingId: string; stage: string; needsAttention: boolean }> }>(`/v1/bookings?min_position=${pos}`);
    expect(list.body.data[0]).toMatchObject({ bookingId: made[1], stage: 'needs_attention', needsAttention: true });
    expect(list.body.data).toHaveLength(3);
    const attention = await acme.get<{ data: unknown[] }>('/v1/bookings?stage=needs_attention');
    expect(attention.body.data).toHaveLength(1);
    const one = await acme.get<{ crm: { stages: Record<string, { failed: boolean; lastError: string }> } }>(`/v1/bookings/${made[1]}`);
    expect(one.body.crm.stages.create_contact_booking).toMatchObject({ failed: true, lastError: 'CRM timeout' });
    expect((await other.get(`/v1/bookings/${made[1]}`)).status).toBe(404);
  });

  test('projection metrics: position, events behind, applied, dead letters, halted', async () => {
    const text = await scrape(svc);
    for (const name of ['invoices', 'invoice_history', 'payment_history', 'bookings', 'subscriptions']) {
      expect(text).toContain(`settle_projection_events_behind{projection="${name}"}`);
      expect(text).toContain(`settle_projection_dead_letters{projection="${name}"} 0`);
      expect(text).toContain(`settle_projection_halted{projection="${name}"} 0`);
      expect(text).toContain(`settle_projection_lag_seconds{subscription="${name}"}`);
    }
    expect(text).toMatch(/settle_projection_events_applied\{projection="invoices"\} [1-9]/);
  });

  test('the query API is in the same OpenAPI document as the commands', async () => {
    const doc = (await client(svc.url).get<{ paths: Record<string, Record<string, { parameters: Array<{ name: string }> }>> }>('/openapi.json')).body;
    expect(doc.paths['/v1/payments']!.get!.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['status', 'customer_id', 'cursor', 'min_position']));
    expect(doc.paths['/v1/invoices']!.post).toBeDefined();
    expect(doc.paths['/v1/invoices']!.get).toBeDefined();
  });
});
