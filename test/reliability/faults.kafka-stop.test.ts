/**
 * Fault: the test's OWN Kafka broker (scripts/services/kafka.sh start/stop/restart in a temp dir,
 * restart keeps data, cluster id and port) is stopped during a load of signed Stripe webhooks and
 * API commands against the built service (child process) on the real PostgreSQL (DATABASE_URL).
 * Proves: every request still answers 2xx, /readyz says 200 "degraded" meanwhile, the outbox
 * backlog grows; after the restart the outbox drains, in outbox-id order per key on the topic, and
 * GET /v1/reports/finance equals a direct computation from the event store.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Client } from 'pg';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { spawnService, type ServiceProcess } from '../support/process';
import {
  KAFKA_SH, LONG, SECRET, createInvoices, invoiceBody, note, ok, rows, schemaClient, send, sh, shAsync, sleep, tally, tenant, until, webhookLoad, type Outcome,
} from './faults.support';

jest.setTimeout(LONG ? 600_000 : 360_000);

describe('Kafka broker stopped under load (own broker, child process)', () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-faults-kafka-'));
  const schema = `fq_${randomBytes(5).toString('hex')}`;
  let brokers = '';
  let svc: ServiceProcess | undefined;
  let db: Client | undefined;
  let stop = false;

  beforeAll(() => {
    brokers = /KAFKA_BROKERS=(\S+)/.exec(sh(KAFKA_SH, ['start', state]))![1]!;
  });
  afterAll(async () => {
    stop = true;
    await svc?.kill('SIGKILL');
    await db?.end().catch(() => undefined);
    await dropSchema(schema).catch(() => undefined);
    try {
      await shAsync(KAFKA_SH, ['stop', state]);
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  });

  test('2xx throughout, degraded while down, backlog drains in order per key, finance exact', async () => {
    svc = await spawnService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, KAFKA_BROKERS: brokers, ADMIN_API_KEY: ADMIN_KEY, STRIPE_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'error' });
    db = await schemaClient(databaseUrl(), schema);
    const api = await tenant(svc.url, 'kfin');
    const bearer = (await client(svc.url, ADMIN_KEY).post<{ apiKey: string }>('/v1/tenants/kfin/api-keys', {})).body.apiKey;
    const invoices = await createInvoices(api, LONG ? 3000 : 400);
    const unpublished = async () => Number((await rows<{ n: string }>(db!, `SELECT count(*) AS n FROM outbox WHERE published_at IS NULL`))[0]!.n);
    await until(async () => (await unpublished()) === 0, 30_000, 'outbox empty before the fault');

    const commands: Outcome[] = [];
    let n = 0;
    const commandSender = async () => {
      while (!stop) {
        const i = n++;
        // a connection error is an outcome (status 0) to report with the others, not a crash of the sender
        commands.push(await send(`${svc!.url}/v1/invoices`, 'POST', { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, JSON.stringify(invoiceBody(20_000 + i)), 'invoice', String(i)));
        await sleep(20);
      }
    };
    const senders = Array.from({ length: 2 }, commandSender);
    const hooks = webhookLoad({ base: () => svc!.url, tenantId: 'kfin', invoices, senders: 4, stop: () => stop, paceMs: 15 });

    await sleep(1500);
    const downAt = Date.now();
    await shAsync(KAFKA_SH, ['stop', state]);
    const stopMs = Date.now() - downAt;
    const downFor = LONG ? 30_000 : 8_000;
    const readyz: Array<{ status: number; state: string }> = [];
    const backlog: number[] = [];
    while (Date.now() - downAt < downFor) {
      const r = await fetch(`${svc.url}/readyz`);
      readyz.push({ status: r.status, state: ((await r.json()) as { status: string }).status });
      backlog.push(await unpublished());
      await sleep(500);
    }
    const restartAt = Date.now();
    await shAsync(KAFKA_SH, ['restart', state]);
    const upAt = Date.now();
    const drainMs = await until(async () => (await unpublished()) === 0, 120_000, 'outbox drained after the broker restart').catch(async (err: unknown) => {
      const readyz = await fetch(`${svc!.url}/readyz`).then((r) => r.json(), (e: unknown) => String(e));
      note('outbox not drained', { unpublished: await unpublished(), readyz, serviceOutput: svc!.output.join('').slice(-4000) });
      throw err;
    });
    await sleep(1000);
    stop = true;
    const webhooks = await Promise.all([hooks, ...senders]).then(([h]) => h);
    const all: Outcome[] = [...commands, ...webhooks];
    await until(async () => (await unpublished()) === 0, 60_000, 'outbox drained at the end');

    const failed = all.filter((o) => !ok(o));
    if (failed.length > 0) note('failed requests', { failed: failed.slice(0, 20), serviceExit: svc.child.exitCode, serviceOutput: svc.output.join('').slice(-4000) });
    expect(failed).toEqual([]); // nothing failed because of the broker
    expect(readyz.every((r) => r.status === 200)).toBe(true);
    expect(readyz.some((r) => r.state === 'degraded')).toBe(true);
    expect(backlog[backlog.length - 1]!).toBeGreaterThan(backlog[0]!); // the backlog grew while down
    const readyAgainMs = await until(async () => ((await (await fetch(`${svc!.url}/readyz`)).json()) as { status: string }).status === 'ready', 30_000, '/readyz ready again');

    // the topic: every outbox message of settle.payments.v1, per key in outbox-id order
    const outbox = await rows<{ id: string; message_id: string; message_key: string }>(db, `SELECT id, message_id::text, message_key FROM outbox WHERE topic = 'settle.payments.v1' ORDER BY id`);
    const kafka = new Kafka({ clientId: 'faults-check', brokers: [brokers], logLevel: logLevel.NOTHING });
    // first without a consumer group (a group's first join right after a broker restart can take
    // long on a loaded machine): the topic's high watermarks hold at least every outbox message
    const admin = kafka.admin();
    await admin.connect();
    try {
      const onTopic = async () => (await admin.fetchTopicOffsets('settle.payments.v1')).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      await until(async () => (await onTopic()) >= outbox.length, 60_000, 'the topic holds every outbox message').catch(async (err: unknown) => {
        note('topic short of the outbox', { outbox: outbox.length, onTopic: await onTopic().catch((e: unknown) => String(e)) });
        throw err;
      });
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId: `faults-check-${randomBytes(4).toString('hex')}` });
    const seen = new Map<string, string[]>();
    const ids = new Set<string>();
    let received = 0;
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: 'settle.payments.v1', fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          received++;
          const id = (JSON.parse(message.value!.toString()) as { id: string }).id;
          if (ids.has(id)) return; // at-least-once: a redelivered copy
          ids.add(id);
          const k = message.key!.toString();
          seen.set(k, [...(seen.get(k) ?? []), id]);
        },
      });
      await until(() => ids.size >= outbox.length, 120_000, 'every outbox message read back in order').catch(async (err: unknown) => {
        // which messages never reached the topic, and when the relay marked them published
        const missing = outbox.filter((m) => !ids.has(m.message_id));
        const marks = await rows<{ id: string; message_key: string; created_at: string; published_at: string | null }>(
          db!,
          `SELECT id, message_key, created_at::text, published_at::text FROM outbox WHERE message_id::text = ANY($1) ORDER BY id LIMIT 20`,
          [missing.map((m) => m.message_id)],
        ).catch((e: unknown) => String(e));
        note('messages missing from the topic', { outbox: outbox.length, distinct: ids.size, received, missing: missing.length, downAt, restartAt, upAt, marks, serviceOutput: svc!.output.join('').slice(-4000) });
        throw err;
      });
    } finally {
      await consumer.disconnect();
    }
    expect(ids.size).toBe(outbox.length);
    const expectedOrder = new Map<string, string[]>();
    for (const m of outbox) expectedOrder.set(m.message_key, [...(expectedOrder.get(m.message_key) ?? []), m.message_id]);
    const outOfOrder = [...expectedOrder].filter(([k, v]) => JSON.stringify(seen.get(k)) !== JSON.stringify(v)).map(([k]) => k);
    expect(outOfOrder).toEqual([]);

    // finance: the ledger equals a direct computation from the events
    const direct = (await rows<{ gross: string; succeeded: string; failed: string }>(
      db,
      `SELECT coalesce(sum((data->'amount'->>'amount')::bigint) FILTER (WHERE event_type = 'PaymentSucceeded'), 0) AS gross,
              count(*) FILTER (WHERE event_type = 'PaymentSucceeded') AS succeeded, count(*) FILTER (WHERE event_type = 'PaymentAttemptFailed') AS failed
         FROM events WHERE stream_id LIKE 'invoice-kfin.%'`,
    ))[0]!;
    const day = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);
    type Row = { currency: string; grossCollected: number; succeededCount: number; failedCount: number };
    const report = async () => (await api.get<{ rows: Row[] }>(`/v1/reports/finance?from=${day(-1)}&to=${day(1)}`)).body.rows.filter((r) => r.currency === 'USD');
    const sum = (rs: Row[]) => ({ gross: rs.reduce((s, r) => s + r.grossCollected, 0), succeeded: rs.reduce((s, r) => s + r.succeededCount, 0), failed: rs.reduce((s, r) => s + r.failedCount, 0) });
    const want = { gross: Number(direct.gross), succeeded: Number(direct.succeeded), failed: Number(direct.failed) };
    await until(async () => JSON.stringify(sum(await report())) === JSON.stringify(want), 60_000, 'finance report caught up').catch(() => undefined);
    expect(sum(await report())).toEqual(want);
    expect(want.succeeded).toBeGreaterThan(0);
    note('kafka stop', {
      requests: all.length, outcomes: tally(all), webhooks: tally(webhooks), commands: tally(commands), stopMs, downMs: upAt - downAt, brokerRestartMs: upAt - restartAt,
      readyzWhileDown: tally(readyz.map((r) => ({ what: '', key: '', status: r.status, problem: r.state, at: 0 }))), backlogFirst: backlog[0], backlogMax: Math.max(...backlog),
      drainAfterRestartMs: drainMs, readyAgainMs, topicMessages: received, distinctMessages: ids.size, keys: expectedOrder.size, finance: want,
    });
  });
});
