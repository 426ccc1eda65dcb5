/**
 * Subscription and plan commands with a provider adapter that records every call, on an event
 * store given by the runner: in memory by commands/subscriptions.test.ts, on PostgreSQL by
 * commands/subscriptions.postgres.test.ts.
 */

import { ProviderError } from '../../domain/ports/billingProvider';
import { DomainRefusal } from '../../domain/shared/decider';
import type { EventStore } from '../../domain/ports/eventStore';
import type { StoreUnderTest } from './storeUnderTest';
import { RecordingBillingProvider } from '../support/recordingProvider';
import type { CommandContext } from '../../commands/handle';
import { streams } from '../../commands/streams';
import { SubscriptionCommands } from '../../commands/subscriptions';
import { providerRequestHandler } from '../../commands/reactors/providerRequests';

export function describeSubscriptionCommands(adapter: string, open: () => Promise<StoreUnderTest>): void {
describe(`subscription commands (${adapter})`, () => {
  let subject: StoreUnderTest;
  let store: EventStore;
  let provider: RecordingBillingProvider;
  let subs: SubscriptionCommands;
  const ctx = (over: Partial<CommandContext> = {}): CommandContext => ({ tenantId: 'coachco', correlationId: 'corr', causationId: 'req', now: new Date(), ...over });
  let n = 0;
  const customer = () => `cus_${++n}_${Date.now()}`;

  beforeAll(async () => {
    subject = await open();
    store = subject.store;
  });
  beforeEach(async () => {
    provider = new RecordingBillingProvider();
    subs = new SubscriptionCommands(store, provider, { sessionTtlSeconds: 1800, waitForSessionMs: 20_000 });
    if (!(await subs.getPlan('coachco', 'pro-monthly'))) {
      await subs.definePlan({ planId: 'pro-monthly', name: 'Pro monthly', amount: { amount: 2900, currency: 'EUR' }, interval: 'month' }, ctx());
      await subs.definePlan({ planId: 'pro-annual', name: 'Pro annual', amount: { amount: 29000, currency: 'EUR' }, interval: 'year' }, ctx());
      await subs.definePlan({ planId: 'team-monthly', name: 'Team monthly', amount: { amount: 9900, currency: 'EUR' }, interval: 'month' }, ctx());
    }
  });
  afterAll(() => subject.close());

  async function activeCustomer(planId = 'pro-monthly'): Promise<string> {
    const c = customer();
    const checkout = await subs.startCheckout(c, planId, ctx());
    const plan = (await subs.getPlan('coachco', planId))!;
    await subs.activate(c, { sessionId: checkout.sessionId, providerSubscriptionId: `sub_${c}`, planId, priceId: plan.providerPriceId!, interval: plan.interval!, currentPeriodStart: '2026-11-01T00:00:00.000Z', currentPeriodEnd: '2026-12-01T00:00:00.000Z' }, ctx());
    return c;
  }

  test('two tabs, twenty requests at once: one provider checkout session, every request gets it', async () => {
    provider.latencyMs = 150; // a slow provider widens the race window
    const c = customer();
    const results = await Promise.all(Array.from({ length: 20 }, () => subs.startCheckout(c, 'pro-monthly', ctx())));
    expect(provider.distinctEffects('createCheckoutSession')).toBe(1);
    expect(provider.callsOf('createCheckoutSession')).toHaveLength(1);
    expect(new Set(results.map((r) => r.sessionId)).size).toBe(1);
    expect(results.filter((r) => !r.reused)).toHaveLength(1);
    const events = await store.readStream(streams.subscription('coachco', c));
    expect(events.filter((e) => e.type === 'CheckoutSessionCreated')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'CheckoutRequested')).toHaveLength(1);
    expect(provider.callsOf('createCheckoutSession')[0]!.request).toMatchObject({ metadata: { tenant_id: 'coachco', customer_id: c, plan_id: 'pro-monthly' } });
  });

  test('an unexpired pending session is returned again later; another plan replaces it (expired at the provider); a live subscription refuses a new checkout', async () => {
    const c = customer();
    const first = await subs.startCheckout(c, 'pro-monthly', ctx());
    const again = await subs.startCheckout(c, 'pro-monthly', ctx());
    expect(again).toMatchObject({ sessionId: first.sessionId, reused: true });
    const annual = await subs.startCheckout(c, 'pro-annual', ctx());
    expect(annual).toMatchObject({ reused: false });
    expect(annual.sessionId).not.toBe(first.sessionId);
    expect(provider.callsOf('expireCheckoutSession').map((x) => x.request.sessionId)).toEqual([first.sessionId]);
    const live = await activeCustomer();
    await expect(subs.startCheckout(live, 'pro-monthly', ctx())).rejects.toMatchObject({ code: 'live_subscription_exists' });
  });

  test('a failed provider call releases the claim so the next checkout can try again', async () => {
    const c = customer();
    provider.failNext.createCheckoutSession = new ProviderError('unavailable', 'stripe down');
    await expect(subs.startCheckout(c, 'pro-monthly', ctx())).rejects.toBeInstanceOf(ProviderError);
    const ok = await subs.startCheckout(c, 'pro-monthly', ctx());
    expect(ok.reused).toBe(false);
    expect((await store.readStream(streams.subscription('coachco', c))).map((e) => e.type)).toEqual(['CheckoutRequested', 'CheckoutRequestFailed', 'CheckoutRequested', 'CheckoutSessionCreated']);
  });

  test('checkout of an unknown or retired plan is refused', async () => {
    await expect(subs.startCheckout(customer(), 'nope', ctx())).rejects.toMatchObject({ code: 'plan_not_found' });
  });

  test('monthly to annual: proration, billing cycle anchor reset to now, local plan changed once captured', async () => {
    const c = await activeCustomer('pro-monthly');
    const r = await subs.requestPlanChange(c, 'pro-annual', ctx());
    expect(r.outcome).toBe('captured');
    expect(provider.callsOf('changeSubscriptionPlan')[0]!.request).toMatchObject({ prorationBehavior: 'always_invoice', paymentBehavior: 'pending_if_incomplete', billingCycleAnchor: 'now' });
    expect(r.state).toMatchObject({ planId: 'pro-annual', interval: 'year', pendingPlanChange: null });
  });

  test('same interval keeps the anchor; a declined change leaves the customer on the old plan', async () => {
    const c = await activeCustomer('pro-monthly');
    provider.planChangeOutcome = 'declined';
    const r = await subs.requestPlanChange(c, 'team-monthly', ctx());
    expect(provider.callsOf('changeSubscriptionPlan')[0]!.request).toMatchObject({ billingCycleAnchor: 'unchanged' });
    expect(r.outcome).toBe('declined');
    expect(r.state).toMatchObject({ planId: 'pro-monthly', pendingPlanChange: null, accessActive: true });
  });

  test('a pending change (payment not yet captured) blocks a different change; retrying the same change resumes it with the same provider key', async () => {
    const c = await activeCustomer('pro-monthly');
    provider.planChangeOutcome = 'pending';
    const first = await subs.requestPlanChange(c, 'pro-annual', ctx());
    expect(first.outcome).toBe('pending');
    expect(first.state.planId).toBe('pro-monthly');
    await expect(subs.requestPlanChange(c, 'team-monthly', ctx())).rejects.toMatchObject({ code: 'plan_change_pending' });
    await subs.requestPlanChange(c, 'pro-annual', ctx());
    expect(provider.distinctEffects('changeSubscriptionPlan')).toBe(1);
  });

  test('concurrent plan changes to different plans: one wins, the other gets a clear conflict', async () => {
    const c = await activeCustomer('pro-monthly');
    provider.planChangeOutcome = 'pending';
    const outcomes = await Promise.allSettled([subs.requestPlanChange(c, 'pro-annual', ctx()), subs.requestPlanChange(c, 'team-monthly', ctx())]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(DomainRefusal);
    expect(rejected.reason.code).toBe('plan_change_pending');
  });

  test('failed renewal while the provider retries: past due, access kept, no provider calls', async () => {
    const c = await activeCustomer();
    const r = await subs.recordRenewalPaymentFailed(c, { providerInvoiceId: 'in_1', amount: { amount: 2900, currency: 'EUR' }, nextPaymentAttempt: '2026-12-04T00:00:00.000Z', errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' }, ctx());
    expect(r.state).toMatchObject({ status: 'past_due', accessActive: true, nextPaymentAttempt: '2026-12-04T00:00:00.000Z' });
    expect(r.newEvents.map((e) => e.type)).toContain('PaymentWarningNoticeRequested');
    expect(provider.calls.filter((x) => x.method === 'cancelSubscription' || x.method === 'voidInvoice')).toHaveLength(0);
  });

  test('final failure: suspended, access ends, provider subscription cancelled and open invoice voided exactly once', async () => {
    const c = await activeCustomer();
    const final = { providerInvoiceId: 'in_9', amount: { amount: 2900, currency: 'EUR' }, nextPaymentAttempt: null, errorCode: 'card_declined', declineCode: 'expired_card', message: 'Your card has expired.' };
    const r = await subs.recordRenewalPaymentFailed(c, final, ctx());
    expect(r.state).toMatchObject({ status: 'suspended', accessActive: false });
    await subs.recordRenewalPaymentFailed(c, final, ctx()); // redelivered webhook
    // the provider-request reactor carries out what the events ask for; a redelivered batch acts once
    const react = providerRequestHandler(() => provider);
    const events = await store.readStream(streams.subscription('coachco', c));
    await react(events);
    await react(events);
    expect(provider.distinctEffects('cancelSubscription')).toBe(1);
    expect(provider.distinctEffects('voidInvoice')).toBe(1);
    expect(provider.callsOf('cancelSubscription')[0]!.request).toMatchObject({ providerSubscriptionId: `sub_${c}`, atPeriodEnd: false });
    expect(provider.callsOf('voidInvoice')[0]!.request).toMatchObject({ providerInvoiceId: 'in_9' });
  });

  test('cancel at period end keeps access until then; cancel now ends it', async () => {
    const a = await activeCustomer();
    const r = await subs.cancel(a, 'period_end', ctx());
    expect(r.state).toMatchObject({ status: 'cancellation_scheduled', accessActive: true });
    expect(provider.callsOf('cancelSubscription').at(-1)!.request).toMatchObject({ atPeriodEnd: true });
    const b = await activeCustomer();
    const now = await subs.cancel(b, 'now', ctx());
    expect(now.state).toMatchObject({ status: 'cancelled', accessActive: false });
    await expect(subs.cancel(customer(), 'now', ctx())).rejects.toMatchObject({ code: 'no_live_subscription' });
  });

  test('a price change archives the old provider price and creates a new one', async () => {
    await subs.definePlan({ planId: 'starter', name: 'Starter', amount: { amount: 900, currency: 'EUR' }, interval: 'month' }, ctx());
    const before = (await subs.getPlan('coachco', 'starter'))!;
    const r = await subs.changePlanPrice('starter', { amount: { amount: 1200, currency: 'EUR' } }, ctx());
    expect(r.state.providerPriceId).not.toBe(before.providerPriceId);
    expect(r.state.archivedProviderPriceIds).toContain(before.providerPriceId);
    expect(r.state.amount).toEqual({ amount: 1200, currency: 'EUR' });
    expect(provider.callsOf('archivePrice').map((x) => x.request.priceId)).toEqual([before.providerPriceId]);
    await expect(subs.definePlan({ planId: 'starter', name: 'again', amount: { amount: 1, currency: 'EUR' }, interval: 'month' }, ctx())).rejects.toMatchObject({ code: 'plan_exists' });
  });
});
}
