/**
 * The failure-isolation scenario of issue #15, shared by isolation.postgres.test.ts (in-process
 * bus) and isolation.kafka.test.ts (real broker): poisoned message keys of tenant A (a message the
 * CRM saga can never handle; with Kafka also a message the broker can never take) must not hold
 * up tenant B's CRM sync and finance report by more than one retry interval, and must stay held,
 * in order, until an operator acts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { bookingDecider, type BookingCommand } from '../../domain/booking/booking';
import type { OutboxMessage } from '../../domain/ports/eventStore';
import { handle } from '../../commands/handle';
import { TOPICS } from '../../domain/ports/messageBus';
import { streams } from '../../commands/streams';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { eventually } from '../support/events';
import { startTestService, type TestService } from '../support/service';
import { startCrmSimulator, type CrmSimulator } from '../simulators/crm';

export const RETRY_MS = 3000;

export interface ParkedView {
  key: string;
  stage: string;
  state: 'retrying' | 'parked';
  messageId: string;
  topic: string;
  error: string | null;
  attempts: number;
  since: string;
  waiting: number;
}

export interface IsolationWorld {
  svc: TestService;
  crm: CrmSimulator;
  admin: ReturnType<typeof client>;
  tenant(id: string): Promise<ReturnType<typeof client>>;
  booking(api: ReturnType<typeof client>): Promise<string>;
  pay(tenantId: string, bookingId: string): Promise<void>;
  stage(api: ReturnType<typeof client>, bookingId: string): Promise<string>;
  gross(api: ReturnType<typeof client>): Promise<number>;
  parked(): Promise<ParkedView[]>;
  enqueue(m: OutboxMessage): Promise<void>;
  close(): Promise<void>;
}

export async function isolationWorld(env: Record<string, string>): Promise<IsolationWorld> {
  const schema = `iso_${randomBytes(5).toString('hex')}`;
  const crm = await startCrmSimulator();
  const svc = await startTestService({
    DATABASE_URL: databaseUrl(),
    DATABASE_SCHEMA: schema,
    ADMIN_API_KEY: ADMIN_KEY,
    CRM_BASE_URL: crm.url,
    CRM_API_KEY: crm.apiKey,
    CRM_TIMEOUT_MS: '1000',
    CRM_MAX_ATTEMPTS: '3',
    CRM_RETRY_BASE_MS: '50',
    CRM_RETRY_MAX_MS: '200',
    MESSAGE_MAX_ATTEMPTS: '2',
    MESSAGE_RETRY_BASE_MS: String(RETRY_MS),
    MESSAGE_RETRY_MAX_MS: String(RETRY_MS),
    LOG_LEVEL: 'warn',
    ...env,
    ...(env.KAFKA_BROKERS ? { KAFKA_TOPIC_PREFIX: `${schema}.` } : {}),
  });
  const admin = client(svc.url, ADMIN_KEY);
  const day = new Date().toISOString().slice(0, 10);
  return {
    svc,
    crm,
    admin,
    async tenant(id) {
      await admin.post('/v1/tenants', { tenantId: id, name: id });
      const api = client(svc.url, (await admin.post<{ apiKey: string }>(`/v1/tenants/${id}/api-keys`, {})).body.apiKey);
      await api.post('/v1/departures', { departureId: 'DEP-1', name: 'Departure', paymentScheduleId: 'sched-1', capacity: 100 });
      return api;
    },
    async booking(api) {
      const r = await api.post<{ bookingId: string }>('/v1/bookings', {
        departureId: 'DEP-1',
        contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
        guests: [{ firstName: 'Ada', lastName: 'Lovelace' }],
        price: { amount: 250000, currency: 'EUR' },
        paymentScheduleId: 'sched-own',
      });
      return r.body.bookingId;
    },
    async pay(tenantId, bookingId) {
      const pay: BookingCommand = { type: 'RecordPaymentCompleted', data: { provider: 'stripe', providerPaymentId: `pi_${bookingId}`, providerChargeId: null, amount: { amount: 250000, currency: 'EUR' } }, metadata: { now: new Date() } };
      await handle(svc.runtime.eventStore, streams.booking(tenantId, bookingId), bookingDecider, () => pay, { tenantId, correlationId: `evt_${bookingId}`, causationId: `evt_${bookingId}`, now: new Date() });
    },
    async stage(api, bookingId) {
      return (await api.get<{ stage: string }>(`/v1/bookings/${bookingId}`)).body.stage;
    },
    async gross(api) {
      const r = await api.get<{ rows: Array<{ grossCollected: number }> }>(`/v1/reports/finance?from=${day}&to=${day}`);
      return (r.body.rows ?? []).reduce((n, row) => n + row.grossCollected, 0);
    },
    async parked() {
      return (await admin.get<{ data: ParkedView[] }>('/v1/admin/outbox/parked')).body.data;
    },
    enqueue: (m) => svc.runtime.relay.enqueue([m]),
    async close() {
      await svc.shutdown('test end');
      await crm.close();
      await dropSchema(schema);
    },
  };
}

/** A booking.paid message naming no booking: the CRM saga can never handle it. */
export function unhandleable(tenantId: string, bookingId: string): OutboxMessage {
  const id = randomUUID();
  return {
    id,
    topic: TOPICS.bookings,
    key: streams.booking(tenantId, bookingId),
    value: { id, type: 'booking.paid', version: 1, occurredAt: new Date().toISOString(), tenantId, aggregate: { type: 'booking', id: bookingId }, correlationId: id, causationId: id, data: null },
    headers: { 'message-type': 'booking.paid', 'message-version': '1' },
  };
}

/**
 * Tenant A's booking X gets a poisoned message ahead of its real booking.paid (same key), plus
 * whatever `extraPoison` adds; tenant B's booking paid afterwards must reach the CRM and its
 * finance report within one retry interval; A's booking waits behind its poison until it is
 * skipped, then completes.
 */
export async function poisonedKeyDoesNotHoldUpOtherTenants(w: IsolationWorld, extraPoison: (a: string) => Promise<void> = async () => undefined): Promise<{ bMs: number }> {
  const apiA = await w.tenant('acme');
  const apiB = await w.tenant('bravo');
  const x = await w.booking(apiA);
  await w.enqueue(unhandleable('acme', x));
  await extraPoison(x);
  await w.pay('acme', x); // its booking.paid waits behind the poison (same key)
  await eventually(async () => (await w.parked()).some((p) => p.key === streams.booking('acme', x)), 30_000);

  const y = await w.booking(apiB);
  const t0 = Date.now();
  await w.pay('bravo', y);
  await eventually(async () => (await w.stage(apiB, y)) === 'payment_associated' && (await w.gross(apiB)) === 250000, 30_000, 50);
  const bMs = Date.now() - t0;

  // A is still held behind its poison, in order: nothing of it reached the CRM
  expect(await w.stage(apiA, x)).toBe('paid');
  expect(w.crm.booking(x)).toBeFalsy();
  const held = (await w.parked()).find((p) => p.key === streams.booking('acme', x) && p.stage === 'consumer:crm-sync')!;
  expect(held).toMatchObject({ topic: TOPICS.bookings, waiting: 2 });
  expect(held.error).toMatch(/names no booking/);

  // the operator skips the poison (reason recorded): A's real message follows
  const skip = await w.admin.post<{ skipped: Array<{ stage: string; messageId: string }> }>(`/v1/admin/outbox/parked/${encodeURIComponent(streams.booking('acme', x))}/skip`, {
    reason: 'malformed message from a test',
    stage: 'consumer:crm-sync',
  });
  expect(skip.status).toBe(200);
  await eventually(async () => (await w.stage(apiA, x)) === 'payment_associated', 30_000);
  const { rows } = await w.svc.runtime.db.query<{ reason: string; stage: string }>(`SELECT reason, stage FROM parked_skips WHERE message_key = $1`, [streams.booking('acme', x)]);
  expect(rows).toEqual([{ reason: 'malformed message from a test', stage: 'consumer:crm-sync' }]);
  return { bMs };
}
