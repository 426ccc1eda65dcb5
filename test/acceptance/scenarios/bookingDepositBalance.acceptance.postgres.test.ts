/**
 * Issue #15, deposits and balances: a trip paid by schedule. A JPY departure asks a 30 % deposit;
 * the deposit moves the booking to deposit_paid and into the CRM (contact booking + the deposit
 * as one CRM payment); the balance makes it paid, as a second CRM payment, and finance counts
 * both (gross = the price). A booking whose balance is past due is listed as balance_overdue; a
 * payment that is neither the deposit nor the balance needs attention. Black box: the built
 * service on PostgreSQL (DATABASE_URL), signed platform webhooks, the CRM simulator. Values at
 * their limits: 100-character tenant and departure ids, JPY (no minor unit, 30 % rounds to the yen).
 */
import { startCrmSimulator, type CrmSimulator } from '../../simulators/crm';
import { startSettle, until, type Settle } from '../driver/service';
import { deliver, eventsFor } from '../driver/stripeWorld';
import { idOfLength, newTenant, type Tenant } from '../driver/tenant';
import type { ChargeFact } from '../model/invoices';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
describe('a booking paid by deposit then balance (PostgreSQL, in-process messaging, CRM simulator)', () => {
  let settle: Settle;
  let crm: CrmSimulator;
  beforeAll(async () => {
    crm = await startCrmSimulator();
    settle = await startSettle({
      storage: 'postgres',
      messaging: 'in-process',
      env: { CRM_BASE_URL: crm.url, CRM_API_KEY: crm.apiKey, CRM_MAX_ATTEMPTS: '3', CRM_RETRY_BASE_MS: '50', CRM_RETRY_MAX_MS: '200', CRM_TIMEOUT_MS: '2000' },
    });
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await crm?.close();
  });

  const contact = { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' };
  async function book(tenant: Tenant, departureId: string, extra: Record<string, unknown> = {}): Promise<string> {
    const r = await tenant.api.post<any>('/v1/bookings', { departureId, contact, guests: [{ firstName: 'Ada', lastName: 'Lovelace' }], price: { amount: 123_457, currency: 'JPY' }, ...extra });
    expect(r.status).toBe(201);
    await settle.settled();
    return r.body.bookingId as string;
  }
  async function pay(tenant: Tenant, bookingId: string, pi: string, amount: number): Promise<void> {
    const charge: ChargeFact = { kind: 'charge', invoiceKey: 'b', pi, ch: pi.replace('pi_', 'ch_'), amount, currency: 'JPY', created: Math.floor(Date.now() / 1000), outcome: 'succeeded' };
    for (const d of eventsFor(charge, [charge], { targetOf: () => ({ metadata: { tenant_id: tenant.id, booking_id: bookingId }, account: null }) })) expect((await deliver(settle.url, d)).status).toBe(200);
    await settle.settled();
  }
  const getBooking = async (tenant: Tenant, id: string) => (await tenant.api.get<any>(`/v1/bookings/${id}`)).body;

  test('deposit -> deposit_paid + one CRM payment; balance -> paid + two CRM payments, finance gross = price; overdue listed; a wrong amount needs attention', async () => {
    const tenant = await newTenant(settle, idOfLength('Tdeposit'));
    const departureId = idOfLength('Ddeposit');
    const dep = await tenant.api.post<any>('/v1/departures', { departureId, name: 'Kumano Kodo', paymentScheduleId: 'sched-1', capacity: 10, schedule: { deposit: { percent: 30 }, balanceDueDays: 30 } });
    expect(dep.status).toBe(201);
    expect(dep.body.schedule).toEqual({ deposit: { percent: 30 }, balanceDueDays: 30 });

    // the deposit: 30 % of ¥123,457 = ¥37,037.1 -> ¥37,037
    const a = await book(tenant, departureId);
    const requested = await getBooking(tenant, a);
    expect(requested.schedule).toMatchObject({ deposit: { amount: 37_037, currency: 'JPY' }, balance: { amount: 86_420, currency: 'JPY' }, overdue: false });
    await pay(tenant, a, 'pi_depositA', 37_037);
    const depositPaid = await until(() => getBooking(tenant, a), (b) => b.crm?.paymentAssociated === true, 20_000);
    expect(depositPaid).toMatchObject({ status: 'deposit_paid', stage: 'deposit_paid', needsAttention: false, schedule: { outstanding: { amount: 86_420 } } });
    expect(crm.booking(a)?.payments.map((p) => [p.paymentId, p.amount.amount])).toEqual([['pi_depositA', 37_037]]);
    expect(crm.booking(a)?.amount).toEqual({ amount: 123_457, currency: 'JPY' });

    // the balance: the booking is paid, the CRM has both payments, each once
    await pay(tenant, a, 'pi_balanceA', 86_420);
    const paid = await until(() => getBooking(tenant, a), (b) => b.status === 'paid' && b.crm?.paymentAssociated === true, 20_000);
    expect(paid).toMatchObject({ stage: 'payment_associated', needsAttention: false, schedule: { outstanding: { amount: 0 } } });
    expect(paid.payments.map((p: any) => [p.providerPaymentId, p.kept])).toEqual([
      ['pi_depositA', true],
      ['pi_balanceA', true],
    ]);
    expect(crm.booking(a)?.payments.map((p) => [p.paymentId, p.amount.amount])).toEqual([
      ['pi_depositA', 37_037],
      ['pi_balanceA', 86_420],
    ]);
    const rows = ((await tenant.api.get<any>('/v1/payments?limit=100')).body.data as any[]).filter((r) => r.payable.id === a);
    expect(rows.map((r) => [r.providerPaymentId, r.status, r.amount.amount]).sort()).toEqual([
      ['pi_balanceA', 'succeeded', 86_420],
      ['pi_depositA', 'succeeded', 37_037],
    ]);
    // each payment associated once: two calls, no repeat
    expect(crm.requests('associatePayment').filter((r) => r.body?.external_reference === a).map((r) => r.body.payment_id)).toEqual(['pi_depositA', 'pi_balanceA']);
    const day = new Date().toISOString().slice(0, 10);
    const finance = await until(
      async () => (await tenant.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`)).body,
      (r) => r.totals?.[0]?.succeededCount === 2,
    );
    expect(finance.totals).toEqual([expect.objectContaining({ currency: 'JPY', grossCollected: 123_457, succeededCount: 2 })]);

    // a booking whose own schedule makes the balance due at once: overdue after its deposit
    const b = await book(tenant, departureId, { schedule: { deposit: { amount: { amount: 20_000, currency: 'JPY' } }, balanceDueDays: 0 } });
    await pay(tenant, b, 'pi_depositB', 20_000);
    const overdue = await until(() => getBooking(tenant, b), (x) => x.status === 'deposit_paid', 20_000);
    expect(overdue).toMatchObject({ stage: 'balance_overdue', schedule: { overdue: true, outstanding: { amount: 103_457 } } });
    const listed = (await tenant.api.get<any>('/v1/bookings?stage=balance_overdue')).body.data.map((x: any) => x.bookingId);
    expect(listed).toEqual([b]);
    expect((await tenant.api.get<any>('/v1/bookings?stage=deposit_paid')).body.data).toEqual([]);

    // neither the deposit nor the price: needs attention, not deposit_paid
    const c = await book(tenant, departureId);
    await pay(tenant, c, 'pi_wrongC', 50_000);
    const wrong = await until(() => getBooking(tenant, c), (x) => x.needsAttention === true, 20_000);
    expect(wrong).toMatchObject({ status: 'requested', stage: 'needs_attention' });
    // and on a deposit-paid booking, a balance that is not the exact remainder needs attention too
    await pay(tenant, b, 'pi_shortB', 100_000);
    expect(await until(() => getBooking(tenant, b), (x) => x.needsAttention === true, 20_000)).toMatchObject({ status: 'deposit_paid', stage: 'needs_attention' });
    expect(crm.booking(c)).toBeUndefined();

    // a departure's schedule can change (existing bookings keep the schedule they were requested under)
    const changed = await tenant.api.patch<any>(`/v1/departures/${departureId}`, { schedule: { deposit: { amount: { amount: 10_000, currency: 'JPY' } }, balanceDueDate: '2027-03-31' } });
    expect(changed.status).toBe(200);
    expect(changed.body.schedule).toEqual({ deposit: { amount: { amount: 10_000, currency: 'JPY' } }, balanceDueDate: '2027-03-31' });
    expect((await getBooking(tenant, a)).schedule.deposit).toEqual({ amount: 37_037, currency: 'JPY' });

    // bad schedules are the client's mistake: 4xx problem+json, never 5xx
    const badRequests: Array<[string, string, unknown]> = [
      // 30 % of ¥1 rounds to nothing: no deposit to ask for; a fixed deposit of the whole price or more; one in another currency
      ['post', '/v1/bookings', { departureId, contact, guests: [{ firstName: 'Ada', lastName: 'Lovelace' }], price: { amount: 1, currency: 'JPY' }, schedule: { deposit: { percent: 30 }, balanceDueDays: 1 } }],
      ['post', '/v1/bookings', { departureId, contact, guests: [{ firstName: 'Ada', lastName: 'Lovelace' }], price: { amount: 5_000, currency: 'JPY' } }],
      ['post', '/v1/bookings', { departureId, contact, guests: [{ firstName: 'Ada', lastName: 'Lovelace' }], price: { amount: 50_000, currency: 'JPY' }, schedule: { deposit: { amount: { amount: 1_000, currency: 'KWD' } }, balanceDueDays: 1 } }],
      ['post', '/v1/departures', { departureId: idOfLength('Dbad'), name: 'x', capacity: 1, schedule: { deposit: { percent: 150 }, balanceDueDays: 1 } }],
      ['post', '/v1/departures', { departureId: idOfLength('Dbad'), name: 'x', capacity: 1, schedule: { deposit: { percent: 30 }, balanceDueDays: 1, balanceDueDate: '2027-01-01' } }],
      ['post', '/v1/departures', { departureId: idOfLength('Dbad'), name: 'x', capacity: 1, schedule: { deposit: { percent: 33.333 }, balanceDueDays: 1 } }],
      ['patch', `/v1/departures/${departureId}`, { schedule: { deposit: { percent: 30 }, balanceDueDate: '2027-02-30' } }],
    ];
    for (const [method, path, body] of badRequests) {
      const r = await (tenant.api as any)[method](path, body);
      expect({ method, path, status: r.status >= 400 && r.status < 500 ? '4xx' : r.status, type: r.headers.get('content-type') }).toEqual({ method, path, status: '4xx', type: expect.stringContaining('application/problem+json') });
    }
  }, 120_000);
});
