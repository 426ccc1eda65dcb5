/**
 * Security issue #17, item 7: Kafka with TLS and SASL. The test's OWN broker
 * (scripts/services/kafka.sh start with KAFKA_SECURE=1, in a temp dir; the shared broker is never
 * touched) opens SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), SASL_SSL and mTLS listeners
 * with a throwaway CA. Proves:
 *  - KafkaBus built from Settle's own configuration (loadConfig of KAFKA_SSL* / KAFKA_SASL_*)
 *    publishes and consumes through each authenticated or encrypted listener;
 *  - wrong credentials, an untrusted broker certificate and a missing client certificate fail with
 *    an error naming the variables to check;
 *  - the service on SASL_SSL: a payment webhook reaches the finance ledger through the broker (the
 *    outbox relay publishes, the finance consumer group consumes), a forged message whose tenant
 *    does not match its key is dead-lettered; with a wrong password /readyz says degraded, the log
 *    says why, and the password is in no log line.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Client } from 'pg';
import { loadConfig } from '../../infrastructure/config/config';
import { KafkaBus, KafkaSecurityError } from '../../infrastructure/messaging/kafkaBus';
import type { DeliveredMessage } from '../../domain/ports/messageBus';
import { ADMIN_KEY } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { scrape, startTestService, type TestService } from '../support/service';
import { KAFKA_SH, SECRET, createInvoices, deliverWebhook, paymentEvent, rows, schemaClient, tenant, until } from './faults.support';

jest.setTimeout(240_000);

type Secure = Record<
  'KAFKA_BROKERS' | 'KAFKA_SASL_PLAINTEXT_BROKERS' | 'KAFKA_SASL_SSL_BROKERS' | 'KAFKA_SSL_BROKERS' | 'KAFKA_SASL_USERNAME' | 'KAFKA_SASL_PASSWORD' | 'KAFKA_SSL_CA' | 'KAFKA_SSL_CERT' | 'KAFKA_SSL_KEY',
  string
>;

describe('Kafka over TLS and SASL (own broker)', () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-kafka-secure-'));
  let k: Secure;
  const buses: KafkaBus[] = [];

  beforeAll(() => {
    const out = execFileSync(KAFKA_SH, ['start', state], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000, env: { ...process.env, KAFKA_SECURE: '1' } });
    k = Object.fromEntries(out.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2))) as Secure;
    expect(k.KAFKA_SASL_SSL_BROKERS).toMatch(/^127\.0\.0\.1:\d+$/);
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await new Promise((resolve) => execFile(KAFKA_SH, ['stop', state], { timeout: 60_000 }, resolve));
    fs.rmSync(state, { recursive: true, force: true });
  });

  /** A KafkaBus exactly as the runtime builds it, from environment variables. */
  function busFrom(env: Record<string, string>): KafkaBus {
    const c = loadConfig(env);
    const bus = new KafkaBus({ brokers: c.KAFKA_BROKERS!.split(','), clientId: 'settle-secure-test', topicPrefix: `s${randomBytes(3).toString('hex')}.`, publishTimeoutMs: 15_000, ...c.kafkaSecurity });
    buses.push(bus);
    return bus;
  }

  async function roundTrip(bus: KafkaBus): Promise<DeliveredMessage> {
    const got: DeliveredMessage[] = [];
    const sub = await bus.subscribe(`g${randomBytes(3).toString('hex')}`, ['settle.secure.v1'], async (m) => void got.push(m));
    try {
      const id = randomBytes(8).toString('hex');
      await bus.publish([{ id, topic: 'settle.secure.v1', key: 'k-1', value: { hello: 'secure', id }, headers: {} }]);
      await until(() => got.some((m) => m.id === id), 30_000, 'the message consumed back');
      return got.find((m) => m.id === id)!;
    } finally {
      await sub.stop();
    }
  }

  const sasl = (mechanism: string, password = k.KAFKA_SASL_PASSWORD) => ({ KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: k.KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD: password });

  test.each([
    ['SASL_PLAINTEXT, SCRAM-SHA-256', () => ({ KAFKA_BROKERS: k.KAFKA_SASL_PLAINTEXT_BROKERS, ...sasl('scram-sha-256') })],
    ['SASL_PLAINTEXT, SCRAM-SHA-512', () => ({ KAFKA_BROKERS: k.KAFKA_SASL_PLAINTEXT_BROKERS, ...sasl('scram-sha-512') })],
    ['SASL_SSL, PLAIN, private CA', () => ({ KAFKA_BROKERS: k.KAFKA_SASL_SSL_BROKERS, KAFKA_SSL: 'on', KAFKA_SSL_CA: k.KAFKA_SSL_CA, ...sasl('plain') })],
    ['SSL with a client certificate (mTLS)', () => ({ KAFKA_BROKERS: k.KAFKA_SSL_BROKERS, KAFKA_SSL: 'on', KAFKA_SSL_CA: k.KAFKA_SSL_CA, KAFKA_SSL_CERT: k.KAFKA_SSL_CERT, KAFKA_SSL_KEY: k.KAFKA_SSL_KEY })],
  ])('publishes and consumes through %s', async (_name, env) => {
    const m = await roundTrip(busFrom(env()));
    expect(m.value).toMatchObject({ hello: 'secure' });
    expect(m.key).toBe('k-1');
  });

  test.each([
    ['a wrong SCRAM password', () => ({ KAFKA_BROKERS: k.KAFKA_SASL_PLAINTEXT_BROKERS, ...sasl('scram-sha-256', 'wrong-password') }), /Kafka refused the SASL credentials \(check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD\).*invalid credentials/],
    ['a wrong PLAIN password over TLS', () => ({ KAFKA_BROKERS: k.KAFKA_SASL_SSL_BROKERS, KAFKA_SSL: 'on', KAFKA_SSL_CA: k.KAFKA_SSL_CA, ...sasl('plain', 'wrong-password') }), /Kafka refused the SASL credentials/],
    ['a broker certificate from an untrusted CA (no KAFKA_SSL_CA)', () => ({ KAFKA_BROKERS: k.KAFKA_SASL_SSL_BROKERS, KAFKA_SSL: 'on', ...sasl('scram-sha-512') }), /TLS to the Kafka brokers failed \(check KAFKA_SSL, KAFKA_SSL_CA.*self-signed certificate/],
    ['mTLS without a client certificate', () => ({ KAFKA_BROKERS: k.KAFKA_SSL_BROKERS, KAFKA_SSL: 'on', KAFKA_SSL_CA: k.KAFKA_SSL_CA }), /TLS to the Kafka brokers failed.*KAFKA_SSL_CERT/],
  ])('%s fails with a clear error', async (_name, env, message) => {
    const bus = busFrom(env());
    const err = await bus.publish([{ id: 'x', topic: 'settle.secure.v1', key: 'k', value: {}, headers: {} }]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KafkaSecurityError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain(k.KAFKA_SASL_PASSWORD);
    expect(await bus.healthy()).toBe(false);
  });

  describe('the service on SASL_SSL (SCRAM-SHA-512)', () => {
    const schema = `sk_${randomBytes(5).toString('hex')}`;
    let svc: TestService | undefined;
    let db: Client | undefined;
    afterAll(async () => {
      await svc?.shutdown('test end').catch(() => undefined);
      await db?.end().catch(() => undefined);
      await dropSchema(schema).catch(() => undefined);
    });

    const env = (password = k.KAFKA_SASL_PASSWORD, prefix = `svc${randomBytes(3).toString('hex')}.`) => ({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      KAFKA_BROKERS: k.KAFKA_SASL_SSL_BROKERS,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_SSL: 'on',
      KAFKA_SSL_CA: k.KAFKA_SSL_CA,
      ...sasl('scram-sha-512', password),
      ADMIN_API_KEY: ADMIN_KEY,
      STRIPE_WEBHOOK_SECRET: SECRET,
      LOG_LEVEL: 'trace',
    });

    test('a payment reaches the finance ledger through the broker; a forged tenant is dead-lettered', async () => {
      const prefix = `svc${randomBytes(3).toString('hex')}.`;
      svc = await startTestService(env(k.KAFKA_SASL_PASSWORD, prefix));
      db = await schemaClient(databaseUrl(), schema);
      const api = await tenant(svc.url, 'kfa');
      const [inv] = await createInvoices(api, 1, 1);
      expect((await deliverWebhook(svc.url, paymentEvent('kfa', inv!, 'succeeded'), 'pay')).status).toBe(200);
      const day = new Date().toISOString().slice(0, 10);
      type Row = { grossCollected: number; currency: string };
      const gross = async () => (await api.get<{ rows: Row[] }>(`/v1/reports/finance?from=${day}&to=${day}`)).body.rows.filter((r) => r.currency === 'USD').reduce((s, r) => s + r.grossCollected, 0);
      await until(async () => (await gross()) === inv!.amount, 60_000, 'the payment in the finance ledger (outbox → SASL_SSL broker → finance-reporting)');
      const published = await rows<{ n: string }>(db, `SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL AND topic = 'settle.payments.v1'`);
      expect(Number(published[0]!.n)).toBeGreaterThan(0);
      expect((await (await fetch(`${svc.url}/readyz`)).json()) as { status: string }).toMatchObject({ status: 'ready' });

      // an authenticated producer with a bug (or a forger) writes a payment of kfa's invoice for another tenant
      const kafka = new Kafka({ clientId: 'forger', brokers: [k.KAFKA_SASL_SSL_BROKERS], ssl: { ca: [fs.readFileSync(k.KAFKA_SSL_CA, 'utf8')] }, sasl: { mechanism: 'scram-sha-512', username: k.KAFKA_SASL_USERNAME, password: k.KAFKA_SASL_PASSWORD }, logLevel: logLevel.NOTHING });
      const producer = kafka.producer();
      await producer.connect();
      const forgedId = '7b0c8a3e-5d1f-4c2a-9e6b-1f2d3c4b5a69';
      const forged = {
        id: forgedId, type: 'payment.succeeded', version: 1, occurredAt: new Date().toISOString(), tenantId: 'kfb', aggregate: { type: 'invoice', id: inv!.id }, correlationId: 'c', causationId: 'c',
        data: { payable: { type: 'invoice', id: inv!.id }, customerId: null, provider: 'stripe', providerPaymentId: 'pi_forged', amount: { amount: 777_777, currency: 'USD' }, applicationFee: null, errorCode: null, declineCode: null, day },
      };
      await producer.send({ topic: `${prefix}settle.payments.v1`, messages: [{ key: `invoice-kfa.${inv!.id}`, value: JSON.stringify(forged), headers: { 'message-id': forgedId } }] });
      await producer.disconnect();
      await until(async () => (await rows(db!, `SELECT 1 FROM finance_rejected WHERE message_id = $1`, [forgedId])).length === 1, 30_000, 'the forged message dead-lettered');
      const [rejected] = await rows<{ error: string }>(db, `SELECT error FROM finance_rejected WHERE message_id = $1`, [forgedId]);
      expect(rejected!.error).toMatch(/do not match its key/);
      expect(await gross()).toBe(inv!.amount); // kfa's ledger unchanged
      const kfb = await rows(db, `SELECT 1 FROM finance_ledger WHERE tenant_id = 'kfb'`);
      expect(kfb).toEqual([]);
      expect(svc.logs).toContainEqual(expect.objectContaining({ msg: 'finance: message rejected (see finance_rejected)', messageId: forgedId }));
      const metrics = await scrape(svc);
      expect(metrics).toMatch(/settle_finance_messages_total\{outcome="rejected"\} 1/);
      await svc.shutdown('test end');
      svc = undefined;
    });

    test('a wrong password: /readyz degraded, the log names the variables, the password is in no log line', async () => {
      const wrong = `wrong-${randomBytes(6).toString('hex')}`;
      svc = await startTestService(env(wrong));
      await until(async () => ((await (await fetch(`${svc!.url}/readyz`)).json()) as { status: string }).status === 'degraded', 30_000, '/readyz degraded');
      await until(() => svc!.logs.some((l) => /Kafka refused the SASL credentials \(check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD\)/.test(JSON.stringify(l))), 30_000, 'a log line that says why');
      const all = svc.logs.map((l) => JSON.stringify(l)).join('\n');
      expect(all).not.toContain(wrong);
      expect(all).not.toContain(k.KAFKA_SASL_PASSWORD);
      expect(svc.logs).toContainEqual(expect.objectContaining({ msg: 'kafka: connection security', sasl: { mechanism: 'scram-sha-512', username: k.KAFKA_SASL_USERNAME } }));
    });
  });
});
