/**
 * The AsyncAPI document against what Settle really publishes: the real command loop (random
 * histories of invoices, bookings and subscriptions, a waitlist promotion), the CRM saga's
 * scheduled retries and an operator's bulk retry write their messages to the outbox (embedded
 * PGlite, the same SQL as PostgreSQL); every outbox message, as the relay would publish it, must
 * be a message of its topic's channel in /asyncapi.json and validate against that message's
 * payload and headers schemas; every documented type must have been seen. docs/asyncapi.yaml
 * must be the served document (SETTLE_WRITE_ASYNCAPI=1 rewrites it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { handle, type CommandContext } from '../commands/handle';
import { MESSAGE_TYPES } from '../commands/messageContracts';
import { scheduleBulkCrmRetry } from '../commands/bulkRetry';
import { CrmSyncSaga } from '../commands/sagas/crmSync';
import { streams } from '../commands/streams';
import { bookingDecider, type BookingCommand } from '../domain/booking/booking';
import type { OutboxMessage } from '../domain/ports/eventStore';
import { CrmError } from '../domain/ports/crm';
import { SqlEventStore } from '../infrastructure/eventstore/sqlEventStore';
import { embeddedDatabase, type TestDatabase } from '../test/support/databases';
import { generateHistories } from '../test/support/histories';
import { startTestService, type TestService } from '../test/support/service';
import { asyncApiDocument, toYaml } from './asyncapi';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- untyped JSON (a parsed document or fixture), read by shape
const YAML = path.resolve(__dirname, '../docs/asyncapi.yaml');

describe('AsyncAPI: the document and the messages Settle produces', () => {
  let t: TestDatabase;
  let store: SqlEventStore;
  let dir: string;
  let svc: TestService;
  let doc: Doc;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-asyncapi-'));
    svc = await startTestService({ DATA_DIR: dir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined });
    doc = (await (await fetch(`${svc.url}/asyncapi.json`)).json()) as Doc;
    t = await embeddedDatabase();
    store = new SqlEventStore(t.db);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    fs.rmSync(dir, { recursive: true, force: true });
    await t?.drop();
  });

  test('docs/asyncapi.yaml is the document served at /asyncapi.json', () => {
    expect(doc).toEqual(asyncApiDocument('1'));
    const yaml = toYaml(doc);
    if (process.env.SETTLE_WRITE_ASYNCAPI === '1') fs.writeFileSync(YAML, `# Generated from commands/messageContracts.ts by http/asyncapi.ts; do not edit.\n${yaml}`);
    expect(fs.readFileSync(YAML, 'utf8').replace(/^#.*\n/, '')).toBe(yaml);
  });

  test('every message the producers write validates against its channel message in the document', async () => {
    const tenantId = 'tenant-a';
    for (let seed = 1; seed <= 6; seed++) await generateHistories(store, seed, { tenantId, stepsPerStream: 14 });
    const now = new Date('2026-06-01T10:00:00.000Z');
    const ctx = (id: string): CommandContext => ({ tenantId, correlationId: `corr-${id}`, causationId: `cause-${id}`, now, actor: { kind: 'system', id: 'contract-test' } });
    const run = (bookingId: string, c: Omit<BookingCommand, 'metadata'>) => handle(store, streams.booking(tenantId, bookingId), bookingDecider, () => ({ ...c, metadata: { now } }) as BookingCommand, ctx(`${bookingId}-${c.type}`));
    // paid while waitlisted, then promoted: booking.promoted-from-waitlist and its booking.paid
    const price = { amount: 120000, currency: 'EUR' };
    await run('bk-wait', {
      type: 'RequestBooking',
      data: {
        bookingId: 'bk-wait',
        tenantId,
        departure: { departureId: 'd1', externalId: 'DEP-W', paymentScheduleId: 'sched-w' },
        placement: 'waitlisted',
        contact: { firstName: 'Wai', lastName: 'Ted', email: 'wai@example.com', phone: '+1 555 0101' },
        guests: [{ firstName: 'Wai', lastName: 'Ted' }],
        price,
        paymentScheduleId: 'sched-w',
      },
    });
    await run('bk-wait', { type: 'RecordPaymentCompleted', data: { provider: 'paypal', providerPaymentId: 'cap_wait', providerChargeId: null, amount: price } });
    await run('bk-wait', { type: 'PromoteFromWaitlist', data: { seats: 1 } });
    // the CRM saga's scheduled retry: the CRM is down
    const crm = { createContactBooking: () => Promise.reject(new CrmError('unavailable', 'down', 503)), associatePayment: () => Promise.reject(new CrmError('unavailable', 'down', 503)) };
    const saga = new CrmSyncSaga(store, crm, null, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20, publicBaseUrl: 'http://settle.test', clock: { now: () => now } });
    const { rows: paid } = await t.db.query<{ value: unknown }>(`SELECT value FROM outbox WHERE message_key = $1 AND headers->>'message-type' = 'booking.paid'`, [streams.booking(tenantId, 'bk-wait')]);
    expect(paid).toHaveLength(1);
    await saga.handleMessage((typeof paid[0]!.value === 'string' ? JSON.parse(paid[0]!.value) : paid[0]!.value) as never);
    // an operator's bulk retry (enqueued by the relay's scheduler; here taken as written)
    const bulk: OutboxMessage[] = [];
    await scheduleBulkCrmRetry({ enqueue: async (m) => void bulk.push(...m) }, tenantId, ['bk-wait', 'h1-bk-0'], { correlationId: 'corr-bulk', requestId: 'req-bulk', now });

    const { rows } = await t.db.query<{ topic: string; message_key: string; value: unknown; headers: unknown }>(`SELECT topic, message_key, value, headers FROM outbox ORDER BY id`);
    const produced = [...rows.map((r) => ({ topic: r.topic, key: r.message_key, value: parse(r.value), headers: parse(r.headers) as Record<string, string> })), ...bulk.map((m) => ({ topic: m.topic, key: m.key, value: m.value, headers: { ...m.headers } }))];
    const validators = new Map<string, { payload: z.ZodType; headers: z.ZodType }>();
    const seen = new Set<string>();
    const failures: string[] = [];
    for (const m of produced) {
      const type = m.headers['message-type']!;
      const channel = Object.values(doc.channels as Doc).find((c: Doc) => c.address === m.topic) as Doc | undefined;
      if (!channel) {
        failures.push(`${type}: topic ${m.topic} is not a channel of the document`);
        continue;
      }
      if (!channel.messages[type]) {
        failures.push(`${type}: not a message of channel ${m.topic}`);
        continue;
      }
      let v = validators.get(type);
      if (!v) {
        const message = doc.components.messages[type] as Doc;
        v = { payload: z.fromJSONSchema(message.payload), headers: z.fromJSONSchema(message.headers) };
        validators.set(type, v);
      }
      const payload = v.payload.safeParse(m.value);
      const headers = v.headers.safeParse(m.headers);
      if (!payload.success) failures.push(`${type} ${JSON.stringify(m.value)}: ${payload.error.message}`);
      if (!headers.success) failures.push(`${type} headers ${JSON.stringify(m.headers)}: ${headers.error.message}`);
      if ((m.value as { type?: string }).type !== type) failures.push(`${type}: envelope type ${(m.value as { type?: string }).type}`);
      seen.add(type);
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect([...seen].sort()).toEqual(Object.keys(MESSAGE_TYPES).sort());
    // bookings name their contact, not a customer: customerId is never an email
    const bookingPayments = produced.filter((m) => m.topic === 'settle.payments.v1' && (m.value as Doc).data.payable.type === 'booking');
    expect(bookingPayments.length).toBeGreaterThan(0);
    for (const m of bookingPayments) expect((m.value as Doc).data).toMatchObject({ customerId: null, contactEmail: expect.stringContaining('@') });
  });
});

function parse(v: unknown): unknown {
  return typeof v === 'string' ? JSON.parse(v) : v;
}
