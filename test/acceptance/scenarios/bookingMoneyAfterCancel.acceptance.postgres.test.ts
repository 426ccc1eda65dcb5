/**
 * Named regression (issue #15, defect 5): money received for a booking after it was cancelled was
 * recorded silently: nobody was told to refund it. Now the cancelled booking needs attention and
 * is listed by GET /v1/bookings?stage=needs_attention, and finance counts the money. Black box:
 * the built service on PostgreSQL (DATABASE_URL) with in-process messaging, signed platform
 * webhooks. Values at their limits: 100-character tenant and departure ids, KWD (three decimals).
 */
import { BookingMoney, bookingPayments, financeTotals, newBooking, newDeparture, readBooking } from '../driver/bookings';
import { expectStatus, startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('money received after cancellation (PostgreSQL, in-process messaging)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test('the cancelled booking needs attention and is listed under stage=needs_attention; finance has the money', async () => {
    const tenant = await newTenant(settle, idOfLength('Tlate'));
    const departureId = await newDeparture(tenant, 'late', 10);
    const price = { amount: 5_550, currency: 'KWD' };
    const { bookingId } = await newBooking(tenant, departureId, price);
    const other = await newBooking(tenant, departureId, price, 'Grace');
    expectStatus(await tenant.api.post(`/v1/bookings/${bookingId}/cancel`, { reason: 'customer cancelled' }), 200, 'cancel');
    await settle.settled();
    const listedBefore = (await tenant.api.get<any>('/v1/bookings?stage=needs_attention&limit=100')).body.data.map((b: any) => b.bookingId);
    expect(listedBefore).not.toContain(bookingId);

    await new BookingMoney(settle, tenant, bookingId).pay(price, 'late');
    await settle.settled();
    // the webhook is acknowledged when stored; the booking shows the money once it is applied
    const b = await until(() => readBooking(tenant, bookingId), (x) => x.needsAttention === true, 20_000);
    expect(b).toMatchObject({ status: 'cancelled', needsAttention: true, stage: 'needs_attention' });
    const needingAttention = async () => {
      const listed = await tenant.api.get<any>('/v1/bookings?stage=needs_attention&limit=100');
      expectStatus(listed, 200, 'list needs_attention');
      return listed.body.data.map((x: any) => x.bookingId) as string[];
    };
    const ids = await until(needingAttention, (x) => x.includes(bookingId));
    expect(ids).toContain(bookingId);
    expect(ids).not.toContain(other.bookingId);
    expect(await until(() => bookingPayments(tenant, bookingId), (rows) => rows.length > 0)).toEqual([expect.objectContaining({ status: 'succeeded', amount: price })]);
    const t = await until(() => financeTotals(tenant, 'KWD'), (x) => x.grossCollected === price.amount);
    expect(t).toMatchObject({ grossCollected: price.amount });
  }, 60_000);
});
