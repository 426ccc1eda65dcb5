/**
 * A refund asked of Settle (POST /v1/bookings/{id}/refunds) goes to Stripe, and Stripe then
 * reports the same refund by webhook (refund.created, and charge.refunded with the charge's
 * cumulative total, delivered twice). The money must be counted once: the booking, its payment
 * row and the finance report show the refund once. Black box: the built service on PostgreSQL
 * (DATABASE_URL) with in-process messaging, stripe-mock (STRIPE_API_BASE) answering the refund,
 * signed platform webhooks; 100-character tenant and departure ids, JPY.
 */
import { startSettle, until, type Settle } from '../driver/service';
import { deliver, eventsFor } from '../driver/stripeWorld';
import { idOfLength, newTenant } from '../driver/tenant';
import type { ChargeFact, MoneyFact } from '../model/invoices';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('a refund asked through the API and then reported by Stripe is counted once (PostgreSQL, stripe-mock)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test('booking, payment row and finance show one refund', async () => {
    const tenant = await newTenant(settle, idOfLength('Tref'));
    const departureId = idOfLength('Dref');
    expect((await tenant.api.post('/v1/departures', { departureId, name: 'Fimmvörðuháls', paymentScheduleId: 'sched-1', capacity: 4 })).status).toBe(201);
    const booking = await tenant.api.post<any>('/v1/bookings', {
      departureId,
      contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
      guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
      price: { amount: 84_000, currency: 'JPY' },
    });
    expect(booking.status).toBe(201);
    const bookingId = booking.body.bookingId as string;
    const ctx = { targetOf: () => ({ metadata: { tenant_id: tenant.id, booking_id: bookingId }, account: null }) };
    const now = Math.floor(Date.now() / 1000);
    const charge: ChargeFact = { kind: 'charge', invoiceKey: 'b', pi: 'pi_apiref1', ch: 'ch_apiref1', amount: 84_000, currency: 'JPY', created: now - 120, outcome: 'succeeded' };
    for (const d of eventsFor(charge, [charge], ctx)) expect((await deliver(settle.url, d)).status).toBe(200);
    await until(async () => (await tenant.api.get<any>(`/v1/bookings/${bookingId}`)).body, (b) => b.status === 'paid');

    // the operator refunds 30,000 through Settle; Stripe (stripe-mock) answers with its refund id
    const refunded = await tenant.api.post<any>(`/v1/bookings/${bookingId}/refunds`, { amount: { amount: 30_000, currency: 'JPY' }, reason: 'requested_by_customer' });
    expect(refunded.status).toBe(201);
    const re = refunded.body.refundId as string;
    expect(re).toMatch(/^re_/);

    // then Stripe reports that same refund, twice over, as its webhooks do
    const facts: MoneyFact[] = [charge, { kind: 'refund', ch: charge.ch, re, amount: 30_000, created: now - 10 }];
    const reported = eventsFor(facts[1]!, facts, ctx);
    for (const d of [...reported, ...reported]) expect((await deliver(settle.url, d)).status).toBe(200);
    await settle.settled();

    const b = (await tenant.api.get<any>(`/v1/bookings/${bookingId}`)).body;
    expect(b).toMatchObject({ status: 'paid', refunded: { amount: 30_000 } });
    const rows = ((await tenant.api.get<any>('/v1/payments?limit=100')).body.data as any[]).filter((r) => r.payable.id === bookingId);
    expect(rows).toEqual([expect.objectContaining({ providerPaymentId: 'pi_apiref1', status: 'succeeded', refunded: { amount: 30_000, currency: 'JPY' } })]);
    const day = new Date().toISOString().slice(0, 10);
    const finance = await until(async () => (await tenant.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`)).body, (r) => r.totals?.[0]?.refunds > 0);
    expect(finance.totals).toEqual([expect.objectContaining({ currency: 'JPY', grossCollected: 84_000, refunds: 30_000, net: 54_000 })]);
  }, 60_000);
});
