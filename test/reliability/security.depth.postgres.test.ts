/**
 * Security issue #17, item 10: bodies nested absurdly deep. A JSON body 20,000 levels deep used to
 * answer 500 (a recursive text scan overflowed the stack). Now every JSON API body and every
 * verified webhook body deeper than 64 levels is a 400 `json-too-deep` problem, and nothing is
 * written. The service runs in-process on the real PostgreSQL, with the PayPal simulator signing
 * PayPal webhooks.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ADMIN_KEY } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { scrape, startTestService, type TestService } from '../support/service';
import { deliver, stripeEvent } from '../support/stripeEvents';
import { paypalEvent } from '../support/paypalEvents';
import { startPayPalSimulator, type PayPalSimulator } from '../simulators/paypal';
import { PLATFORM_SECRET, invoiceBody, tenantWithKey } from './security.support';

jest.setTimeout(120_000);

/** `{"a":{"a":…"x"…}}`, `depth` objects deep, as text (JSON.stringify of it would itself overflow). */
const deepObject = (depth: number, leaf = '"x"') => `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
const deepArray = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

describe('security: deeply nested JSON bodies', () => {
  let svc: TestService;
  let sim: PayPalSimulator;
  let db: Client;
  let bearer: string;
  const schema = `sec_d_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    sim = await startPayPalSimulator();
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_WEBHOOK_SECRET: PLATFORM_SECRET,
      PAYPAL_API_BASE: sim.url,
      PAYPAL_WEBHOOK_ID: sim.webhookId,
      LOG_LEVEL: 'warn',
    });
    bearer = (await tenantWithKey(svc.url, 'deep')).apiKey;
    db = new Client({ connectionString: databaseUrl() });
    await db.connect();
    await db.query(`SET search_path TO ${schema}`);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await sim?.close();
    await db?.end();
    await dropSchema(schema);
  });

  const counts = async () => (await db.query<{ e: string; i: string }>(`SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM webhook_inbox) AS i`)).rows[0]!;
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${svc.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, ...headers }, body });
  const expectTooDeep = async (r: Response) => {
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await r.json()).toMatchObject({ type: 'https://settle.dev/problems/json-too-deep', status: 400, maxDepth: 64 });
  };

  test.each([
    ['20,000 objects deep in a field', () => JSON.stringify(invoiceBody('c', 'c@example.com')).replace('"customerId":"c"', `"customerId":${deepObject(20_000)}`)],
    ['20,000 arrays deep at the top', () => deepArray(20_000)],
    ['65 levels deep, just over the limit', () => JSON.stringify(invoiceBody('c', 'c@example.com')).replace('"customerId":"c"', `"customerId":${deepObject(64)}`)],
  ])('API: %s is a 400 json-too-deep problem, nothing written (with and without Idempotency-Key)', async (_name, body) => {
    const before = await counts();
    await expectTooDeep(await post('/v1/invoices', body()));
    await expectTooDeep(await post('/v1/invoices', body(), { 'idempotency-key': `deep-${randomBytes(4).toString('hex')}` }));
    expect(await counts()).toEqual(before);
  });

  test('API: 64 levels are within the limit (then the schema decides: 422, not 400)', async () => {
    const r = await post('/v1/invoices', JSON.stringify(invoiceBody('c', 'c@example.com')).replace('"customerId":"c"', `"customerId":${deepObject(63)}`));
    expect(r.status).toBe(422);
  });

  test('Stripe webhook: a correctly signed event nested 20,000 deep is a 400, not stored', async () => {
    const before = await counts();
    for (const depth of [20_000, 65]) {
      const ev = stripeEvent('payment_intent.succeeded');
      const payload = JSON.stringify(ev).replace('"metadata":{', `"deep":${deepObject(depth)},"metadata":{`);
      const r = await deliver(`${svc.url}/webhooks/stripe`, payload, PLATFORM_SECRET);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ type: 'https://settle.dev/problems/json-too-deep' });
    }
    expect(await counts()).toEqual(before);
    const metrics = await scrape(svc);
    expect(metrics).toMatch(/settle_webhooks_rejected_total\{endpoint="stripe",reason="json-too-deep"\} 2/);
  });

  test('PayPal webhook: a verified event nested 20,000 deep is a 400, not stored', async () => {
    const before = await counts();
    const ev = paypalEvent('CHECKOUT.ORDER.APPROVED');
    const raw = JSON.stringify(ev).replace('"resource":{', `"deep":${deepObject(20_000)},"resource":{`);
    const r = await sim.sendWebhook(`${svc.url}/webhooks/paypal`, raw);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ type: 'https://settle.dev/problems/json-too-deep' });
    expect(await counts()).toEqual(before);
  });
});
