/**
 * Named regression (issue #15, defect 3): a payment for a waitlisted booking took the booking out
 * of the waitlist and sent it to the CRM as confirmed, over the departure's capacity. Now the
 * money is held: the booking stays waitlisted, needs attention, takes no seat and is not sent to
 * the CRM; when a seat frees up (the confirmed booking refunded in full at Stripe, or a capacity
 * raise through PATCH /v1/departures/{id}) the OLDEST waitlisted booking is promoted and, being
 * paid, reaches the CRM as not waitlisted. Black box: the built service on PostgreSQL
 * (DATABASE_URL) with in-process messaging, signed platform webhooks, the CRM simulator.
 * Values at their limits: 100-character tenant and departure ids, KWD (three decimals) and JPY
 * (no minor unit).
 */
import { startCrmSimulator, type CrmSimulator } from '../../simulators/crm';
import { BookingMoney, bookingPayments, newBooking, newDeparture, readBooking } from '../driver/bookings';
import { expectStatus, startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant, type Tenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('a booking paid while waitlisted is held until a seat frees up (PostgreSQL, in-process messaging, CRM simulator)', () => {
  let settle: Settle;
  let crm: CrmSimulator;
  let tenant: Tenant;
  beforeAll(async () => {
    crm = await startCrmSimulator();
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process', env: { CRM_BASE_URL: crm.url, CRM_API_KEY: crm.apiKey, CRM_RETRY_BASE_MS: '50', CRM_RETRY_MAX_MS: '200' } });
    tenant = await newTenant(settle, idOfLength('Twait'));
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await crm?.close();
  });

  const crmCalls = (bookingId: string) => crm.requests().filter((r) => JSON.stringify(r.body ?? '').includes(bookingId));
  const seatsTaken = async (departureId: string) => (await tenant.api.get<any>(`/v1/departures/${departureId}`)).body.seatsTaken as number;

  /** A 1-seat departure: `first` confirmed and paid, `held` waitlisted and paid, `behind` waitlisted later and unpaid. */
  async function fullDepartureWithPaidWaitlist(tag: string, price: { amount: number; currency: string }) {
    const departureId = await newDeparture(tenant, tag, 1);
    const first = await newBooking(tenant, departureId, price, 'Ada');
    const held = await newBooking(tenant, departureId, price, 'Grace');
    const behind = await newBooking(tenant, departureId, price, 'Alan');
    expect([first.status, held.status, behind.status]).toEqual(['requested', 'waitlisted', 'waitlisted']);
    const firstMoney = new BookingMoney(settle, tenant, first.bookingId);
    const firstCharge = await firstMoney.pay(price, `${tag}first`);
    await new BookingMoney(settle, tenant, held.bookingId).pay(price, `${tag}held`);
    await until(async () => crm.booking(first.bookingId), (b) => b !== undefined, 20_000);
    await settle.settled();

    // held: still waitlisted, needs attention, no seat, nothing sent to the CRM
    const h = await until(() => readBooking(tenant, held.bookingId), (b) => b.needsAttention === true);
    expect(h).toMatchObject({ status: 'waitlisted', stage: 'needs_attention', needsAttention: true, waitlist: { promotedAt: null } });
    expect(h.attention).toEqual([expect.stringContaining('paid_while_waitlisted')]);
    expect(await until(() => seatsTaken(departureId), (n) => n === 1)).toBe(1);
    expect(crm.booking(held.bookingId)).toBeUndefined();
    expect(crmCalls(held.bookingId)).toEqual([]);
    // the money is in (payment history and finance see it) and is marked as held
    expect(await until(() => bookingPayments(tenant, held.bookingId), (rows) => rows.length > 0)).toEqual([expect.objectContaining({ status: 'succeeded', needsAttention: expect.stringContaining('waitlisted') })]);
    const needingAttention = async () => (await tenant.api.get<any>('/v1/bookings?stage=needs_attention&limit=100')).body.data.map((b: any) => b.bookingId) as string[];
    const listed = await until(needingAttention, (ids) => ids.includes(held.bookingId));
    expect(listed).toContain(held.bookingId);
    return { departureId, first, firstMoney, firstCharge, held, behind };
  }

  async function expectPromotedToCrm(bookingId: string, behindId: string, departureId: string, seats: number) {
    const promoted = await until(async () => readBooking(tenant, bookingId), (b) => b.waitlist?.promotedAt !== null && b.status === 'paid', 20_000);
    expect(promoted).toMatchObject({ status: 'paid', attention: [], waitlist: { promotedAt: expect.any(String) } });
    const inCrm = await until(async () => crm.booking(bookingId), (b) => b !== undefined, 20_000);
    expect(inCrm!.payload['p15_bookings.p15_waitlisted']).toBe(false);
    await settle.settled();
    // the later waitlisted booking keeps waiting, and nothing of it went to the CRM
    expect((await readBooking(tenant, behindId)).status).toBe('waitlisted');
    expect(crmCalls(behindId)).toEqual([]);
    expect(await until(() => seatsTaken(departureId), (n) => n === seats)).toBe(seats);
    expect(await until(() => bookingPayments(tenant, bookingId), (rows) => rows[0]?.needsAttention === null)).toEqual([expect.objectContaining({ status: 'succeeded', needsAttention: null })]);
  }

  test('the confirmed booking refunded in full at Stripe (KWD): the oldest waitlisted booking is promoted and, being paid, goes to the CRM not waitlisted', async () => {
    const price = { amount: 1_234_560, currency: 'KWD' };
    const { departureId, first, firstMoney, firstCharge, held, behind } = await fullDepartureWithPaidWaitlist('refund', price);
    await firstMoney.refund(firstCharge, price.amount, 'refundfirst');
    const ended = await until(async () => readBooking(tenant, first.bookingId), (b) => b.status === 'refunded', 20_000);
    expect(ended.status).toBe('refunded');
    await expectPromotedToCrm(held.bookingId, behind.bookingId, departureId, 1);
  }, 90_000);

  test('the confirmed booking cancelled: the seat goes to the oldest waitlisted booking, paid meanwhile, which goes to the CRM not waitlisted (JPY)', async () => {
    const price = { amount: 480_000, currency: 'JPY' };
    const departureId = await newDeparture(tenant, 'cancel', 1);
    const first = await newBooking(tenant, departureId, price, 'Ada');
    const oldest = await newBooking(tenant, departureId, price, 'Grace');
    const younger = await newBooking(tenant, departureId, price, 'Alan');
    await new BookingMoney(settle, tenant, oldest.bookingId).pay(price, 'cancelheld');
    await settle.settled();
    expect(await until(() => readBooking(tenant, oldest.bookingId), (b) => b.needsAttention === true)).toMatchObject({ status: 'waitlisted', needsAttention: true });
    expect(crmCalls(oldest.bookingId)).toEqual([]);
    expectStatus(await tenant.api.post(`/v1/bookings/${first.bookingId}/cancel`, { reason: 'changed plans' }), 200, 'cancel');
    await expectPromotedToCrm(oldest.bookingId, younger.bookingId, departureId, 1);
  }, 60_000);

  test('a capacity raise (PATCH) promotes the oldest paid waitlisted booking, which goes to the CRM not waitlisted (JPY)', async () => {
    const price = { amount: 480_000, currency: 'JPY' };
    const { departureId, held, behind } = await fullDepartureWithPaidWaitlist('raise', price);
    const raised = await tenant.api.patch<any>(`/v1/departures/${departureId}`, { capacity: 2 });
    expectStatus(raised, 200, 'capacity raise');
    expect(raised.body.seatsTaken).toBe(2);
    await expectPromotedToCrm(held.bookingId, behind.bookingId, departureId, 2);
  }, 90_000);
});
