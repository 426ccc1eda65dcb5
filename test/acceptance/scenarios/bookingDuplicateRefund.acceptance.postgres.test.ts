/**
 * Named regression (issue #15, defect 2): refunding a duplicate payment refunded the real one.
 * A booking paid twice by two PaymentIntents; Stripe refunds the duplicate's charge. The booking
 * must stay paid, the kept payment untouched, and finance must show both payments and one
 * refund. Black box: the built service on PostgreSQL (DATABASE_URL), signed platform webhooks.
 * Values at their limits: 100-character tenant and departure ids, JPY (no minor unit).
 */
import { startSettle, until, type Settle } from '../driver/service';
import { deliver, eventsFor } from '../driver/stripeWorld';
import { idOfLength, newTenant } from '../driver/tenant';
import type { ChargeFact, MoneyFact } from '../model/invoices';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('a refund of a duplicate booking payment returns the duplicate only (PostgreSQL, in-process messaging)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test('booking stays paid; payments: one succeeded, one refunded; finance: gross 2x, refunds 1x', async () => {
    const tenant = await newTenant(settle, idOfLength('Tdup'));
    const departureId = idOfLength('D');
    expect((await tenant.api.post('/v1/departures', { departureId, name: 'Laugavegur trek', paymentScheduleId: 'sched-1', capacity: 4 })).status).toBe(201);
    const booking = await tenant.api.post<any>('/v1/bookings', {
      departureId,
      contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
      guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
      price: { amount: 150_000, currency: 'JPY' },
    });
    expect(booking.status).toBe(201);
    const bookingId = booking.body.bookingId as string;
    const now = Math.floor(Date.now() / 1000);
    const first: ChargeFact = { kind: 'charge', invoiceKey: 'b', pi: 'pi_dupA1', ch: 'ch_dupA1', amount: 150_000, currency: 'JPY', created: now - 60, outcome: 'succeeded' };
    const second: ChargeFact = { ...first, pi: 'pi_dupA2', ch: 'ch_dupA2', created: now - 30 };
    const facts: MoneyFact[] = [first, second, { kind: 'refund', ch: 'ch_dupA2', re: 're_dupA2', amount: 150_000, created: now - 10 }];
    const ctx = { targetOf: () => ({ metadata: { tenant_id: tenant.id, booking_id: bookingId }, account: null }) };
    for (const f of facts) for (const d of eventsFor(f, facts, ctx)) expect((await deliver(settle.url, d)).status).toBe(200);
    await settle.settled();

    const b = (await tenant.api.get<any>(`/v1/bookings/${bookingId}`)).body;
    expect(b.status).toBe('paid');
    expect(b.refunded.amount).toBe(0);
    expect(b.payment).toMatchObject({ providerPaymentId: 'pi_dupA1' });
    const rows = ((await tenant.api.get<any>('/v1/payments?limit=100')).body.data as any[]).filter((r) => r.payable.id === bookingId);
    const byPi = Object.fromEntries(rows.map((r) => [r.providerPaymentId, r]));
    expect(rows).toHaveLength(2);
    expect(byPi.pi_dupA1).toMatchObject({ status: 'succeeded', refunded: { amount: 0 } });
    expect(byPi.pi_dupA2).toMatchObject({ status: 'refunded', refunded: { amount: 150_000 }, needsAttention: null });
    const day = new Date().toISOString().slice(0, 10);
    const finance = await until(
      async () => (await tenant.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`)).body,
      (r) => r.totals?.[0]?.refunds === 150_000,
    );
    expect(finance.totals).toEqual([expect.objectContaining({ currency: 'JPY', grossCollected: 300_000, refunds: 150_000, net: 150_000, succeededCount: 2 })]);
  }, 60_000);
});
