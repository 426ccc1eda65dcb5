/**
 * Named regression (issue #15, defect 4): disputes on booking payments were dropped (Stripe's
 * dispute events carry no booking metadata), so a charged-back booking still looked paid and
 * finance never showed the loss. Now charge.dispute.created marks the payment disputed and the
 * booking needing attention, with the disputed amount in finance; closed lost keeps it disputed
 * and moves the amount to finance's disputeLosses; closed won restores the payment and the net.
 * Black box: the built service on PostgreSQL (DATABASE_URL) with in-process messaging, signed
 * platform webhooks as Stripe sends them. Values at their limits: 100-character tenant and
 * departure ids, JPY (no minor unit) and KWD (three decimals).
 */
import { BookingMoney, bookingPayments, financeTotals, newBooking, newDeparture, readBooking } from '../driver/bookings';
import { startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

 
describe('disputes on booking payments (PostgreSQL, in-process messaging)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test.each([
    ['lost', { amount: 90_000, currency: 'JPY' }],
    ['won', { amount: 42_120, currency: 'KWD' }],
  ] as const)('a dispute closed %s (%o): payment disputed, booking needs attention, finance counts it; then the outcome', async (outcome, price) => {
    const tenant = await newTenant(settle, idOfLength(`Tdisp${outcome}`));
    const departureId = await newDeparture(tenant, `disp${outcome}`, 10);
    const { bookingId } = await newBooking(tenant, departureId, price);
    const money = new BookingMoney(settle, tenant, bookingId);
    const charge = await money.pay(price, `disp${outcome}`);
    await settle.settled();
    expect((await until(() => readBooking(tenant, bookingId), (b) => b.status === 'paid')).status).toBe('paid');

    // Stripe opens a dispute (no metadata on it: the service finds the booking through the charge)
    await money.dispute(charge, 'open', `disp${outcome}`);
    await settle.settled();
    expect(await until(() => bookingPayments(tenant, bookingId), (rows) => rows[0]?.status === 'disputed')).toEqual([expect.objectContaining({ status: 'disputed' })]);
    expect(await until(() => readBooking(tenant, bookingId), (b) => b.disputes?.length > 0)).toMatchObject({ needsAttention: true, disputes: [{ disputeId: `dp_disp${outcome}`, status: 'open', amount: price }] });
    const open = await until(() => financeTotals(tenant, price.currency), (t) => t.disputed === price.amount);
    expect(open).toMatchObject({ grossCollected: price.amount, disputed: price.amount });

    // Stripe closes it
    await money.dispute(charge, outcome, `disp${outcome}`);
    await settle.settled();
    const b = await until(() => readBooking(tenant, bookingId), (x) => x.disputes?.[0]?.status === outcome);
    expect(b.disputes).toEqual([expect.objectContaining({ disputeId: `dp_disp${outcome}`, status: outcome })]);
    if (outcome === 'lost') {
      expect(await bookingPayments(tenant, bookingId)).toEqual([expect.objectContaining({ status: 'disputed' })]);
      expect(b).toMatchObject({ needsAttention: true, attention: [`dispute_lost:dp_disp${outcome}`] });
      const t = await until(() => financeTotals(tenant, price.currency), (x) => x.disputeLosses === price.amount);
      expect(t).toMatchObject({ grossCollected: price.amount, disputed: 0, disputeLosses: price.amount, net: 0 });
    } else {
      expect(await until(() => bookingPayments(tenant, bookingId), (rows) => rows[0]?.status === 'succeeded')).toEqual([expect.objectContaining({ status: 'succeeded' })]);
      expect(b).toMatchObject({ needsAttention: false, attention: [] });
      const t = await until(() => financeTotals(tenant, price.currency), (x) => x.disputed === 0);
      expect(t).toMatchObject({ grossCollected: price.amount, disputed: 0, disputeLosses: 0, net: price.amount });
    }
  }, 60_000);
});
