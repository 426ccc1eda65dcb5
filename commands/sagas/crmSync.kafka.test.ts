/**
 * The CRM sync saga end to end: real Kafka broker (KAFKA_BROKERS), real PostgreSQL
 * (DATABASE_URL), the CRM simulator (test/simulators/crm) and a real SMTP server capturing mail
 * (test/support/smtp.ts). Bookings are paid through the command loop; the saga runs only from
 * Kafka messages.
 */
import { randomBytes } from 'node:crypto';
import { bookingDecider, type BookingCommand } from '../../domain/booking/booking';
import { ADMIN_KEY, client } from '../../test/support/api';
import { databaseUrl, dropSchema } from '../../test/support/databases';
import { eventually } from '../../test/support/events';
import { startTestService, type TestService } from '../../test/support/service';
import { startSmtpCapture, type SmtpCapture } from '../../test/support/smtp';
import { startCrmSimulator, type CrmSimulator } from '../../test/simulators/crm';
import { handle } from '../handle';
import { streams } from '../streams';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts Kafka');

describe('CRM sync saga (Kafka + PostgreSQL + CRM simulator + SMTP)', () => {
  let svc: TestService;
  let crm: CrmSimulator;
  let smtp: SmtpCapture;
  let api: ReturnType<typeof client>;
  const schema = `crm_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    crm = await startCrmSimulator();
    smtp = await startSmtpCapture();
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC_PREFIX: `${schema}.`,
      CRM_BASE_URL: crm.url,
      CRM_API_KEY: crm.apiKey,
      CRM_TIMEOUT_MS: '300',
      CRM_MAX_ATTEMPTS: '3',
      CRM_RETRY_BASE_MS: '50',
      CRM_RETRY_MAX_MS: '200',
      SMTP_URL: smtp.url,
      OPS_EMAIL: 'ops@settle.example',
      PUBLIC_BASE_URL: 'https://settle.example',
      LOG_LEVEL: 'warn',
    });
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'atlas', name: 'Atlas' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/atlas/api-keys', {})).body.apiKey);
    await api.post('/v1/departures', { departureId: 'ICE-26', name: 'Iceland 2026', paymentScheduleId: 'sched-departure', capacity: 100 });
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await crm?.close();
    await smtp?.close();
    await dropSchema(schema);
  });

  async function paidBooking(opts: { schedule?: string | null; guests?: number } = {}): Promise<string> {
    const r = await api.post<{ bookingId: string }>('/v1/bookings', {
      departureId: 'ICE-26',
      contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
      guests: Array.from({ length: opts.guests ?? 2 }, (_, i) => ({ firstName: i === 0 ? 'Ada' : `Guest${i}`, lastName: 'Lovelace' })),
      price: { amount: 250000, currency: 'EUR' },
      paymentScheduleId: opts.schedule === undefined ? 'sched-own' : opts.schedule,
    });
    const bookingId = r.body.bookingId;
    const pay: BookingCommand = { type: 'RecordPaymentCompleted', data: { provider: 'stripe', providerPaymentId: `pi_${bookingId}`, providerChargeId: null, amount: { amount: 250000, currency: 'EUR' } }, metadata: { now: new Date() } };
    await handle(svc.runtime.eventStore, streams.booking('atlas', bookingId), bookingDecider, () => pay, { tenantId: 'atlas', correlationId: `evt_${bookingId}`, causationId: `evt_${bookingId}`, now: new Date() });
    return bookingId;
  }

  const types = async (bookingId: string) => (await svc.runtime.eventStore.readStream(streams.booking('atlas', bookingId))).map((e) => e.type);
  const stage = async (bookingId: string) => (await api.get<{ stage: string }>(`/v1/bookings/${bookingId}`)).body.stage;

  test('happy path: the paid booking becomes a CRM contact booking with the full payload, then the payment is associated', async () => {
    const bookingId = await paidBooking();
    await eventually(async () => (await stage(bookingId)) === 'payment_associated', 30_000);
    const b = crm.booking(bookingId)!;
    expect(b).toMatchObject({ externalReference: bookingId, departureId: 'ICE-26', paymentScheduleId: 'sched-own', amount: { amount: 250000, currency: 'EUR' }, contact: { firstName: 'Ada', email: 'ada@example.com' } });
    expect(b.guests.map((g) => g.isClient)).toEqual([true, false]);
    expect(b.payload).toMatchObject({ 'contact.firstname': 'Ada', 'contact.lastname': 'Lovelace', amount: '2500.00', currency: 'EUR', returnallids: true });
    expect(crm.payments().filter((p) => p.externalReference === bookingId)).toHaveLength(1);
    expect(await types(bookingId)).toEqual(['BookingRequested', 'BookingPaymentCompleted', 'CrmStageAttemptStarted', 'CrmBookingCreated', 'CrmStageAttemptStarted', 'CrmPaymentAssociated']);
  });

  test("a booking without its own payment schedule uses the departure's", async () => {
    const bookingId = await paidBooking({ schedule: null });
    await eventually(async () => (await stage(bookingId)) === 'payment_associated', 30_000);
    expect(crm.booking(bookingId)!.paymentScheduleId).toBe('sched-departure');
  });

  test('the CRM times out twice, then recovers: attempts recorded, one CRM booking', async () => {
    crm.failNext(2, 'hang', { operation: 'createContactBooking' });
    const bookingId = await paidBooking();
    await eventually(async () => (await stage(bookingId)) === 'payment_associated', 30_000);
    const events = await svc.runtime.eventStore.readStream(streams.booking('atlas', bookingId));
    const failures = events.filter((e) => e.type === 'CrmStageAttemptFailed').map((e) => e.data as { attempt: number; error: string });
    expect(failures.map((f) => f.attempt)).toEqual([1, 2]);
    expect(failures[0]!.error).toMatch(/^timeout/);
    expect(crm.bookings().filter((b) => b.externalReference === bookingId)).toHaveLength(1);
  });

  test('the CRM acted but its answer was lost: the retry finds the same CRM booking (no duplicate)', async () => {
    const before = crm.createCount;
    crm.failNext(1, 500, { operation: 'createContactBooking', when: 'after' });
    const bookingId = await paidBooking();
    await eventually(async () => (await stage(bookingId)) === 'payment_associated', 30_000);
    expect(crm.createCount - before).toBe(1);
    expect(crm.duplicateCount).toBeGreaterThanOrEqual(1);
  });

  test('a redelivered booking.paid message does not create a second CRM booking', async () => {
    const bookingId = await paidBooking();
    await eventually(async () => (await stage(bookingId)) === 'payment_associated', 30_000);
    const { rows } = await svc.runtime.db.query<{ message_id: string }>(`SELECT message_id::text FROM outbox WHERE message_key = $1 AND topic LIKE '%bookings%'`, [streams.booking('atlas', bookingId)]);
    const creates = crm.createCount;
    await svc.runtime.db.query(`UPDATE outbox SET published_at = NULL WHERE message_id = $1`, [rows[0]!.message_id]); // the relay sends it again
    svc.runtime.relay.wake();
    await eventually(async () => (await svc.runtime.relay.status()).backlog === 0, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(crm.createCount).toBe(creates);
    expect((await types(bookingId)).filter((t) => t === 'CrmBookingCreated')).toHaveLength(1);
  });

  test('the CRM down for longer than the retry budget: flagged, one email to operations, then an operator retry completes it', async () => {
    crm.configure({ down: true });
    const bookingId = await paidBooking();
    await eventually(async () => (await stage(bookingId)) === 'needs_attention', 30_000);
    const mail = await smtp.waitFor((m) => m.subject.includes(bookingId), 15_000);
    expect(mail.to).toEqual(['ops@settle.example']);
    expect(mail.text).toContain('create_contact_booking');
    expect(mail.text).toMatch(/503/);
    expect(mail.text).toContain(`https://settle.example/v1/bookings/${bookingId}/crm-retry`);
    const failed = (await svc.runtime.eventStore.readStream(streams.booking('atlas', bookingId))).filter((e) => e.type === 'CrmStageAttemptFailed');
    expect(failed).toHaveLength(3);
    crm.configure({ down: false });
    expect((await api.post(`/v1/bookings/${bookingId}/crm-retry`, { requestedBy: 'ops@settle.example' })).status).toBe(202);
    await eventually(async () => (await stage(bookingId)) === 'payment_associated', 30_000);
    expect(smtp.messages.filter((m) => m.subject.includes(bookingId))).toHaveLength(1);
  });

  test('issue #15: an operator retry while the CRM is still down runs one more round of at most CRM_MAX_ATTEMPTS attempts, then needs attention again with a second email', async () => {
    crm.configure({ down: true });
    const bookingId = await paidBooking();
    const creates = () => crm.requests('createContactBooking').filter((r) => r.rawBody.includes(bookingId)).length;
    await eventually(async () => (await stage(bookingId)) === 'needs_attention', 30_000);
    await smtp.waitFor((m) => m.subject.includes(bookingId), 15_000);
    expect(creates()).toBe(3);
    // the retry round, the CRM still down
    expect((await api.post(`/v1/bookings/${bookingId}/crm-retry`, { requestedBy: 'ops@settle.example' })).status).toBe(202);
    await eventually(async () => smtp.messages.filter((m) => m.subject.includes(bookingId)).length === 2, 30_000);
    await eventually(async () => (await stage(bookingId)) === 'needs_attention', 30_000);
    const booking = (await api.get<{ crm: { stages: Record<string, { attempts: number; failed: boolean; round: number }> } }>(`/v1/bookings/${bookingId}`)).body;
    expect(booking.crm.stages.create_contact_booking).toMatchObject({ attempts: 3, failed: true, round: 1 });
    // attempts are recorded before each call: three per round, and the CRM got exactly those
    const events = await svc.runtime.eventStore.readStream(streams.booking('atlas', bookingId));
    expect(events.filter((e) => e.type === 'CrmStageAttemptStarted')).toHaveLength(6);
    expect(events.filter((e) => e.type === 'CrmStageAttemptFailed')).toHaveLength(6);
    expect(events.filter((e) => e.type === 'CrmStageFailed')).toHaveLength(2);
    expect(creates()).toBe(6);
    // nothing keeps calling the CRM, nothing loops on a duplicate message id, nothing is parked
    await new Promise((r) => setTimeout(r, 1500));
    expect(creates()).toBe(6);
    expect(svc.logs.filter((l) => /duplicate key|already exists with other content/.test(JSON.stringify(l)))).toEqual([]);
    expect((await client(svc.url, ADMIN_KEY).get<{ data: unknown[] }>('/v1/admin/outbox/parked')).body.data).toEqual([]);
    expect(smtp.messages.filter((m) => m.subject.includes(bookingId))).toHaveLength(2);
    crm.configure({ down: false });
  });

  test('bulk retry of every booking that needs attention goes out as batches, not one message per booking', async () => {
    crm.configure({ down: true });
    const ids = [await paidBooking(), await paidBooking(), await paidBooking()];
    for (const id of ids) await eventually(async () => (await stage(id)) === 'needs_attention', 30_000);
    crm.configure({ down: false });
    const r = await api.post<{ bookings: number; batches: number }>('/v1/bookings/crm-retry', { requestedBy: 'ops' });
    expect(r.status).toBe(202);
    expect(r.body.bookings).toBeGreaterThanOrEqual(3);
    expect(r.body.batches).toBe(1);
    for (const id of ids) await eventually(async () => (await stage(id)) === 'payment_associated', 30_000);
  });
});
