/**
 * Live status across instances (real PostgreSQL): a page open on an instance that does not run
 * the projections (PROJECTIONS_ENABLED=false) learns of a change through PostgreSQL NOTIFY, sent
 * in the projection batch transaction of the instance that runs them.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../test/support/api';
import { openSse } from '../test/support/console';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { startTestService, type TestService } from '../test/support/service';
import { deliver, stripeEvent } from '../test/support/stripeEvents';
import { payerLinkPath } from './payerLinks';

const SECRET = 'whsec_live_test_secret';
const PAYER_SECRET = 'payer-link-secret-for-the-live-tests-0123456';

describe('live status across instances (PostgreSQL LISTEN/NOTIFY)', () => {
  let a: TestService;
  let b: TestService;
  const schema = `live_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    const env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, STRIPE_WEBHOOK_SECRET: SECRET, PAYER_LINK_SECRET: PAYER_SECRET, LOG_LEVEL: 'warn' };
    a = await startTestService(env);
    b = await startTestService({ ...env, PROJECTIONS_ENABLED: 'false' });
  });
  afterAll(async () => {
    await b?.shutdown('test end');
    await a?.shutdown('test end');
    await dropSchema(schema);
  });

  test('a stream on the instance without projections receives the change committed by the other', async () => {
    const admin = client(a.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'acme', name: 'Acme' });
    const api = client(a.url, (await admin.post<{ apiKey: string }>('/v1/tenants/acme/api-keys', {})).body.apiKey);
    const invoiceId = (
      await api.post<{ invoiceId: string }>('/v1/invoices', {
        customerId: 'c1',
        customer: { name: 'C', email: 'c@example.com' },
        currency: 'USD',
        lineItems: [{ description: 'Session', quantity: 1, unitAmount: 1200 }],
        dueDate: '2026-12-31',
        allowedPaymentMethods: ['stripe_connect'],
      }, { 'idempotency-key': `inv-${schema}` })
    ).body.invoiceId;
    const link = payerLinkPath(PAYER_SECRET, { tenantId: 'acme', invoiceId, expires: Math.floor(Date.now() / 1000) + 600 });
    const [p, q] = link.split('?');
    // the invoice reaches the read model through instance A's projections
    for (let i = 0; i < 200 && (await fetch(`${b.url}${link}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 25));
    const sse = await openSse(`${b.url}${p}/live?${q}`);
    expect(sse.status).toBe(200);
    let e = await sse.next();
    while (e.event !== 'status') e = await sse.next();
    expect(JSON.parse(e.data).state.status).toBe('open');
    expect(b.runtime.projections.every((r) => !r.status().leader)).toBe(true);

    const ev = stripeEvent('payment_intent.succeeded', (o) => {
      o.id = `pi_live_${invoiceId}`;
      o.metadata = { tenant_id: 'acme', invoice_id: invoiceId };
      o.amount = 1200;
      o.amount_received = 1200;
      o.latest_charge = `ch_live_${invoiceId}`;
    });
    expect((await deliver(`${a.url}/webhooks/stripe`, ev, SECRET)).status).toBe(200);
    const deadline = Date.now() + 15_000;
    let paid = false;
    while (!paid && Date.now() < deadline) {
      const next = await sse.next(Math.max(1, deadline - Date.now()));
      paid = next.event === 'status' && JSON.parse(next.data).state.status === 'paid';
    }
    expect(paid).toBe(true);
    sse.close();
  });
});
