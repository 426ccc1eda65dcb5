/**
 * Named regression (issue #16, refused plan change): Stripe refused a plan change (stripe-mock,
 * which validates against the API version it embeds, answers 400 "billing_cycle_anchor: not a
 * string" to the body of the SDK's newer API version), and the change stayed pending for ever:
 * every later change was answered 409 plan_change_pending. Now the refusal is a 422 problem, the
 * pending change is cleared, a later request reaches Stripe again, and once the operator pins
 * STRIPE_API_VERSION to what the account speaks (a second instance on the same database, as a
 * rolling restart does) the change goes through and Stripe's subscription object settles it.
 * Real services: the built service as two child processes on one PostgreSQL schema
 * (DATABASE_URL), in-process messaging, stock stripe-mock (STRIPE_API_BASE) behind a recording
 * proxy; signed platform webhooks built from Stripe's published example objects.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { client } from '../../support/api';
import { stripeMockProxy, type StripeProxy } from '../driver/stripeProxy';
import { startSettle, type Settle } from '../driver/service';
import { BillingWorld, DAY, withPlans, type Obj } from '../driver/subscriptions';
import { newTenant } from '../driver/tenant';

/** The version stock stripe-mock v0.203.0 validates against (README "API version"). */
const MOCK_API_VERSION = '2026-08-26.dahlia';

describe('a plan change Stripe refused is not left pending (PostgreSQL, stripe-mock)', () => {
  const schema = `acc_${randomBytes(6).toString('hex')}`;
  let proxy: StripeProxy;
  let sdkVersion: Settle;
  let pinned: Settle;
  let world: BillingWorld;
  beforeAll(async () => {
    proxy = stripeMockProxy();
    await proxy.start();
    const env = { STRIPE_API_BASE: proxy.url, DATABASE_SCHEMA: schema };
    sdkVersion = await startSettle({ storage: 'postgres', messaging: 'in-process', env });
    pinned = await startSettle({ storage: 'postgres', messaging: 'in-process', env: { ...env, STRIPE_API_VERSION: MOCK_API_VERSION } });
    const tenant = await newTenant(sdkVersion, 'saas-refused-change');
    world = new BillingWorld(await withPlans(sdkVersion, tenant.id, tenant.api));
  }, 120_000);
  afterAll(async () => {
    await pinned?.stop();
    await sdkVersion?.stop();
    await proxy?.stop();
    const pg = new Client({ connectionString: process.env.DATABASE_URL });
    await pg.connect();
    await pg.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => pg.end());
  });

  test('refused: 422, nothing pending, the next request reaches Stripe (no 409); with the version pinned the change goes through and Stripe settles it', async () => {
    const c = 'refused-customer';
    const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 5 * DAY;
    await world.activate(c, start);
    await world.view(c, (v) => v.status === 'active');
    const updates = () => proxy.callsTo('POST', `/v1/subscriptions/sub_${c}`);

    const refused = await world.b.api.post<Obj>(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ type: expect.stringContaining('provider-rejected'), detail: expect.stringMatching(/billing_cycle_anchor.*not a string/) });
    expect(updates().map((u) => u.status)).toEqual([400]);
    expect(await world.view(c, (v) => v.pendingPlanChange === null)).toMatchObject({ pendingPlanChange: null, planId: 'monthly', status: 'active' });

    // not blocked by a change that can never complete: Stripe is asked again (and refuses again)
    const again = await world.b.api.post<Obj>(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect(again.status).toBe(422);
    expect(updates().map((u) => u.status)).toEqual([400, 400]);
    expect(await world.view(c, (v) => v.pendingPlanChange === null)).toMatchObject({ pendingPlanChange: null, planId: 'monthly' });

    // the operator pins the API version (the second instance): the same request goes through
    const api = client(pinned.url, (await pinned.admin.post<{ apiKey: string }>(`/v1/tenants/${world.b.tenantId}/api-keys`, {})).body.apiKey);
    const through = await api.post<Obj>(`/v1/customers/${c}/subscription/plan-change`, { planId: 'yearly' });
    expect([200, 202]).toContain(through.status);
    expect(['captured', 'pending']).toContain(through.body.outcome);
    expect(updates().map((u) => u.status)).toEqual([400, 400, 200]);
    expect(decodeURIComponent(updates()[2]!.body)).toContain(`items[0][price]=${world.b.price.yearly}`);

    // Stripe's subscription object on the yearly price settles it
    const now = Math.floor(Date.now() / 1000);
    await world.send(world.subscription('customer.subscription.updated', c, now, { planId: 'yearly', periodStart: now, periodEnd: now + 365 * DAY }));
    expect(await world.view(c, (v) => v.planId === 'yearly' && v.pendingPlanChange === null)).toMatchObject({ planId: 'yearly', priceId: world.b.price.yearly, interval: 'year', pendingPlanChange: null, status: 'active' });
    await sdkVersion.settled();
  }, 90_000);
});
