/**
 * Named regression (issue #15, defect 1): one CRM retry halted messaging for every tenant.
 * Tenant A's booking is paid while the CRM refuses it; its stage fails for good; an operator asks
 * for a retry while the CRM still refuses it. Meanwhile tenant B's booking is paid. B must reach
 * the CRM and B's finance report at once; A's retry round must run at most CRM_MAX_ATTEMPTS
 * attempts, then need attention again with a second ops email; no outbox id clash ever; when the
 * CRM takes A again, a further retry gets A through. Black box: the built service on PostgreSQL
 * (DATABASE_URL) with Kafka (KAFKA_BROKERS) and with in-process messaging, the CRM simulator, a
 * real SMTP capture.
 */
import { startCrmSimulator, type CrmSimulator } from '../../simulators/crm';
import { startSmtpCapture, type SmtpCapture } from '../../support/smtp';
import { expectStatus, startSettle, until, type Settle } from '../driver/service';
import { deliver, eventsFor } from '../driver/stripeWorld';
import { idOfLength, newTenant, type Tenant } from '../driver/tenant';
import type { ChargeFact } from '../model/invoices';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
const MAX_ATTEMPTS = 3;

describe.each(['in-process', 'kafka'] as const)('a CRM retry while the CRM still refuses one booking (PostgreSQL, %s messaging)', (messaging) => {
  let settle: Settle;
  let crm: CrmSimulator;
  let smtp: SmtpCapture;
  beforeAll(async () => {
    crm = await startCrmSimulator();
    smtp = await startSmtpCapture();
    settle = await startSettle({
      storage: 'postgres',
      messaging,
      env: {
        CRM_BASE_URL: crm.url,
        CRM_API_KEY: crm.apiKey,
        CRM_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        CRM_RETRY_BASE_MS: '50',
        CRM_RETRY_MAX_MS: '200',
        CRM_TIMEOUT_MS: '2000',
        SMTP_URL: smtp.url,
        OPS_EMAIL: 'ops@example.test',
      },
    });
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await crm?.close();
    await smtp?.close();
  });

  async function paidBooking(tenant: Tenant, tag: string, price: { amount: number; currency: string }, beforePaying: (bookingId: string) => void = () => undefined): Promise<string> {
    const departureId = idOfLength(`D${tag}`);
    expect((await tenant.api.post('/v1/departures', { departureId, name: 'Trip', paymentScheduleId: `sched-${tag}`, capacity: 10 })).status).toBe(201);
    const r = await tenant.api.post<any>('/v1/bookings', {
      departureId,
      contact: { firstName: 'Grace', lastName: 'Hopper', email: `grace.${tag}@example.com`, phone: '+1 555 0100' },
      guests: [{ firstName: 'Grace', lastName: 'Hopper' }, { firstName: 'Alan', lastName: 'Turing' }],
      price,
    });
    expect(r.status).toBe(201);
    const bookingId = r.body.bookingId as string;
    beforePaying(bookingId);
    const charge: ChargeFact = { kind: 'charge', invoiceKey: 'b', pi: `pi_${tag}${messaging}`, ch: `ch_${tag}${messaging}`, amount: price.amount, currency: price.currency, created: Math.floor(Date.now() / 1000), outcome: 'succeeded' };
    for (const d of eventsFor(charge, [charge], { targetOf: () => ({ metadata: { tenant_id: tenant.id, booking_id: bookingId }, account: null }) })) expect((await deliver(settle.url, d)).status).toBe(200);
    return bookingId;
  }

  const creates = (bookingId: string) => crm.requests('createContactBooking').filter((r) => (r.body)?.external_reference === bookingId).length;

  test('the other tenant flows at once; the retry round is bounded, loud, and clash-free; a later retry gets through', async () => {
    const a = await newTenant(settle, idOfLength(`TA${messaging}`));
    const b = await newTenant(settle, idOfLength(`TB${messaging}`));
    const bookingA = await paidBooking(a, 'A', { amount: 1_234_560, currency: 'KWD' }, (id) => crm.failNext(100_000, 503, { operation: 'createContactBooking', externalReference: id }));

    // round 1 fails for good
    const attention = await until(async () => (await a.api.get<any>(`/v1/bookings/${bookingA}`)).body, (x) => x.needsAttention === true, 30_000);
    expect(attention.needsAttention).toBe(true);
    expect(creates(bookingA)).toBe(MAX_ATTEMPTS);
    await smtp.waitFor((m) => m.text.includes(bookingA), 15_000);

    // B pays meanwhile and gets through
    const bookingB = await paidBooking(b, 'B', { amount: 98_765, currency: 'EUR' });
    await until(async () => crm.booking(bookingB)?.payments?.length ?? 0, (n) => n > 0, 15_000);
    const day = new Date().toISOString().slice(0, 10);
    const financeB = await until(async () => (await b.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`)).body, (r) => r.totals?.length > 0);
    expect(financeB.totals).toEqual([expect.objectContaining({ currency: 'EUR', grossCollected: 98_765 })]);

    // the operator retries while the CRM still refuses A: a new round
    const roundBefore = Number(attention.crm.stages.create_contact_booking.round ?? 0);
    const mailsBefore = smtp.messages.filter((m) => m.text.includes(bookingA)).length;
    expectStatus(await a.api.post(`/v1/bookings/${bookingA}/crm-retry`, { requestedBy: 'ops@example.test' }), 202, 'crm-retry while the CRM still refuses');
    await until(async () => creates(bookingA), (n) => n >= 2 * MAX_ATTEMPTS, 30_000);
    // the second round failed for good (not the first round's flag still showing)
    const secondRoundFailed = (x: any) => x.needsAttention === true && x.crm.stages.create_contact_booking.round === roundBefore + 1 && x.crm.stages.create_contact_booking.failed === true;
    const again = await until(async () => (await a.api.get<any>(`/v1/bookings/${bookingA}`)).body, secondRoundFailed, 30_000);
    expect({ round: again.crm.stages.create_contact_booking, needsAttention: again.needsAttention }).toMatchObject({ round: { round: roundBefore + 1, failed: true }, needsAttention: true });
    await until(async () => smtp.messages.filter((m) => m.text.includes(bookingA)).length, (n) => n > mailsBefore, 15_000);
    expect(smtp.messages.filter((m) => m.text.includes(bookingA)).length).toBe(mailsBefore + 1);
    // bounded: no further calls after the round ended
    await settle.settled();
    expect(creates(bookingA)).toBe(2 * MAX_ATTEMPTS);
    expect(settle.output.join('')).not.toContain('outbox_message_id_key');
    expect((await fetch(`${settle.url}/readyz`)).status).toBe(200);

    // the CRM takes A again: a further retry gets it through
    crm.reset();
    expectStatus(await a.api.post(`/v1/bookings/${bookingA}/crm-retry`, { requestedBy: 'ops@example.test' }), 202, 'crm-retry once the CRM takes it');
    await until(async () => crm.booking(bookingA)?.payments?.length ?? 0, (n) => n > 0, 30_000);
    const done = await until(async () => (await a.api.get<any>(`/v1/bookings/${bookingA}`)).body, (x) => x.crm.paymentAssociated === true, 15_000);
    expect(done).toMatchObject({ needsAttention: false, crm: { paymentAssociated: true } });
  }, 180_000);
});
