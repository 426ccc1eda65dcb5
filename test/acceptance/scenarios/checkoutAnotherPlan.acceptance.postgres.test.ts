/**
 * Named regression (issue #16, checkout for another plan): a customer who opened Checkout for
 * the monthly plan and then chose the yearly one got the monthly session back (the pending
 * session was reused whatever the plan), and paid for the plan they had not chosen. Now checkout
 * of another plan expires the pending session at Stripe and creates a new one on the new plan's
 * price; the same plan again still gets the pending session; a session Stripe will not expire
 * any more (the customer is paying it) is a clear 409, and the pending session stays.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) behind a recording proxy (which answers one
 * expire as Stripe does for a completed session).
 */
import { billingScenario, type Obj } from '../driver/subscriptions';

describe('checkout for another plan while a session is pending (PostgreSQL, stripe-mock)', () => {
  const billing = billingScenario('saas-checkout-switch');

  test('the old session is expired at Stripe and a new one is created on the new price; same plan reuses; an unexpirable session is a 409', async () => {
    const c = 'switcher';
    const checkout = (planId: string) => billing.world.b.api.post<Obj>(`/v1/customers/${c}/checkout`, { planId });
    const created = () => billing.proxy.callsTo('POST', '/v1/checkout/sessions');

    const monthly = await checkout('monthly');
    expect(monthly.status).toBe(201);
    expect(decodeURIComponent(created().at(-1)!.body)).toContain(`[price]=${billing.world.b.price.monthly}`);

    const yearly = await checkout('yearly');
    expect(yearly.status).toBe(201);
    expect(yearly.body).toMatchObject({ reused: false, sessionId: expect.stringMatching(/^cs_/) });
    expect(yearly.body.sessionId).not.toBe(monthly.body.sessionId);
    expect(billing.proxy.callsTo('POST', `/v1/checkout/sessions/${monthly.body.sessionId}/expire`).map((x) => x.status)).toEqual([200]);
    expect(created()).toHaveLength(2);
    expect(decodeURIComponent(created().at(-1)!.body)).toContain(`[price]=${billing.world.b.price.yearly}`);

    const same = await checkout('yearly');
    expect(same.body).toMatchObject({ sessionId: yearly.body.sessionId, reused: true });
    expect(created()).toHaveLength(2);
    expect(await billing.world.view(c, (v) => v.pendingCheckout?.sessionId === yearly.body.sessionId)).toMatchObject({ status: 'checkout_pending', pendingCheckout: { sessionId: yearly.body.sessionId } });

    // the customer is already paying the yearly session: Stripe will not expire it
    billing.proxy.answerNext((x) => x.method === 'POST' && x.path === `/v1/checkout/sessions/${yearly.body.sessionId}/expire`, 400, {
      error: { type: 'invalid_request_error', code: 'checkout_session_not_open', message: 'Only Checkout Sessions with a status of open can be expired.' },
    });
    const late = await checkout('monthly');
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'checkout_session_not_open' });
    expect(created()).toHaveLength(2);
    await billing.settle.settled();
    expect(await billing.world.view(c)).toMatchObject({ status: 'checkout_pending', pendingCheckout: { sessionId: yearly.body.sessionId } });
  }, 60_000);
});
