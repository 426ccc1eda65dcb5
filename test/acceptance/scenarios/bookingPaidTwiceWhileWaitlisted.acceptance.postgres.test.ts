/**
 * Named regression (found by the booking property, bookings.acceptance.postgres.test.ts): a
 * waitlisted booking paid twice (the customer paid again while waiting) held BOTH payments, so
 * when a seat freed up the promotion kept both: the booking looked paid once with nothing to
 * refund, and the CRM was told of two payments for one price. The price is held once; a second
 * payment of it is a duplicate that needs a refund (ARCHITECTURE.md, Money rules: money its
 * payable did not keep is a row needing attention). Black box: the built service on PostgreSQL
 * (DATABASE_URL) with in-process messaging, signed platform webhooks, the CRM simulator. Values at
 * their limits: 100-character tenant and departure ids, EUR near Stripe's eight digits.
 */
import { BookingMoney, bookingScenario, bookingPayments, readBooking, waitlistedBooking } from '../driver/bookings';
import { expectStatus, until } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any */
describe('a waitlisted booking paid twice (PostgreSQL, in-process messaging, CRM simulator)', () => {
  const scenario = bookingScenario();

  test('the promotion keeps one payment: the booking is paid, the duplicate needs a refund, the CRM gets one payment', async () => {
    const tenant = await newTenant(scenario.settle, idOfLength('Ttwicewait'));
    const price = { amount: 99_999_994, currency: 'EUR' };
    const { departureId, first, waiting } = await waitlistedBooking(tenant, 'twicewait', price);
    expect([first.status, waiting.status]).toEqual(['requested', 'waitlisted']);

    const money = new BookingMoney(scenario.settle, tenant, waiting.bookingId);
    await money.pay(price, 'twicewait1');
    await money.pay(price, 'twicewait2');
    await scenario.settle.settled();

    // a seat frees up: the waitlisted booking is promoted with the money it held once
    expectStatus(await tenant.api.patch(`/v1/departures/${departureId}`, { capacity: 2 }), 200, 'capacity raise');
    await scenario.settle.settled();
    const inCrm = await until(async () => scenario.crm.booking(waiting.bookingId), (b) => b !== undefined && b.payments.length > 0, 20_000);
    await scenario.settle.settled();
    expect(scenario.crm.booking(waiting.bookingId)?.payments.map((p) => p.paymentId)).toEqual(['pi_twicewait1']);
    expect(inCrm?.waitlisted).toBe(false);
    const b = await until(() => readBooking(tenant, waiting.bookingId), (x) => x.status === 'paid' && x.needsAttention === true);
    expect(b).toMatchObject({ status: 'paid', stage: 'needs_attention', needsAttention: true });
    expect(b.payments.map((p: any) => [p.providerPaymentId, p.kept])).toEqual([
      ['pi_twicewait1', true],
      ['pi_twicewait2', false],
    ]);
    const rows = await bookingPayments(tenant, waiting.bookingId);
    expect(rows.map((r: any) => [r.providerPaymentId, Boolean(r.needsAttention)]).sort()).toEqual([
      ['pi_twicewait1', false],
      ['pi_twicewait2', true],
    ]);
    const listed = (await tenant.api.get<any>('/v1/bookings?stage=needs_attention&limit=100')).body.data.map((x: any) => x.bookingId);
    expect(listed).toEqual([waiting.bookingId]);
  }, 60_000);
});
