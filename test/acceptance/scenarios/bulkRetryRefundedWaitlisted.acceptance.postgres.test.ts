/**
 * Named regression (found by the booking property, bookings.acceptance.postgres.test.ts): an
 * operator's bulk CRM retry (`POST /v1/bookings/crm-retry`, "every booking that needs attention")
 * sent a booking to the CRM that had never been confirmed: it was paid while waitlisted, refunded
 * in full at Stripe (which ends it), then received money again (nobody keeps it, so it needs
 * attention and the bulk retry names it). The saga ran the CRM pipeline of every booking in the
 * batch, failed stage or not, and created a contact booking (with the refunded payment) for it.
 * A retry only resumes a stage that failed for good (docs/problems.md `nothing_to_retry`); the
 * single retry already answered 409 for this booking. Black box: the built service on PostgreSQL
 * (DATABASE_URL) with in-process messaging, signed platform webhooks, the CRM simulator. Values at
 * their limits: 100-character tenant and departure ids, ISK (Stripe's x100 quirk).
 */
import { BookingMoney, bookingScenario, readBooking, waitlistedBooking } from '../driver/bookings';
import { expectStatus, until } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any */
describe('a bulk CRM retry and a booking refunded while waitlisted (PostgreSQL, in-process messaging, CRM simulator)', () => {
  const scenario = bookingScenario();

  test('the bulk retry names it (it needs attention) but does not send it to the CRM; nothing else changes', async () => {
    const tenant = await newTenant(scenario.settle, idOfLength('Tbulkwait'));
    const price = { amount: 999_713, currency: 'ISK' };
    const { first, waiting } = await waitlistedBooking(tenant, 'bulkwait', price);
    expect([first.status, waiting.status]).toEqual(['requested', 'waitlisted']);

    // paid while waitlisted (held), refunded in full at Stripe (ends it), then money again
    const money = new BookingMoney(scenario.settle, tenant, waiting.bookingId);
    const held = await money.pay(price, 'bulkwaitheld');
    await money.refund(held, price.amount, 'bulkwaitheld');
    await scenario.settle.settled();
    expect(await until(() => readBooking(tenant, waiting.bookingId), (b) => b.status === 'refunded')).toMatchObject({ status: 'refunded', needsAttention: false });
    await money.pay({ amount: 499_856, currency: 'ISK' }, 'bulkwaitlate');
    await scenario.settle.settled();
    const flagged = await until(() => readBooking(tenant, waiting.bookingId), (b) => b.needsAttention === true);
    expect(flagged).toMatchObject({ status: 'refunded', needsAttention: true });
    // the single retry refuses it: no CRM stage failed
    expect((await tenant.api.post(`/v1/bookings/${waiting.bookingId}/crm-retry`, { requestedBy: 'ops@example.test' })).status).toBe(409);

    const bulk = await tenant.api.post<any>('/v1/bookings/crm-retry', { requestedBy: 'ops@example.test' });
    expectStatus(bulk, 202, 'bulk CRM retry');
    expect(bulk.body).toMatchObject({ bookings: 1, batches: 1 });
    await scenario.settle.settled();

    expect(scenario.crm.requests().filter((r) => JSON.stringify(r.body ?? '').includes(waiting.bookingId))).toEqual([]);
    expect(scenario.crm.booking(waiting.bookingId)).toBeUndefined();
    expect(await readBooking(tenant, waiting.bookingId)).toMatchObject({ status: 'refunded', needsAttention: true, crm: { bookingId: null } });
  }, 60_000);
});
