import { DomainRefusal, fold } from '../shared/decider';
import { spec } from '../../test/support/given';
import {
  addBillingInterval,
  checkoutStatus,
  subscriptionDecider,
  type SubscriptionCommand,
  type SubscriptionEvent,
  type SubscriptionState,
} from './subscription';

// ---------------------------------------------------------------------------------------------
// Fixtures

const NOW = new Date('2024-03-10T12:00:00.000Z');
const at = (iso: string) => new Date(iso);
const plus = (d: Date, seconds: number) => new Date(d.getTime() + seconds * 1000);

type Cmd<T extends SubscriptionCommand['type']> = Extract<SubscriptionCommand, { type: T }>;
function cmd<T extends SubscriptionCommand['type']>(type: T, data: Cmd<T>['data'], now: Date = NOW): Cmd<T> {
  return { type, data, metadata: { now } } as Cmd<T>;
}

const subscription = spec(subscriptionDecider);
const stateOf = (events: readonly SubscriptionEvent[]): SubscriptionState => fold(subscriptionDecider, events);

const eur = (amount: number) => ({ amount, currency: 'EUR' });

const startCheckout = (attemptId = 'att-1', now: Date = NOW) =>
  cmd(
    'StartCheckout',
    { attemptId, customerId: 'cus-1', tenantId: 'ten-1', planId: 'basic', priceId: 'price_basic_m', interval: 'month', sessionTtlSeconds: 1800 },
    now,
  );

const checkoutRequested = (attemptId = 'att-1', requestedAt: Date = NOW): SubscriptionEvent => ({
  type: 'CheckoutRequested',
  data: {
    attemptId,
    customerId: 'cus-1',
    tenantId: 'ten-1',
    planId: 'basic',
    priceId: 'price_basic_m',
    interval: 'month',
    sessionTtlSeconds: 1800,
    requestedAt: requestedAt.toISOString(),
    claimExpiresAt: plus(requestedAt, 60).toISOString(),
  },
});

const sessionCreated = (attemptId = 'att-1', sessionId = 'cs_1', expiresAt = '2024-03-10T12:30:00.000Z'): SubscriptionEvent => ({
  type: 'CheckoutSessionCreated',
  data: { attemptId, sessionId, url: `https://checkout.example/${sessionId}`, expiresAt },
});

const checkoutFailed = (attemptId = 'att-1'): SubscriptionEvent => ({ type: 'CheckoutRequestFailed', data: { attemptId, error: 'provider unavailable' } });

const activateData = (providerSubscriptionId = 'sub_1') => ({
  sessionId: 'cs_1',
  providerSubscriptionId,
  planId: 'basic',
  priceId: 'price_basic_m',
  interval: 'month' as const,
  currentPeriodStart: '2024-03-01T00:00:00.000Z',
  currentPeriodEnd: '2024-04-01T00:00:00.000Z',
});

const activated = (providerSubscriptionId = 'sub_1'): SubscriptionEvent => ({
  type: 'SubscriptionActivated',
  data: { ...activateData(providerSubscriptionId), activatedAt: NOW.toISOString() },
});

const pastDue = (providerInvoiceId = 'in_2', nextPaymentAttempt = '2024-04-04T00:00:00.000Z'): SubscriptionEvent => ({
  type: 'SubscriptionPastDue',
  data: { providerInvoiceId, amount: eur(1900), nextPaymentAttempt, errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'declined', failedAt: NOW.toISOString() },
});

const suspended = (providerInvoiceId = 'in_2'): SubscriptionEvent => ({
  type: 'SubscriptionSuspended',
  data: { providerInvoiceId, reason: 'final_payment_failure', amount: eur(1900), errorCode: 'card_declined', declineCode: null, message: 'declined', suspendedAt: NOW.toISOString() },
});

const scheduled = (): SubscriptionEvent => ({
  type: 'SubscriptionCancellationScheduled',
  data: { providerSubscriptionId: 'sub_1', cancelAt: '2024-04-01T00:00:00.000Z', requestedAt: NOW.toISOString() },
});

const cancelled = (providerSubscriptionId = 'sub_1'): SubscriptionEvent => ({
  type: 'SubscriptionCancelled',
  data: { providerSubscriptionId, reason: 'cancelled_now', cancelledAt: NOW.toISOString() },
});

const planChangeRequested = (changeId = 'chg-1', toInterval: 'month' | 'year' = 'month'): SubscriptionEvent => ({
  type: 'PlanChangeRequested',
  data: {
    changeId,
    providerSubscriptionId: 'sub_1',
    fromPlanId: 'basic',
    fromPriceId: 'price_basic_m',
    toPlanId: 'pro',
    toPriceId: toInterval === 'month' ? 'price_pro_m' : 'price_pro_y',
    fromInterval: 'month',
    toInterval,
    prorationBehavior: 'always_invoice',
    paymentBehavior: 'pending_if_incomplete',
    billingCycleAnchor: toInterval === 'month' ? 'unchanged' : 'now',
    requestedAt: NOW.toISOString(),
  },
});

const planChanged = (changeId = 'chg-1'): SubscriptionEvent => ({
  type: 'PlanChanged',
  data: {
    changeId,
    providerInvoiceId: 'in_chg',
    planId: 'pro',
    priceId: 'price_pro_m',
    interval: 'month',
    billingCycleAnchor: 'unchanged',
    currentPeriodStart: '2024-03-01T00:00:00.000Z',
    currentPeriodEnd: '2024-04-01T00:00:00.000Z',
    changedAt: NOW.toISOString(),
  },
});

const planChangeDeclined = (changeId = 'chg-1'): SubscriptionEvent => ({
  type: 'PlanChangeDeclined',
  data: { changeId, declineCode: 'card_declined', message: 'declined', declinedAt: NOW.toISOString() },
});

const ACTIVE: SubscriptionEvent[] = [checkoutRequested(), sessionCreated(), activated()];
const PAST_DUE: SubscriptionEvent[] = [...ACTIVE, pastDue()];
const SCHEDULED: SubscriptionEvent[] = [...ACTIVE, scheduled()];
const CANCELLED: SubscriptionEvent[] = [...ACTIVE, cancelled()];
const SUSPENDED: SubscriptionEvent[] = [...ACTIVE, suspended()];

const renewalPaid = (providerInvoiceId = 'in_2', amount = eur(1900)) =>
  cmd('RecordRenewalPaid', { providerInvoiceId, amount, periodStart: '2024-04-01T00:00:00.000Z', periodEnd: '2024-05-01T00:00:00.000Z' });

const renewalFailed = (nextPaymentAttempt: string | null, providerInvoiceId = 'in_2', amount = eur(1900)) =>
  cmd('RecordRenewalPaymentFailed', {
    providerInvoiceId,
    amount,
    nextPaymentAttempt,
    errorCode: 'card_declined',
    declineCode: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  });

const requestPlanChange = (changeId = 'chg-1', newPlanId = 'pro', newPriceId = 'price_pro_m', newInterval: 'month' | 'year' = 'month') =>
  cmd('RequestPlanChange', { changeId, newPlanId, newPriceId, newInterval });

// ---------------------------------------------------------------------------------------------

describe('StartCheckout', () => {
  it('claims the slot for 60 seconds on a new stream', () => {
    subscription
      .given([])
      .when(startCheckout())
      .then([checkoutRequested('att-1', NOW)]);
  });

  it('is refused while a subscription is active', () => {
    subscription.given(ACTIVE).when(startCheckout('att-2')).thenRefuses('live_subscription_exists', 'conflict');
  });

  it('is refused while a subscription is past due', () => {
    subscription.given(PAST_DUE).when(startCheckout('att-2')).thenRefuses('live_subscription_exists', 'conflict');
  });

  it('is refused while a cancellation at period end is still pending', () => {
    subscription.given(SCHEDULED).when(startCheckout('att-2')).thenRefuses('live_subscription_exists', 'conflict');
  });

  it('is allowed again after the subscription was cancelled', () => {
    subscription.given(CANCELLED).when(startCheckout('att-2')).then([checkoutRequested('att-2')]);
  });

  it('is allowed again after the subscription was suspended', () => {
    subscription.given(SUSPENDED).when(startCheckout('att-2')).then([checkoutRequested('att-2')]);
  });

  it('decides nothing while another claim is open and unexpired (second tab waits)', () => {
    subscription.given([checkoutRequested('att-1', NOW)]).when(startCheckout('att-2', plus(NOW, 59))).thenNothing();
  });

  it('claims again once the open claim has expired (exactly at claimExpiresAt)', () => {
    subscription
      .given([checkoutRequested('att-1', NOW)])
      .when(startCheckout('att-2', plus(NOW, 60)))
      .then([checkoutRequested('att-2', plus(NOW, 60))]);
  });

  it('decides nothing while a pending session is unexpired, even after the claim expired', () => {
    subscription
      .given([checkoutRequested(), sessionCreated('att-1', 'cs_1', '2024-03-10T12:30:00.000Z')])
      .when(startCheckout('att-2', at('2024-03-10T12:29:59.000Z')))
      .thenNothing();
  });

  it('claims again once the pending session has expired', () => {
    const later = at('2024-03-10T12:30:00.000Z');
    subscription
      .given([checkoutRequested(), sessionCreated('att-1', 'cs_1', '2024-03-10T12:30:00.000Z')])
      .when(startCheckout('att-2', later))
      .then([checkoutRequested('att-2', later)]);
  });

  it('claims again right away after the previous request failed (claim released)', () => {
    subscription.given([checkoutRequested(), checkoutFailed()]).when(startCheckout('att-2', plus(NOW, 1))).then([checkoutRequested('att-2', plus(NOW, 1))]);
  });

  it.each([0, -5, 1.5, Number.NaN])('refuses sessionTtlSeconds %p as invalid', (ttl) => {
    subscription
      .given([])
      .when(cmd('StartCheckout', { ...startCheckout().data, sessionTtlSeconds: ttl }))
      .thenRefuses('invalid_session_ttl', 'invalid');
  });

  it('refuses a checkout for another customer on this stream', () => {
    subscription
      .given(CANCELLED)
      .when(cmd('StartCheckout', { ...startCheckout('att-2').data, customerId: 'cus-OTHER' }))
      .thenRefuses('customer_mismatch', 'invalid');
  });

  it('refuses a checkout for another tenant on this stream', () => {
    subscription
      .given(CANCELLED)
      .when(cmd('StartCheckout', { ...startCheckout('att-2').data, tenantId: 'ten-OTHER' }))
      .thenRefuses('customer_mismatch', 'invalid');
  });

  it('puts the stream in checkout_pending with the claim and no access', () => {
    const s = stateOf([checkoutRequested()]);
    expect(s.status).toBe('checkout_pending');
    expect(s.accessActive).toBe(false);
    expect(s.customerId).toBe('cus-1');
    expect(s.tenantId).toBe('ten-1');
    expect(s.pendingCheckout).toMatchObject({ attemptId: 'att-1', claimExpiresAt: '2024-03-10T12:01:00.000Z', session: null });
  });
});

describe('checkoutStatus', () => {
  it('is none on a new stream', () => {
    expect(checkoutStatus(stateOf([]), NOW)).toEqual({ kind: 'none' });
  });

  it('is claimed while the claim is open', () => {
    expect(checkoutStatus(stateOf([checkoutRequested()]), plus(NOW, 30))).toEqual({
      kind: 'claimed',
      attemptId: 'att-1',
      claimExpiresAt: '2024-03-10T12:01:00.000Z',
    });
  });

  it('is none once the claim expired without a session', () => {
    expect(checkoutStatus(stateOf([checkoutRequested()]), plus(NOW, 60))).toEqual({ kind: 'none' });
  });

  it('is the session while the session is unexpired', () => {
    expect(checkoutStatus(stateOf([checkoutRequested(), sessionCreated()]), plus(NOW, 600))).toEqual({
      kind: 'session',
      sessionId: 'cs_1',
      url: 'https://checkout.example/cs_1',
      expiresAt: '2024-03-10T12:30:00.000Z',
      planId: 'basic',
      priceId: 'price_basic_m',
    });
  });

  it('is none once the session expired', () => {
    expect(checkoutStatus(stateOf([checkoutRequested(), sessionCreated()]), at('2024-03-10T12:30:00.000Z'))).toEqual({ kind: 'none' });
  });

  it('is none after the checkout request failed', () => {
    expect(checkoutStatus(stateOf([checkoutRequested(), checkoutFailed()]), plus(NOW, 1))).toEqual({ kind: 'none' });
  });

  it('is live while a subscription is live', () => {
    expect(checkoutStatus(stateOf(ACTIVE), NOW)).toEqual({ kind: 'live' });
    expect(checkoutStatus(stateOf(PAST_DUE), NOW)).toEqual({ kind: 'live' });
    expect(checkoutStatus(stateOf(SCHEDULED), NOW)).toEqual({ kind: 'live' });
  });
});

describe('RecordCheckoutSessionCreated', () => {
  const record = (attemptId = 'att-1', sessionId = 'cs_1') =>
    cmd('RecordCheckoutSessionCreated', { attemptId, sessionId, url: `https://checkout.example/${sessionId}`, expiresAt: '2024-03-10T12:30:00.000Z' });

  it('records the session of the current claim', () => {
    subscription.given([checkoutRequested()]).when(record()).then([sessionCreated()]);
  });

  it('records it even when it arrives after the 60 s claim lapsed, if no new claim replaced it', () => {
    subscription.given([checkoutRequested()]).when(cmd('RecordCheckoutSessionCreated', record().data, plus(NOW, 120))).then([sessionCreated()]);
  });

  it('is refused for an attempt that was never claimed', () => {
    subscription.given([checkoutRequested()]).when(record('att-X')).thenRefuses('unknown_checkout_attempt', 'conflict');
  });

  it('is refused for an attempt superseded by a newer claim', () => {
    subscription
      .given([checkoutRequested('att-1', NOW), checkoutRequested('att-2', plus(NOW, 61))])
      .when(record('att-1'))
      .thenRefuses('unknown_checkout_attempt', 'conflict');
  });

  it('is refused on a stream with no checkout at all', () => {
    subscription.given([]).when(record()).thenRefuses('unknown_checkout_attempt', 'conflict');
  });

  it('is a no-op when the same session is recorded twice', () => {
    subscription.given([checkoutRequested(), sessionCreated()]).when(record()).thenNothing();
  });

  it('is a no-op for the same session redelivered after activation', () => {
    subscription.given(ACTIVE).when(record()).thenNothing();
  });

  it('is refused when the attempt already has a different session', () => {
    subscription.given([checkoutRequested(), sessionCreated()]).when(record('att-1', 'cs_OTHER')).thenRefuses('checkout_attempt_settled', 'conflict');
  });

  it('stores the session as the pending checkout', () => {
    expect(stateOf([checkoutRequested(), sessionCreated()]).pendingCheckout?.session).toEqual({
      sessionId: 'cs_1',
      url: 'https://checkout.example/cs_1',
      expiresAt: '2024-03-10T12:30:00.000Z',
    });
  });
});

describe('RecordCheckoutRequestFailed', () => {
  const fail = (attemptId = 'att-1') => cmd('RecordCheckoutRequestFailed', { attemptId, error: 'provider unavailable' });

  it('releases the current claim', () => {
    subscription.given([checkoutRequested()]).when(fail()).then([checkoutFailed()]);
  });

  it('is refused for an attempt that is not the current claim', () => {
    subscription.given([checkoutRequested()]).when(fail('att-X')).thenRefuses('unknown_checkout_attempt', 'conflict');
  });

  it('is a no-op when the failure is recorded twice', () => {
    subscription.given([checkoutRequested(), checkoutFailed()]).when(fail()).thenNothing();
  });

  it('is refused when the attempt already has a session', () => {
    subscription.given([checkoutRequested(), sessionCreated()]).when(fail()).thenRefuses('checkout_attempt_settled', 'conflict');
  });

  it('returns a new stream to status none', () => {
    const s = stateOf([checkoutRequested(), checkoutFailed()]);
    expect(s.status).toBe('none');
    expect(s.pendingCheckout).toBeNull();
  });

  it('returns a cancelled stream to status cancelled', () => {
    expect(stateOf([...CANCELLED, checkoutRequested('att-2'), checkoutFailed('att-2')]).status).toBe('cancelled');
  });

  it('returns a suspended stream to suspended, even after an expired claim was renewed', () => {
    const events = [...SUSPENDED, checkoutRequested('att-2'), checkoutRequested('att-3', plus(NOW, 61)), checkoutFailed('att-3')];
    expect(stateOf(events).status).toBe('suspended');
  });
});

describe('ActivateSubscription', () => {
  const activate = (providerSubscriptionId = 'sub_1') => cmd('ActivateSubscription', activateData(providerSubscriptionId));

  it('activates the subscription from the completed checkout', () => {
    subscription.given([checkoutRequested(), sessionCreated()]).when(activate()).then([activated()]);
  });

  it('is a no-op when the same provider subscription is activated twice', () => {
    subscription.given(ACTIVE).when(activate()).thenNothing();
  });

  it('is a no-op for a redelivered activation after that subscription was cancelled', () => {
    subscription.given(CANCELLED).when(activate()).thenNothing();
  });

  it('is refused while another provider subscription is live', () => {
    subscription.given(ACTIVE).when(activate('sub_2')).thenRefuses('live_subscription_exists', 'conflict');
  });

  it('is refused while another provider subscription is past due', () => {
    subscription.given(PAST_DUE).when(activate('sub_2')).thenRefuses('live_subscription_exists', 'conflict');
  });

  it('activates a new provider subscription after the previous one was cancelled', () => {
    subscription.given(CANCELLED).when(activate('sub_2')).then([activated('sub_2')]);
  });

  it('refuses a period that ends before it starts', () => {
    subscription
      .given([checkoutRequested(), sessionCreated()])
      .when(cmd('ActivateSubscription', { ...activateData(), currentPeriodEnd: '2024-02-01T00:00:00.000Z' }))
      .thenRefuses('invalid_period', 'invalid');
  });

  it('refuses a period that is not ISO-8601', () => {
    subscription
      .given([checkoutRequested(), sessionCreated()])
      .when(cmd('ActivateSubscription', { ...activateData(), currentPeriodStart: 'yesterday' }))
      .thenRefuses('invalid_period', 'invalid');
  });

  it('makes the subscription active with access, the plan and the period, and clears the pending checkout', () => {
    const s = stateOf(ACTIVE);
    expect(s).toMatchObject({
      status: 'active',
      accessActive: true,
      providerSubscriptionId: 'sub_1',
      planId: 'basic',
      priceId: 'price_basic_m',
      interval: 'month',
      currentPeriodStart: '2024-03-01T00:00:00.000Z',
      currentPeriodEnd: '2024-04-01T00:00:00.000Z',
      pendingCheckout: null,
    });
  });
});

describe('RecordRenewalPaid', () => {
  it('records the renewal', () => {
    subscription
      .given(ACTIVE)
      .when(renewalPaid())
      .then([
        {
          type: 'SubscriptionRenewed',
          data: { providerInvoiceId: 'in_2', amount: eur(1900), periodStart: '2024-04-01T00:00:00.000Z', periodEnd: '2024-05-01T00:00:00.000Z', paidAt: NOW.toISOString() },
        },
      ]);
  });

  it('moves the current period forward', () => {
    const [renewed] = subscriptionDecider.decide(renewalPaid(), stateOf(ACTIVE));
    const s = stateOf([...ACTIVE, renewed!]);
    expect(s.currentPeriodStart).toBe('2024-04-01T00:00:00.000Z');
    expect(s.currentPeriodEnd).toBe('2024-05-01T00:00:00.000Z');
    expect(s.processedInvoiceIds).toContain('in_2');
  });

  it('brings a past-due subscription back to active with access and no pending retry', () => {
    const [renewed] = subscriptionDecider.decide(renewalPaid(), stateOf(PAST_DUE));
    const s = stateOf([...PAST_DUE, renewed!]);
    expect(s.status).toBe('active');
    expect(s.accessActive).toBe(true);
    expect(s.nextPaymentAttempt).toBeNull();
  });

  it('keeps a scheduled cancellation scheduled', () => {
    const [renewed] = subscriptionDecider.decide(renewalPaid(), stateOf(SCHEDULED));
    expect(stateOf([...SCHEDULED, renewed!]).status).toBe('cancellation_scheduled');
  });

  it('is a no-op for an invoice already recorded', () => {
    const [renewed] = subscriptionDecider.decide(renewalPaid(), stateOf(ACTIVE));
    subscription.given([...ACTIVE, renewed!]).when(renewalPaid()).thenNothing();
  });

  it.each([
    ['a new stream', [] as SubscriptionEvent[]],
    ['a pending checkout', [checkoutRequested()]],
  ])('is refused on %s', (_label, given) => {
    subscription.given(given).when(renewalPaid()).thenRefuses('no_live_subscription', 'conflict');
  });

  it('is refused (a late renewal, nothing to change) on a cancelled subscription for the period it served', () => {
    const served = cmd('RecordRenewalPaid', { providerInvoiceId: 'in_1', amount: eur(1900), periodStart: '2024-03-01T00:00:00.000Z', periodEnd: '2024-04-01T00:00:00.000Z' });
    subscription.given(CANCELLED).when(served).thenRefuses('no_live_subscription', 'conflict');
  });

  it('never moves the period back: a late invoice for an older period keeps the newer one', () => {
    const [renewed] = subscriptionDecider.decide(renewalPaid('in_2'), stateOf(ACTIVE));
    const older = cmd('RecordRenewalPaid', { providerInvoiceId: 'in_1', amount: eur(1900), periodStart: '2024-03-01T00:00:00.000Z', periodEnd: '2024-04-01T00:00:00.000Z' });
    const given = [...ACTIVE, renewed!];
    const late = subscriptionDecider.decide(older, stateOf(given));
    expect(stateOf([...given, ...late])).toMatchObject({ currentPeriodStart: '2024-04-01T00:00:00.000Z', currentPeriodEnd: '2024-05-01T00:00:00.000Z', processedInvoiceIds: expect.arrayContaining(['in_1', 'in_2']) });
  });

  it.each([
    ['a fractional amount', { amount: 19.99, currency: 'EUR' }],
    ['a negative amount', { amount: -1, currency: 'EUR' }],
    ['an unknown currency', { amount: 1900, currency: 'EUX' }],
    ['a lower-case currency', { amount: 1900, currency: 'eur' }],
  ])('refuses %s', (_label, amount) => {
    subscription.given(ACTIVE).when(renewalPaid('in_2', amount)).thenRefuses('invalid_money', 'invalid');
  });

  it('refuses a period that ends before it starts', () => {
    subscription
      .given(ACTIVE)
      .when(cmd('RecordRenewalPaid', { providerInvoiceId: 'in_2', amount: eur(1900), periodStart: '2024-05-01T00:00:00.000Z', periodEnd: '2024-04-01T00:00:00.000Z' }))
      .thenRefuses('invalid_period', 'invalid');
  });
});

describe('RequestPlanChange', () => {
  it('asks for an invoiced, pending-if-incomplete change, keeping the anchor when the interval stays', () => {
    subscription.given(ACTIVE).when(requestPlanChange()).then([planChangeRequested('chg-1', 'month')]);
  });

  it('resets the billing cycle anchor to now when the interval changes', () => {
    subscription.given(ACTIVE).when(requestPlanChange('chg-1', 'pro', 'price_pro_y', 'year')).then([planChangeRequested('chg-1', 'year')]);
  });

  it('allows the same plan on another price (e.g. its yearly price)', () => {
    subscription
      .given(ACTIVE)
      .when(requestPlanChange('chg-1', 'basic', 'price_basic_y', 'year'))
      .thenMatches([{ type: 'PlanChangeRequested', data: { toPlanId: 'basic', toPriceId: 'price_basic_y', billingCycleAnchor: 'now' } }]);
  });

  it('does not change the local plan yet', () => {
    const s = stateOf([...ACTIVE, planChangeRequested()]);
    expect(s.planId).toBe('basic');
    expect(s.priceId).toBe('price_basic_m');
    expect(s.pendingPlanChange).toMatchObject({ changeId: 'chg-1', toPlanId: 'pro', toPriceId: 'price_pro_m', billingCycleAnchor: 'unchanged' });
  });

  it.each([
    ['a new stream', [] as SubscriptionEvent[]],
    ['a past-due subscription', PAST_DUE],
    ['a scheduled cancellation', SCHEDULED],
    ['a cancelled subscription', CANCELLED],
    ['a suspended subscription', SUSPENDED],
  ])('is refused on %s (not active)', (_label, given) => {
    subscription.given(given).when(requestPlanChange()).thenRefuses('no_live_subscription', 'conflict');
  });

  it('is refused while another change is pending', () => {
    subscription.given([...ACTIVE, planChangeRequested('chg-1')]).when(requestPlanChange('chg-2', 'pro', 'price_pro_y', 'year')).thenRefuses('plan_change_pending', 'conflict');
  });

  it('is refused when the new plan equals the current one', () => {
    subscription.given(ACTIVE).when(requestPlanChange('chg-1', 'basic', 'price_basic_m', 'month')).thenRefuses('same_plan', 'invalid');
  });

  it('is a no-op when the same change request is retried', () => {
    subscription.given([...ACTIVE, planChangeRequested('chg-1')]).when(requestPlanChange('chg-1')).thenNothing();
  });

  it('is allowed again after the previous change was declined', () => {
    subscription
      .given([...ACTIVE, planChangeRequested('chg-1'), planChangeDeclined('chg-1')])
      .when(requestPlanChange('chg-2'))
      .thenMatches([{ type: 'PlanChangeRequested', data: { changeId: 'chg-2' } }]);
  });
});

describe('RecordPlanChangePaymentCaptured', () => {
  const captured = (changeId = 'chg-1', now: Date = NOW) => cmd('RecordPlanChangePaymentCaptured', { changeId, providerInvoiceId: 'in_chg' }, now);

  it('changes the plan, keeping the period when the anchor was unchanged', () => {
    subscription.given([...ACTIVE, planChangeRequested('chg-1', 'month')]).when(captured()).then([planChanged()]);
  });

  it("takes the period the provider set with a reset anchor (Stripe's time of the change), not its own clock (acceptance: planChangePeriodFromStripe)", () => {
    const provider = { periodStart: '2024-03-10T11:59:58.000Z', periodEnd: '2025-03-10T11:59:58.000Z' };
    subscription
      .given([...ACTIVE, planChangeRequested('chg-1', 'year')])
      .when(cmd('RecordPlanChangePaymentCaptured', { changeId: 'chg-1', providerInvoiceId: 'in_chg', ...provider }))
      .thenMatches([{ type: 'PlanChanged', data: { currentPeriodStart: provider.periodStart, currentPeriodEnd: provider.periodEnd, billingCycleAnchor: 'now' } }]);
    // the anchor unchanged: the period stays whatever the command says
    subscription
      .given([...ACTIVE, planChangeRequested('chg-1', 'month')])
      .when(cmd('RecordPlanChangePaymentCaptured', { changeId: 'chg-1', providerInvoiceId: 'in_chg', ...provider }))
      .then([planChanged()]);
  });

  it('restarts the period now for a full new interval when the anchor was reset', () => {
    subscription
      .given([...ACTIVE, planChangeRequested('chg-1', 'year')])
      .when(captured())
      .then([
        {
          type: 'PlanChanged',
          data: {
            changeId: 'chg-1',
            providerInvoiceId: 'in_chg',
            planId: 'pro',
            priceId: 'price_pro_y',
            interval: 'year',
            billingCycleAnchor: 'now',
            currentPeriodStart: '2024-03-10T12:00:00.000Z',
            currentPeriodEnd: '2025-03-10T12:00:00.000Z',
            changedAt: '2024-03-10T12:00:00.000Z',
          },
        },
      ]);
  });

  it('updates plan, price and interval locally and clears the pending change', () => {
    const s = stateOf([...ACTIVE, planChangeRequested('chg-1', 'year')]);
    const events = subscriptionDecider.decide(captured(), s);
    const after = stateOf([...ACTIVE, planChangeRequested('chg-1', 'year'), ...events]);
    expect(after).toMatchObject({
      planId: 'pro',
      priceId: 'price_pro_y',
      interval: 'year',
      currentPeriodStart: '2024-03-10T12:00:00.000Z',
      currentPeriodEnd: '2025-03-10T12:00:00.000Z',
      pendingPlanChange: null,
      status: 'active',
    });
  });

  it('counts the plan-change invoice as processed, so its invoice.paid is not a second renewal', () => {
    subscription.given([...ACTIVE, planChangeRequested(), planChanged()]).when(cmd('RecordRenewalPaid', { ...renewalPaid().data, providerInvoiceId: 'in_chg' })).thenNothing();
  });

  it('is refused for a change that was never requested', () => {
    subscription.given([...ACTIVE, planChangeRequested('chg-1')]).when(captured('chg-X')).thenRefuses('unknown_plan_change', 'conflict');
  });

  it('is refused when no change is pending', () => {
    subscription.given(ACTIVE).when(captured()).thenRefuses('unknown_plan_change', 'conflict');
  });

  it('is a no-op when the capture is recorded twice', () => {
    subscription.given([...ACTIVE, planChangeRequested(), planChanged()]).when(captured()).thenNothing();
  });

  it('is a no-op for a change already declined', () => {
    subscription.given([...ACTIVE, planChangeRequested(), planChangeDeclined()]).when(captured()).thenNothing();
  });

  it('is refused after the subscription was cancelled (the pending change died with it)', () => {
    subscription.given([...ACTIVE, planChangeRequested(), cancelled()]).when(captured()).thenRefuses('unknown_plan_change', 'conflict');
  });
});

describe('RecordPlanChangeDeclined', () => {
  const declined = (changeId = 'chg-1') => cmd('RecordPlanChangeDeclined', { changeId, declineCode: 'card_declined', message: 'declined' });

  it('records the decline', () => {
    subscription.given([...ACTIVE, planChangeRequested()]).when(declined()).then([planChangeDeclined()]);
  });

  it('leaves the customer on the old plan with no pending change', () => {
    const s = stateOf([...ACTIVE, planChangeRequested(), planChangeDeclined()]);
    expect(s.planId).toBe('basic');
    expect(s.priceId).toBe('price_basic_m');
    expect(s.interval).toBe('month');
    expect(s.pendingPlanChange).toBeNull();
    expect(s.status).toBe('active');
  });

  it('is refused for an unknown change', () => {
    subscription.given([...ACTIVE, planChangeRequested('chg-1')]).when(declined('chg-X')).thenRefuses('unknown_plan_change', 'conflict');
  });

  it('is a no-op when the decline is recorded twice', () => {
    subscription.given([...ACTIVE, planChangeRequested(), planChangeDeclined()]).when(declined()).thenNothing();
  });

  it('is a no-op for a change already captured', () => {
    subscription.given([...ACTIVE, planChangeRequested(), planChanged()]).when(declined()).thenNothing();
  });
});

describe('RecordRenewalPaymentFailed', () => {
  it('a final failure arriving after the provider deleted the subscription (Stripe set to cancel after the last retry) suspends it as if it came first (acceptance: subscriptionsConverge)', () => {
    const ended: SubscriptionEvent[] = [...PAST_DUE];
    ended.push(...subscriptionDecider.decide(snapshot({ providerStatus: 'canceled', observedAt: '2024-03-11T00:00:00.000Z', eventRank: 2 }), stateOf(ended)));
    ended.push(...subscriptionDecider.decide(cmd('RecordSubscriptionEnded', { providerSubscriptionId: 'sub_1' }), stateOf(ended)));
    expect(stateOf(ended).status).toBe('cancelled');
    subscription
      .given(ended)
      .when(renewalFailed(null))
      .thenMatches([{ type: 'SubscriptionSuspended', data: { providerInvoiceId: 'in_2' } }, { type: 'OpenInvoiceVoidRequested', data: { providerInvoiceId: 'in_2' } }, { type: 'SuspensionNoticeRequested' }]);
    const after = run(ended, renewalFailed(null), renewalFailed(null), renewalPaid('in_2'));
    expect(after).toMatchObject({ status: 'suspended', accessActive: false });
    expect(after.needsAttention).toEqual([expect.objectContaining({ kind: 'late_payment', providerInvoiceId: 'in_2' })]);
    // a subscription cancelled through Settle, not by the provider's dunning: nothing to suspend
    expect(() => subscriptionDecider.decide(renewalFailed(null), stateOf(CANCELLED))).toThrow(/no live subscription/);
  });

  it('marks past due and requests a warning notice while the provider still retries', () => {
    subscription
      .given(ACTIVE)
      .when(renewalFailed('2024-03-13T12:00:00.000Z'))
      .then([
        {
          type: 'SubscriptionPastDue',
          data: {
            providerInvoiceId: 'in_2',
            amount: eur(1900),
            nextPaymentAttempt: '2024-03-13T12:00:00.000Z',
            errorCode: 'card_declined',
            declineCode: 'insufficient_funds',
            message: 'Your card has insufficient funds.',
            failedAt: NOW.toISOString(),
          },
        },
        {
          type: 'PaymentWarningNoticeRequested',
          data: { customerId: 'cus-1', tenantId: 'ten-1', providerInvoiceId: 'in_2', amount: eur(1900), nextPaymentAttempt: '2024-03-13T12:00:00.000Z' },
        },
      ]);
  });

  it('keeps access while past due', () => {
    const s = stateOf(PAST_DUE);
    expect(s.status).toBe('past_due');
    expect(s.accessActive).toBe(true);
    expect(s.nextPaymentAttempt).toBe('2024-04-04T00:00:00.000Z');
  });

  it('is a no-op for the same invoice and the same next attempt', () => {
    subscription.given(PAST_DUE).when(renewalFailed('2024-04-04T00:00:00.000Z')).thenNothing();
  });

  it('records another retry of the same invoice with a new next attempt', () => {
    subscription
      .given(PAST_DUE)
      .when(renewalFailed('2024-04-08T00:00:00.000Z'))
      .thenMatches([
        { type: 'SubscriptionPastDue', data: { providerInvoiceId: 'in_2', nextPaymentAttempt: '2024-04-08T00:00:00.000Z' } },
        { type: 'PaymentWarningNoticeRequested', data: { nextPaymentAttempt: '2024-04-08T00:00:00.000Z' } },
      ]);
  });

  it('suspends on the final failure and requests provider cancellation, invoice void and a notice', () => {
    subscription
      .given(PAST_DUE)
      .when(renewalFailed(null))
      .then([
        {
          type: 'SubscriptionSuspended',
          data: {
            providerInvoiceId: 'in_2',
            reason: 'final_payment_failure',
            amount: eur(1900),
            errorCode: 'card_declined',
            declineCode: 'insufficient_funds',
            message: 'Your card has insufficient funds.',
            suspendedAt: NOW.toISOString(),
          },
        },
        { type: 'ProviderSubscriptionCancellationRequested', data: { providerSubscriptionId: 'sub_1', reason: 'final_payment_failure' } },
        { type: 'OpenInvoiceVoidRequested', data: { providerInvoiceId: 'in_2' } },
        { type: 'SuspensionNoticeRequested', data: { customerId: 'cus-1', tenantId: 'ten-1', providerInvoiceId: 'in_2', amount: eur(1900) } },
      ]);
  });

  it('suspends an active subscription whose first failure is already final', () => {
    subscription.given(ACTIVE).when(renewalFailed(null)).thenMatches([
      { type: 'SubscriptionSuspended' },
      { type: 'ProviderSubscriptionCancellationRequested' },
      { type: 'OpenInvoiceVoidRequested' },
      { type: 'SuspensionNoticeRequested' },
    ]);
  });

  it('ends access and deactivates on suspension', () => {
    const s = stateOf(SUSPENDED);
    expect(s.status).toBe('suspended');
    expect(s.accessActive).toBe(false);
    expect(s.nextPaymentAttempt).toBeNull();
  });

  it('is a no-op when the final failure is redelivered', () => {
    subscription.given(SUSPENDED).when(renewalFailed(null)).thenNothing();
  });

  it('is a no-op for a late failure of an invoice that has since been paid', () => {
    const [renewed] = subscriptionDecider.decide(renewalPaid(), stateOf(PAST_DUE));
    subscription.given([...PAST_DUE, renewed!]).when(renewalFailed(null)).thenNothing();
  });

  it('keeps a scheduled cancellation scheduled (and shows the retry) on a retried failure', () => {
    const events = subscriptionDecider.decide(renewalFailed('2024-03-13T12:00:00.000Z'), stateOf(SCHEDULED));
    const s = stateOf([...SCHEDULED, ...events]);
    expect(s.status).toBe('cancellation_scheduled');
    expect(s.accessActive).toBe(true);
    expect(s.nextPaymentAttempt).toBe('2024-03-13T12:00:00.000Z');
  });

  it.each([
    ['a new stream', [] as SubscriptionEvent[]],
    ['a cancelled subscription', CANCELLED],
    ['a suspended subscription (another invoice)', SUSPENDED],
  ])('is refused on %s', (_label, given) => {
    subscription.given(given).when(renewalFailed('2024-04-04T00:00:00.000Z', 'in_9')).thenRefuses('no_live_subscription', 'conflict');
  });

  it('refuses an amount that is not integer minor units', () => {
    subscription.given(ACTIVE).when(renewalFailed(null, 'in_2', { amount: 19.0001, currency: 'EUR' })).thenRefuses('invalid_money', 'invalid');
  });
});

describe('CancelSubscription', () => {
  const cancel = (when: 'period_end' | 'now') => cmd('CancelSubscription', { at: when });

  it('schedules the cancellation at the end of the current period', () => {
    subscription.given(ACTIVE).when(cancel('period_end')).then([scheduled()]);
  });

  it('keeps access and liveness until the period ends', () => {
    const s = stateOf(SCHEDULED);
    expect(s.status).toBe('cancellation_scheduled');
    expect(s.accessActive).toBe(true);
  });

  it('cancels now and ends access', () => {
    subscription.given(ACTIVE).when(cancel('now')).then([cancelled()]);
    const s = stateOf(CANCELLED);
    expect(s.status).toBe('cancelled');
    expect(s.accessActive).toBe(false);
  });

  it('cancels now a subscription whose cancellation was scheduled', () => {
    subscription.given(SCHEDULED).when(cancel('now')).then([cancelled()]);
  });

  it('schedules the cancellation of a past-due subscription', () => {
    subscription.given(PAST_DUE).when(cancel('period_end')).then([scheduled()]);
  });

  it('is a no-op to schedule an already scheduled cancellation', () => {
    subscription.given(SCHEDULED).when(cancel('period_end')).thenNothing();
  });

  it.each([
    ['a new stream', [] as SubscriptionEvent[]],
    ['a pending checkout', [checkoutRequested(), sessionCreated()]],
    ['a cancelled subscription', CANCELLED],
    ['a suspended subscription', SUSPENDED],
  ])('is refused on %s', (_label, given) => {
    subscription.given(given).when(cancel('now')).thenRefuses('no_live_subscription', 'conflict');
    subscription.given(given).when(cancel('period_end')).thenRefuses('no_live_subscription', 'conflict');
  });
});

describe('RecordSubscriptionEnded', () => {
  const ended = (providerSubscriptionId = 'sub_1') => cmd('RecordSubscriptionEnded', { providerSubscriptionId });

  it('cancels a subscription whose cancellation at period end was pending', () => {
    subscription
      .given(SCHEDULED)
      .when(ended())
      .then([{ type: 'SubscriptionCancelled', data: { providerSubscriptionId: 'sub_1', reason: 'ended_at_period_end', cancelledAt: NOW.toISOString() } }]);
  });

  it('cancels an active subscription the provider deleted', () => {
    subscription
      .given(ACTIVE)
      .when(ended())
      .then([{ type: 'SubscriptionCancelled', data: { providerSubscriptionId: 'sub_1', reason: 'ended_by_provider', cancelledAt: NOW.toISOString() } }]);
  });

  it('ends access once the provider ended it', () => {
    const events = subscriptionDecider.decide(ended(), stateOf(SCHEDULED));
    expect(stateOf([...SCHEDULED, ...events]).accessActive).toBe(false);
  });

  it('is a no-op when the provider confirms a cancellation we already recorded', () => {
    subscription.given(CANCELLED).when(ended()).thenNothing();
  });

  it('is a no-op when the provider confirms the cancellation requested on suspension', () => {
    subscription.given(SUSPENDED).when(ended()).thenNothing();
  });

  it('is a no-op for an older subscription while a newer one is live', () => {
    subscription.given([...CANCELLED, activated('sub_2')]).when(ended('sub_1')).thenNothing();
  });

  it('is refused when nothing is live', () => {
    subscription.given([]).when(ended('sub_9')).thenRefuses('no_live_subscription', 'conflict');
  });

  it("is refused for a provider subscription that is not this customer's live one", () => {
    subscription.given(ACTIVE).when(ended('sub_9')).thenRefuses('provider_subscription_mismatch', 'conflict');
  });
});

describe('addBillingInterval', () => {
  it('adds a calendar month, clamping to the end of a shorter month', () => {
    expect(addBillingInterval(at('2024-01-31T08:00:00.000Z'), 'month').toISOString()).toBe('2024-02-29T08:00:00.000Z');
    expect(addBillingInterval(at('2023-01-31T08:00:00.000Z'), 'month').toISOString()).toBe('2023-02-28T08:00:00.000Z');
    expect(addBillingInterval(at('2024-12-15T00:00:00.000Z'), 'month').toISOString()).toBe('2025-01-15T00:00:00.000Z');
  });

  it('adds a calendar year, clamping Feb 29 to Feb 28', () => {
    expect(addBillingInterval(at('2024-02-29T10:30:00.000Z'), 'year').toISOString()).toBe('2025-02-28T10:30:00.000Z');
  });
});

describe('the decider as a whole', () => {
  it('produces JSON-serialisable events over a full lifecycle', () => {
    const commands: SubscriptionCommand[] = [
      startCheckout(),
      cmd('RecordCheckoutSessionCreated', { attemptId: 'att-1', sessionId: 'cs_1', url: 'https://checkout.example/cs_1', expiresAt: '2024-03-10T12:30:00.000Z' }),
      cmd('ActivateSubscription', activateData()),
      renewalPaid('in_2'),
      requestPlanChange('chg-1', 'pro', 'price_pro_y', 'year'),
      cmd('RecordPlanChangePaymentCaptured', { changeId: 'chg-1', providerInvoiceId: 'in_chg' }),
      renewalFailed('2025-03-13T00:00:00.000Z', 'in_3'),
      renewalFailed(null, 'in_3'),
    ];
    const events: SubscriptionEvent[] = [];
    for (const c of commands) events.push(...subscriptionDecider.decide(c, stateOf(events)));
    expect(events.map((e) => e.type)).toEqual([
      'CheckoutRequested',
      'CheckoutSessionCreated',
      'SubscriptionActivated',
      'SubscriptionRenewed',
      'PlanChangeRequested',
      'PlanChanged',
      'SubscriptionPastDue',
      'PaymentWarningNoticeRequested',
      'SubscriptionSuspended',
      'ProviderSubscriptionCancellationRequested',
      'OpenInvoiceVoidRequested',
      'SuspensionNoticeRequested',
    ]);
    expect(JSON.parse(JSON.stringify(events))).toEqual(events);
  });

  it('does not mutate the state it decides on or evolves', () => {
    const s = stateOf(PAST_DUE);
    const snapshot = JSON.parse(JSON.stringify(s));
    const events = subscriptionDecider.decide(renewalFailed(null), s);
    events.reduce((acc, e) => subscriptionDecider.evolve(acc, e), s);
    expect(JSON.parse(JSON.stringify(s))).toEqual(snapshot);
  });

  it('throws on a command type it does not know', () => {
    const bogus = { type: 'Bogus', data: {}, metadata: { now: NOW } } as unknown as SubscriptionCommand;
    expect(() => subscriptionDecider.decide(bogus, stateOf([]))).toThrow('unhandled subscription command');
    expect(() => subscriptionDecider.decide(bogus, stateOf([]))).not.toThrow(DomainRefusal);
  });
});

// ---------------------------------------------------------------------------------------------
// The provider's truth (issue #16)

const snapshot = (over: Partial<Cmd<'RecordProviderSubscription'>['data']> = {}) =>
  cmd('RecordProviderSubscription', {
    providerSubscriptionId: 'sub_1',
    providerStatus: 'active',
    priceId: 'price_basic_m',
    planId: 'basic',
    interval: 'month',
    currentPeriodStart: '2024-03-01T00:00:00.000Z',
    currentPeriodEnd: '2024-04-01T00:00:00.000Z',
    cancelAtPeriodEnd: false,
    cancelAt: null,
    canceledAt: null,
    observedAt: '2024-03-10T12:00:00.000Z',
    eventRank: 1,
    ...over,
  });

/** Decides each command on the state so far, returning the final state. */
function run(given: readonly SubscriptionEvent[], ...commands: SubscriptionCommand[]): SubscriptionState {
  const events = [...given];
  for (const c of commands) events.push(...subscriptionDecider.decide(c, stateOf(events)));
  return stateOf(events);
}

describe('RecordProviderSubscription (customer.subscription.* objects)', () => {
  it('follows a cancellation made at the provider, then its withdrawal', () => {
    const cancelAt = '2024-04-01T00:00:00.000Z';
    const s = run(ACTIVE, snapshot({ cancelAtPeriodEnd: true, cancelAt, observedAt: '2024-03-11T00:00:00.000Z' }));
    expect(s).toMatchObject({ status: 'cancellation_scheduled', accessActive: true, cancelAtPeriodEnd: true, cancelAt });
    expect(run(ACTIVE, snapshot({ cancelAtPeriodEnd: true, observedAt: '2024-03-11T00:00:00.000Z' }), snapshot({ observedAt: '2024-03-12T00:00:00.000Z' }))).toMatchObject({ status: 'active', cancelAtPeriodEnd: false, cancelAt: null });
  });

  it('follows past_due (access kept) and unpaid (access ends), and back to active', () => {
    expect(run(ACTIVE, snapshot({ providerStatus: 'past_due', observedAt: '2024-03-11T00:00:00.000Z' }))).toMatchObject({ status: 'past_due', accessActive: true });
    expect(run(ACTIVE, snapshot({ providerStatus: 'unpaid', observedAt: '2024-03-11T00:00:00.000Z' }))).toMatchObject({ status: 'past_due', accessActive: false });
    expect(run(ACTIVE, snapshot({ providerStatus: 'unpaid', observedAt: '2024-03-11T00:00:00.000Z' }), snapshot({ observedAt: '2024-03-12T00:00:00.000Z' }))).toMatchObject({ status: 'active', accessActive: true });
  });

  it('follows a price change to another plan; a price no plan knows is recorded and flagged', () => {
    expect(run(ACTIVE, snapshot({ priceId: 'price_pro_y', planId: 'pro', interval: 'year', observedAt: '2024-03-11T00:00:00.000Z' }))).toMatchObject({ planId: 'pro', priceId: 'price_pro_y', interval: 'year', needsAttention: [] });
    const unknown = run(ACTIVE, snapshot({ priceId: 'price_x', planId: null, observedAt: '2024-03-11T00:00:00.000Z' }));
    expect(unknown).toMatchObject({ planId: 'basic', priceId: 'price_x', needsAttention: [{ kind: 'unknown_price', priceId: 'price_x' }] });
  });

  it('applies objects by the provider order: an older object delivered late changes nothing; the same object twice is a no-op', () => {
    const newer = snapshot({ providerStatus: 'past_due', observedAt: '2024-03-12T00:00:00.000Z' });
    const given = [...ACTIVE, ...subscriptionDecider.decide(newer, stateOf(ACTIVE))];
    subscription.given(given).when(snapshot({ observedAt: '2024-03-11T00:00:00.000Z' })).thenNothing();
    subscription.given(given).when(newer).thenNothing();
    // same event second: the later period is the newer object
    subscription
      .given(given)
      .when(snapshot({ observedAt: '2024-03-12T00:00:00.000Z', currentPeriodStart: '2024-04-01T00:00:00.000Z', currentPeriodEnd: '2024-05-01T00:00:00.000Z' }))
      .thenMatches([{ type: 'ProviderSubscriptionObserved' }]);
  });

  it('a local cancellation is not undone by an object the provider sent before it', () => {
    expect(run([...ACTIVE, scheduled()], snapshot({ observedAt: '2024-03-10T11:00:00.000Z' }))).toMatchObject({ status: 'cancellation_scheduled', cancelAtPeriodEnd: true });
  });

  it('settles the pending plan change when the object shows its price', () => {
    subscription
      .given([...ACTIVE, planChangeRequested('chg-1', 'year')])
      .when(snapshot({ priceId: 'price_pro_y', planId: 'pro', interval: 'year', currentPeriodStart: '2024-03-10T12:00:00.000Z', currentPeriodEnd: '2025-03-10T12:00:00.000Z', observedAt: '2024-03-10T12:00:01.000Z' }))
      .thenMatches([{ type: 'ProviderSubscriptionObserved' }, { type: 'PlanChanged', data: { changeId: 'chg-1', providerInvoiceId: null, planId: 'pro', currentPeriodEnd: '2025-03-10T12:00:00.000Z' } }]);
  });

  it('ignores another provider subscription, and any before activation (activation comes with an alive object)', () => {
    subscription.given(ACTIVE).when(snapshot({ providerSubscriptionId: 'sub_old' })).thenNothing();
    subscription.given([checkoutRequested(), sessionCreated()]).when(snapshot({ providerStatus: 'incomplete' })).thenNothing();
  });

  it("an older period's failure delivered after the provider's newer active object, then that invoice paid: active again (acceptance: subscriptionsConverge)", () => {
    const events: SubscriptionEvent[] = [...ACTIVE];
    events.push(...subscriptionDecider.decide(snapshot({ providerStatus: 'active', observedAt: '2024-05-01T00:00:00.000Z', currentPeriodStart: '2024-05-01T00:00:00.000Z', currentPeriodEnd: '2024-06-01T00:00:00.000Z' }), stateOf(events)));
    const s = run(events, renewalFailed('2024-04-04T00:00:00.000Z'), renewalPaid('in_2'));
    expect(s).toMatchObject({ status: 'active', accessActive: true, nextPaymentAttempt: null, currentPeriodStart: '2024-05-01T00:00:00.000Z' });
    // another invoice still unpaid: past_due stays
    expect(run(events, renewalFailed('2024-04-04T00:00:00.000Z', 'in_3'), renewalFailed('2024-04-04T00:00:00.000Z'), renewalPaid('in_2')).status).toBe('past_due');
  });

  it('a late invoice for an older period does not end the past_due the provider shows for the current one (acceptance: subscriptionsConverge)', () => {
    const overdue = snapshot({ providerStatus: 'past_due', observedAt: '2024-04-01T00:00:00.000Z', currentPeriodStart: '2024-04-01T00:00:00.000Z', currentPeriodEnd: '2024-05-01T00:00:00.000Z' });
    const oldInvoice = cmd('RecordRenewalPaid', { providerInvoiceId: 'in_march', amount: eur(1900), periodStart: '2024-03-01T00:00:00.000Z', periodEnd: '2024-04-01T00:00:00.000Z' });
    expect(run(ACTIVE, overdue, oldInvoice)).toMatchObject({ status: 'past_due', accessActive: true, currentPeriodEnd: '2024-05-01T00:00:00.000Z' });
    expect(run(ACTIVE, oldInvoice, overdue)).toMatchObject({ status: 'past_due', accessActive: true, currentPeriodEnd: '2024-05-01T00:00:00.000Z' });
    const unpaid = snapshot({ providerStatus: 'unpaid', observedAt: '2024-04-20T00:00:00.000Z', currentPeriodStart: '2024-04-01T00:00:00.000Z', currentPeriodEnd: '2024-05-01T00:00:00.000Z' });
    expect(run(ACTIVE, unpaid, oldInvoice)).toMatchObject({ status: 'past_due', accessActive: false });
    // the current period's invoice paid does end it
    expect(run(ACTIVE, overdue, oldInvoice, renewalPaid('in_april'))).toMatchObject({ status: 'active', accessActive: true });
  });

  it('converges whatever the delivery order (every permutation of four objects)', () => {
    const objects = [
      snapshot({ observedAt: '2024-03-01T00:00:00.000Z' }),
      snapshot({ observedAt: '2024-03-20T00:00:00.000Z', providerStatus: 'past_due' }),
      snapshot({ observedAt: '2024-04-01T00:00:00.000Z', currentPeriodStart: '2024-04-01T00:00:00.000Z', currentPeriodEnd: '2024-05-01T00:00:00.000Z' }),
      snapshot({ observedAt: '2024-04-02T00:00:00.000Z', currentPeriodStart: '2024-04-01T00:00:00.000Z', currentPeriodEnd: '2024-05-01T00:00:00.000Z', cancelAtPeriodEnd: true }),
    ];
    const perms = (xs: number[]): number[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));
    const key = (s: SubscriptionState) => ({ status: s.status, start: s.currentPeriodStart, end: s.currentPeriodEnd, cancel: s.cancelAtPeriodEnd, access: s.accessActive });
    const reference = key(run(ACTIVE, ...objects));
    expect(reference).toEqual({ status: 'cancellation_scheduled', start: '2024-04-01T00:00:00.000Z', end: '2024-05-01T00:00:00.000Z', cancel: true, access: true });
    for (const p of perms([0, 1, 2, 3])) expect(key(run(ACTIVE, ...p.map((i) => objects[i]!)))).toEqual(reference);
  });
});

describe('a payment after Settle ended access', () => {
  it('suspended, provider subscription still alive: access restored and the renewal recorded', () => {
    const given = [...ACTIVE, ...subscriptionDecider.decide(snapshot({ providerStatus: 'past_due' }), stateOf(ACTIVE)), suspended()];
    subscription
      .given(given)
      .when(renewalPaid('in_2'))
      .thenMatches([{ type: 'SubscriptionReinstated', data: { providerInvoiceId: 'in_2', providerStatus: 'past_due' } }, { type: 'SubscriptionRenewed' }]);
    expect(run(given, renewalPaid('in_2'))).toMatchObject({ status: 'active', accessActive: true, needsAttention: [] });
  });

  it('an earlier renewal invoice delivered after the suspension is that period paid, not a late payment (acceptance: subscriptionsConverge)', () => {
    const events: SubscriptionEvent[] = [...ACTIVE, suspended('in_3')];
    events.push(...subscriptionDecider.decide(snapshot({ providerStatus: 'canceled', observedAt: '2024-03-11T00:00:00.000Z' }), stateOf(events)));
    subscription.given(events).when(renewalPaid('in_2')).thenMatches([{ type: 'SubscriptionRenewed', data: { providerInvoiceId: 'in_2' } }]);
    expect(run(events, renewalPaid('in_2'), renewalPaid('in_2'))).toMatchObject({ status: 'suspended', accessActive: false, needsAttention: [] });
    // the invoice that suspended it, paid late, still needs a human
    expect(run(events, renewalPaid('in_2'), renewalPaid('in_3')).needsAttention).toEqual([expect.objectContaining({ kind: 'late_payment', providerInvoiceId: 'in_3' })]);
  });

  it.each([
    ['suspended, provider subscription canceled', [...ACTIVE, suspended()], 'canceled'],
    ['suspended, provider state unknown', [...ACTIVE, suspended()], null],
    ['cancelled, billed for a period after its end', CANCELLED, null],
  ] as const)('%s: the money needs a human', (_label, given, providerStatus) => {
    const events: SubscriptionEvent[] = [...given];
    if (providerStatus) events.push(...subscriptionDecider.decide(snapshot({ providerStatus, observedAt: '2024-03-11T00:00:00.000Z' }), stateOf(events)));
    subscription.given(events).when(renewalPaid('in_2')).thenMatches([{ type: 'LatePaymentNeedsAttention', data: { providerInvoiceId: 'in_2', amount: eur(1900), providerStatus } }]);
    const s = run(events, renewalPaid('in_2'), renewalPaid('in_2'));
    expect(s.needsAttention).toEqual([expect.objectContaining({ kind: 'late_payment', providerInvoiceId: 'in_2', reason: expect.stringMatching(/refund or reactivate/) })]);
    expect(s.accessActive).toBe(false);
  });
});

describe('RecordPlanChangeRefused', () => {
  it('records the refusal and clears the pending change, so the next change is not blocked', () => {
    const given = [...ACTIVE, planChangeRequested()];
    const refused = cmd('RecordPlanChangeRefused', { changeId: 'chg-1', code: 'parameter_invalid', message: 'bad' });
    subscription.given(given).when(refused).thenMatches([{ type: 'PlanChangeRefused', data: { changeId: 'chg-1', code: 'parameter_invalid' } }]);
    const s = run(given, refused);
    expect(s.pendingPlanChange).toBeNull();
    expect(subscriptionDecider.decide(requestPlanChange('chg-2'), s)).toEqual([expect.objectContaining({ type: 'PlanChangeRequested' })]);
    subscription.given([...given, ...subscriptionDecider.decide(refused, stateOf(given))]).when(refused).thenNothing();
  });
});

describe('RecordCheckoutSessionExpired', () => {
  it('releases the pending session (a new checkout may claim); another or an unknown session changes nothing', () => {
    const given = [checkoutRequested(), sessionCreated()];
    const s = run(given, cmd('RecordCheckoutSessionExpired', { sessionId: 'cs_1' }));
    expect(s).toMatchObject({ status: 'none', pendingCheckout: null });
    expect(checkoutStatus(s, NOW)).toEqual({ kind: 'none' });
    subscription.given(given).when(cmd('RecordCheckoutSessionExpired', { sessionId: 'cs_other' })).thenNothing();
  });
});
