/**
 * Stripe Connect account isolation on the wire: the service talks to stripe-mock through a
 * recording proxy (STRIPE_API_BASE → proxy → stripe-mock). Two tenants, each with its own
 * connected account, take invoice payments and refunds; every outbound call that acts for a
 * tenant carries exactly that tenant's account in Stripe-Account, never the other's, and platform
 * calls (products, prices, subscription checkout) carry none.
 */
import { randomBytes } from 'node:crypto';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { startTestService, type TestService } from '../support/service';
import { CONNECT_SECRET, header, invoiceBody, linkConnectedAccount, payInvoiceOnConnect, PLATFORM_SECRET, RecordingProxy, stripeMockBase, tenantWithKey, type Recorded } from './security.support';

const ACCOUNTS: Record<string, string> = { 'conn-a': 'acct_1ConnTenantA', 'conn-b': 'acct_1ConnTenantB' };

describe('security: Stripe Connect calls carry the right tenant account', () => {
  let svc: TestService;
  const proxy = new RecordingProxy(new URL(stripeMockBase()));
  const schema = `sec_c_${randomBytes(5).toString('hex')}`;
  const invoices: Record<string, string[]> = { 'conn-a': [], 'conn-b': [] };
  const paymentIntents: Record<string, string> = {};

  beforeAll(async () => {
    await proxy.start();
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_SECRET_KEY: 'sk_test_123',
      STRIPE_API_BASE: proxy.url,
      STRIPE_WEBHOOK_SECRET: PLATFORM_SECRET,
      STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET,
      STRIPE_APPLICATION_FEE_BPS: '250',
      LOG_LEVEL: 'warn',
    });
    for (const tenant of Object.keys(ACCOUNTS)) {
      const { api } = await tenantWithKey(svc.url, tenant);
      await linkConnectedAccount(svc, tenant, ACCOUNTS[tenant]!);
      // platform calls for the same tenant: its plan (product + price) and a subscription checkout
      expect((await api.post('/v1/plans', { planId: 'pro', name: 'Pro', amount: { amount: 2900, currency: 'EUR' }, interval: 'month' })).status).toBe(201);
      expect((await api.post('/v1/customers/cus-1/checkout', { planId: 'pro' })).status).toBe(201);
      for (let i = 0; i < 3; i++) {
        const inv = await api.post<{ invoiceId: string }>('/v1/invoices', invoiceBody(`client-${i}`, `c${i}@example.com`, 10000 + i));
        expect(inv.status).toBe(201);
        invoices[tenant]!.push(inv.body.invoiceId);
      }
    }
    // interleave the two tenants, concurrently: sessions, then payments (webhooks), then refunds
    const apis = Object.fromEntries(await Promise.all(Object.keys(ACCOUNTS).map(async (t) => [t, client(svc.url, await keyOf(t))] as const)));
    const sessions = await Promise.all(
      [0, 1, 2].flatMap((i) => Object.keys(ACCOUNTS).map((t) => apis[t]!.post<{ reference: string }>(`/v1/invoices/${invoices[t]![i]}/payment-sessions`, { method: 'stripe_connect' }))),
    );
    expect(sessions.map((s) => s.status)).toEqual([201, 201, 201, 201, 201, 201]);
    for (const t of Object.keys(ACCOUNTS)) {
      for (let i = 0; i < 2; i++) {
        const { paymentIntentId } = await payInvoiceOnConnect(svc, t, ACCOUNTS[t]!, invoices[t]![i]!, 10000 + i);
        paymentIntents[paymentIntentId] = t;
      }
    }
    const refunds = await Promise.all(
      [0, 1].flatMap((i) => Object.keys(ACCOUNTS).map((t) => apis[t]!.post(`/v1/invoices/${invoices[t]![i]}/refunds`, { amount: { amount: 1000, currency: 'EUR' }, reason: 'security suite' }))),
    );
    expect(refunds.map((r) => `${r.status} ${r.status === 201 ? '' : JSON.stringify(r.body)}`.trim())).toEqual(['201', '201', '201', '201']);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await proxy.stop();
    await dropSchema(schema);
  });

  const keys: Record<string, string> = {};
  async function keyOf(tenant: string): Promise<string> {
    if (!keys[tenant]) {
      keys[tenant] = (await client(svc.url, ADMIN_KEY).post<{ apiKey: string }>(`/v1/tenants/${tenant}/api-keys`, { label: 'connect' })).body.apiKey;
    }
    return keys[tenant];
  }

  const form = (r: Recorded) => Object.fromEntries(new URLSearchParams(r.body));

  /** The tenant a recorded call acts for, from what it carries (metadata, or the refunded payment intent). */
  function tenantOfCall(r: Recorded): string | null {
    const f = form(r);
    if (r.path === '/v1/refunds') return paymentIntents[f.payment_intent ?? ''] ?? 'unknown-payment-intent';
    return f['metadata[tenant_id]'] ?? f['payment_intent_data[metadata][tenant_id]'] ?? null;
  }

  test('invoice payment sessions go to the invoice tenant’s connected account, and only that one', () => {
    const sessions = proxy.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && form(r).mode === 'payment');
    expect(sessions).toHaveLength(6);
    const seen = sessions.map((r) => [form(r)['metadata[tenant_id]'], form(r).client_reference_id, header(r, 'stripe-account')]);
    const expected = Object.keys(ACCOUNTS).flatMap((t) => invoices[t]!.map((inv) => [t, inv, ACCOUNTS[t]]));
    expect(seen.sort()).toEqual(expected.sort());
  });

  test('refunds of Connect payments go to the paying tenant’s account', () => {
    const refunds = proxy.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds');
    expect(refunds).toHaveLength(4);
    for (const r of refunds) {
      const tenant = paymentIntents[form(r).payment_intent ?? ''];
      expect({ pi: form(r).payment_intent, account: header(r, 'stripe-account') }).toEqual({ pi: form(r).payment_intent, account: ACCOUNTS[tenant!] });
    }
  });

  test('platform calls (products, prices, subscription checkout) carry no Stripe-Account', () => {
    const platform = proxy.requests.filter((r) => r.path.startsWith('/v1/products') || r.path.startsWith('/v1/prices') || (r.path === '/v1/checkout/sessions' && form(r).mode === 'subscription'));
    expect(platform.length).toBeGreaterThanOrEqual(6); // 2 × (product + price + subscription session)
    expect(platform.filter((r) => header(r, 'stripe-account') !== undefined).map((r) => `${r.method} ${r.path} ${header(r, 'stripe-account')}`)).toEqual([]);
  });

  test('no outbound call ever carries another tenant’s account; every account-bearing call is attributable', () => {
    const wrong: string[] = [];
    for (const r of proxy.requests) {
      const account = header(r, 'stripe-account');
      const tenant = tenantOfCall(r);
      if (account === undefined) {
        if (tenant && (r.path === '/v1/refunds' || form(r).mode === 'payment')) wrong.push(`${r.method} ${r.path} for ${tenant} without an account`);
        continue;
      }
      if (!Object.values(ACCOUNTS).includes(account)) wrong.push(`${r.method} ${r.path} with unknown account ${account}`);
      else if (tenant !== null && ACCOUNTS[tenant] !== account) wrong.push(`${r.method} ${r.path} for ${tenant} with ${account}`);
      else if (tenant === null) wrong.push(`${r.method} ${r.path} with ${account} but no tenant to attribute it to`);
    }
    expect(wrong).toEqual([]);
    expect(proxy.requests.length).toBeGreaterThanOrEqual(16);
  });
});
