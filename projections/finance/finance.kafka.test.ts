/**
 * Finance reporting against a real Apache Kafka broker (KAFKA_BROKERS) and a real PostgreSQL
 * (DATABASE_URL): random histories appended through the command loop write payment messages to
 * the outbox, an OutboxRelay publishes them with a KafkaBus, the `finance-reporting` group
 * consumes them. The ledger must equal a direct computation from the events in the store after
 * crashes after commit, a consumer SIGKILLed mid-batch, rebalances, and a broker stopped and
 * started again on its own data. Each test has its own schema and topic prefix.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { TOPICS } from '../../domain/ports/messageBus';
import type { Position } from '../../domain/ports/eventStore';
import type { BatchHandler, BusSubscription, DeliveredMessage, MessageBus } from '../../domain/ports/messageBus';
import { SqlEventStore } from '../../infrastructure/eventstore/sqlEventStore';
import { KafkaBus } from '../../infrastructure/messaging/kafkaBus';
import { OutboxRelay } from '../../infrastructure/messaging/outboxRelay';
import type { SqlClient } from '../../domain/ports/sql';
import { AlwaysLeader } from '../../infrastructure/sql/leaderLease';
import { databaseUrl, postgresDatabase, type TestDatabase } from '../../test/support/databases';
import { eventually } from '../../test/support/events';
import { generateHistories } from '../../test/support/histories';
import { FinanceConsumer, FINANCE_GROUP_ID } from './ledger';
import { financeReport } from './report';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts Kafka');
const ROOT = path.resolve(__dirname, '../..');

// ------------------------------------------------------------------------------------------
// The oracle: the ledger computed directly from the domain events in the store.
// ------------------------------------------------------------------------------------------

type Agg = { gross: bigint; refunds: bigint; disputed: bigint; losses: bigint; fees: bigint; net: bigint; succeeded: bigint; failed: bigint };
const zero = (): Agg => ({ gross: 0n, refunds: 0n, disputed: 0n, losses: 0n, fees: 0n, net: 0n, succeeded: 0n, failed: 0n });

interface Expected {
  /** tenant|currency|provider -> sums over every day */
  ledger: Record<string, Record<keyof Agg, string>>;
  /** tenant|provider|code -> count */
  failures: Record<string, number>;
  /** payment facts in the log (each must be consumed exactly once) */
  facts: number;
}

function render(m: Map<string, Agg>): Record<string, Record<keyof Agg, string>> {
  return Object.fromEntries(
    [...m.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, a]) => [k, Object.fromEntries(Object.entries(a).map(([f, v]) => [f, String(v)])) as Record<keyof Agg, string>]),
  );
}

async function expectedFromStore(store: SqlEventStore): Promise<Expected> {
  const ledger = new Map<string, Agg>();
  const failures: Record<string, number> = {};
  const collectedBy = new Map<string, string>(); // payable stream -> provider that collected it
  let facts = 0;
  let after: Position | null = null;
  for (;;) {
    const batch = await store.readAll({ after, maxCount: 1000 });
    if (batch.length === 0) break;
    after = batch[batch.length - 1]!.position;
    for (const e of batch) {
      const tenant = e.metadata.tenantId;
      const d = e.data as { provider?: string; amount?: { amount: number; currency: string }; applicationFee?: { amount: number } | null; declineCode?: string | null; errorCode?: string | null };
      const row = (provider: string) => {
        const k = `${tenant}|${d.amount!.currency}|${provider}`;
        let a = ledger.get(k);
        if (!a) ledger.set(k, (a = zero()));
        facts++;
        return a;
      };
      const amount = () => BigInt(d.amount!.amount);
      const succeeded = (provider: string) => {
        const a = row(provider);
        a.gross += amount();
        a.fees += BigInt(d.applicationFee?.amount ?? 0);
        a.succeeded += 1n;
      };
      const failed = (provider: string) => {
        row(provider).failed += 1n;
        const k = `${tenant}|${provider}|${d.declineCode ?? d.errorCode ?? 'unknown'}`;
        failures[k] = (failures[k] ?? 0) + 1;
      };
      const payableProvider = () => collectedBy.get(e.streamId) ?? 'stripe';
      switch (e.type) {
        case 'InvoicePaid':
          collectedBy.set(e.streamId, d.provider!);
          break;
        case 'BookingPaymentCompleted':
          collectedBy.set(e.streamId, d.provider!);
          succeeded(d.provider!);
          break;
        // money received but not kept is still received (one provider payment = one payment.succeeded)
        case 'PaymentSucceeded':
        case 'PaymentAmountMismatch':
        case 'OverpaymentRecorded':
        case 'BookingPaymentMismatch':
        case 'BookingPaymentHeld':
          succeeded(d.provider!);
          break;
        // SubscriptionRenewed / SubscriptionPastDue / SubscriptionSuspended: the invoice's attempt is the payment
        case 'PaymentAttemptFailed':
        case 'BookingPaymentFailed':
          failed(d.provider!);
          break;
        case 'RefundRecorded':
          row(payableProvider()).refunds += amount();
          break;
        case 'BookingRefunded':
          // a refund applies to the payment it names (its provider); 0 when the provider had already reported it
          if (amount() > 0n) row(d.provider ?? payableProvider()).refunds += amount();
          break;
        case 'DisputeOpened':
          row(payableProvider()).disputed += amount();
          break;
        case 'DisputeWon':
          row(payableProvider()).disputed -= amount();
          break;
        case 'DisputeLost': {
          const a = row(payableProvider());
          a.disputed -= amount();
          a.losses += amount();
          break;
        }
        default:
          break;
      }
    }
  }
  for (const a of ledger.values()) a.net = a.gross - a.refunds - a.losses - a.fees;
  return { ledger: render(ledger), failures, facts };
}

async function actualLedger(db: SqlClient): Promise<Expected> {
  const { rows } = await db.query<Record<string, string | number>>(
    `SELECT tenant_id || '|' || currency || '|' || provider AS k,
            sum(gross_collected)::text AS gross, sum(refunds)::text AS refunds, sum(disputed)::text AS disputed,
            sum(dispute_losses)::text AS losses, sum(platform_fees)::text AS fees, sum(net)::text AS net,
            sum(succeeded_count)::text AS succeeded, sum(failed_count)::text AS failed
       FROM finance_ledger GROUP BY 1`,
  );
  const ledger = new Map<string, Agg>();
  for (const r of rows) {
    ledger.set(String(r.k), {
      gross: BigInt(r.gross!),
      refunds: BigInt(r.refunds!),
      disputed: BigInt(r.disputed!),
      losses: BigInt(r.losses!),
      fees: BigInt(r.fees!),
      net: BigInt(r.net!),
      succeeded: BigInt(r.succeeded!),
      failed: BigInt(r.failed!),
    });
  }
  const f = await db.query<{ k: string; n: string }>(`SELECT tenant_id || '|' || provider || '|' || decline_code AS k, sum(count)::text AS n FROM finance_failures GROUP BY 1`);
  const c = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM finance_consumed WHERE outcome = 'applied'`);
  return { ledger: render(ledger), failures: Object.fromEntries(f.rows.map((r) => [r.k, Number(r.n)])), facts: Number(c.rows[0]!.n) };
}

/** The ledger equals the oracle, and the report's totals equal the oracle's per currency. */
async function expectExact(store: SqlEventStore, db: SqlClient, tenants: readonly string[]): Promise<Expected> {
  const expected = await expectedFromStore(store);
  expect(expected.facts).toBeGreaterThan(50);
  expect(await actualLedger(db)).toEqual(expected);
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM finance_rejected`);
  expect(rows[0]!.n).toBe('0');
  for (const tenant of [...tenants, null]) {
    const report = await financeReport(db, { tenantId: tenant, from: '2026-01-01', to: '2026-12-31' });
    const perCurrency: Record<string, { gross: bigint; net: bigint; refunds: bigint; losses: bigint; fees: bigint; disputed: bigint }> = {};
    for (const [k, a] of Object.entries(expected.ledger)) {
      const [t, currency] = k.split('|') as [string, string];
      if (tenant !== null && t !== tenant) continue;
      const p = (perCurrency[currency] ??= { gross: 0n, net: 0n, refunds: 0n, losses: 0n, fees: 0n, disputed: 0n });
      p.gross += BigInt(a.gross);
      p.net += BigInt(a.net);
      p.refunds += BigInt(a.refunds);
      p.losses += BigInt(a.losses);
      p.fees += BigInt(a.fees);
      p.disputed += BigInt(a.disputed);
    }
    expect(Object.fromEntries(report.totals.map((x) => [x.currency, { gross: BigInt(x.grossCollected), net: BigInt(x.net), refunds: BigInt(x.refunds), losses: BigInt(x.disputeLosses), fees: BigInt(x.platformFees), disputed: BigInt(x.openDisputesAtEnd) }]))).toEqual(perCurrency);
  }
  return expected;
}

// ------------------------------------------------------------------------------------------
// Harness
// ------------------------------------------------------------------------------------------

interface Harness {
  t: TestDatabase;
  store: SqlEventStore;
  prefix: string;
  bus(): KafkaBus;
  relay(): OutboxRelay;
  close(): Promise<void>;
}

async function harness(brokerList: string = brokers!): Promise<Harness> {
  const t = await postgresDatabase();
  const prefix = `t${randomBytes(4).toString('hex')}.`;
  const buses: KafkaBus[] = [];
  const relays: OutboxRelay[] = [];
  const bus = () => {
    const b = new KafkaBus({ brokers: brokerList.split(','), clientId: 'settle-finance-test', topicPrefix: prefix, partitions: 4 });
    buses.push(b);
    return b;
  };
  return {
    t,
    prefix,
    store: new SqlEventStore(t.db),
    bus,
    relay() {
      const r = new OutboxRelay(t.db, bus(), new AlwaysLeader('relay'), { idleDelayMs: 20, maxRetryDelayMs: 1000 });
      relays.push(r);
      return r;
    },
    async close() {
      for (const r of relays) await r.stop().catch(() => undefined);
      for (const b of buses) await b.close().catch(() => undefined);
      await t.drop();
    },
  };
}

/** Counts of payment messages produced (outbox), still unpublished, and consumed. */
async function progress(db: SqlClient): Promise<{ produced: number; pending: number; consumed: number }> {
  const { rows } = await db.query<{ produced: string; pending: string; consumed: string }>(
    `SELECT (SELECT count(*) FROM outbox WHERE topic = $1)::text AS produced,
            (SELECT count(*) FROM outbox WHERE topic = $1 AND published_at IS NULL)::text AS pending,
            (SELECT count(*) FROM finance_consumed)::text AS consumed`,
    [TOPICS.payments],
  );
  return { produced: Number(rows[0]!.produced), pending: Number(rows[0]!.pending), consumed: Number(rows[0]!.consumed) };
}

async function allConsumed(db: SqlClient, timeoutMs = 90_000): Promise<void> {
  await eventually(async () => {
    const p = await progress(db);
    return p.pending === 0 && p.consumed === p.produced;
  }, timeoutMs, 100);
}

/** A bus whose batch handlers run through `wrap` (test-only fault injection around the real handler). */
function wrapped(bus: MessageBus, wrap: (handler: BatchHandler) => BatchHandler): MessageBus {
  return {
    kind: bus.kind,
    publish: (m) => bus.publish(m),
    subscribe: (g, topics, handler): Promise<BusSubscription> => bus.subscribe(g, topics, handler),
    subscribeBatches: (g, topics, handler): Promise<BusSubscription> => bus.subscribeBatches(g, topics, wrap(handler)),
    healthy: () => bus.healthy(),
    close: () => bus.close(),
  };
}

/** Measurements, printed with FINANCE_TEST_VERBOSE=1. */
const note = (what: string, data: object) => {
  if (process.env.FINANCE_TEST_VERBOSE) process.stdout.write(`[finance] ${what} ${JSON.stringify(data)}\n`);
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const slow = (ms: number) => (handler: BatchHandler) => async (batch: readonly DeliveredMessage[]) => {
  await handler(batch);
  await sleep(ms * batch.length);
};

const history = (h: Harness, seed: number, tenantId: string, size = 1) =>
  generateHistories(h.store, seed, { tenantId, prefix: `s${seed}`, invoices: 10 * size, bookings: 8 * size, customers: 5 * size, stepsPerStream: 8 });

// ------------------------------------------------------------------------------------------

describe('finance reporting over Kafka (real broker, real PostgreSQL)', () => {
  jest.setTimeout(240_000);

  test('totals equal a direct computation from the event store for random histories', async () => {
    const h = await harness();
    const consumer = new FinanceConsumer(h.t.db, h.bus());
    try {
      await consumer.start();
      const relay = h.relay();
      relay.start();
      await Promise.all([history(h, 101, 'ten-a', 2), history(h, 102, 'ten-b', 2)]);
      await allConsumed(h.t.db);
      const expected = await expectExact(h.store, h.t.db, ['ten-a', 'ten-b']);
      expect(consumer.status()).toMatchObject({ applied: expected.facts, rejected: 0, failures: 0 });
      note('random histories', { facts: expected.facts, ...consumer.status() });
      // the report rows carry the messages' day
      const report = await financeReport(h.t.db, { tenantId: 'ten-a', from: '2026-01-01', to: '2026-01-31' });
      expect(report.rows.length).toBeGreaterThan(0);
      expect(report.rows.every((r) => r.tenantId === 'ten-a' && r.day.startsWith('2026-01-'))).toBe(true);
    } finally {
      await consumer.stop();
      await h.close();
    }
  });

  test('a handler that fails after its transaction committed (before the offset commit) gets its batch again and counts it once', async () => {
    const h = await harness();
    const crashedIds = new Set<string>();
    let crashes = 0;
    const crashAfterCommit = (handler: BatchHandler) => async (batch: readonly DeliveredMessage[]) => {
      await handler(batch);
      // the first batches with nothing crashed before: fail after the commit, before the offsets are
      if (crashes < 3 && !batch.some((m) => crashedIds.has(m.id))) {
        crashes++;
        for (const m of batch) crashedIds.add(m.id);
        throw new Error('simulated crash after commit');
      }
    };
    const consumer = new FinanceConsumer(h.t.db, wrapped(h.bus(), crashAfterCommit));
    try {
      await consumer.start();
      const relay = h.relay();
      relay.start();
      await history(h, 201, 'ten-a', 2);
      await allConsumed(h.t.db);
      // the crashed messages come back after the last one was consumed: let them
      await eventually(() => consumer.status().duplicates >= crashedIds.size, 60_000, 50);
      const expected = await expectExact(h.store, h.t.db, ['ten-a']);
      expect(crashes).toBeGreaterThan(0);
      expect(consumer.status()).toMatchObject({ applied: expected.facts });
      expect(consumer.status().duplicates).toBeGreaterThanOrEqual(crashedIds.size);
      note('crash after commit', { facts: expected.facts, crashes, crashedMessages: crashedIds.size, ...consumer.status() });
    } finally {
      await consumer.stop();
      await h.close();
    }
  });

  test('a consumer process SIGKILLed mid-batch and replaced never counts twice or loses a message', async () => {
    const h = await harness();
    let child: ChildProcess | null = null;
    const replacement = new FinanceConsumer(h.t.db, h.bus());
    try {
      await history(h, 301, 'ten-a', 2);
      await history(h, 302, 'ten-b', 1);
      const relay = h.relay();
      await relay.drain();
      const { produced } = await progress(h.t.db);

      child = spawnConsumerProcess(h, 15);
      const output: string[] = [];
      child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      await eventually(async () => (await progress(h.t.db)).consumed >= produced * 0.3, 90_000, 20).catch((err: unknown) => {
        throw new Error(`${String(err)}; child output:\n${output.join('')}`);
      });
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      await sleep(1000); // a COMMIT already on the wire lands before we look
      const atKill = (await progress(h.t.db)).consumed;
      expect(atKill).toBeLessThan(produced);

      // The replacement joins the same group (after the dead member's session expires).
      const killedAt = Date.now();
      await replacement.start();
      await allConsumed(h.t.db, 150_000);
      note('sigkill', { produced, consumedAtKill: atKill, takeoverMs: Date.now() - killedAt, ...replacement.status() });
      const expected = await expectExact(h.store, h.t.db, ['ten-a', 'ten-b']);
      expect(expected.facts).toBe(produced);
      // offsets are committed per batch, so the replacement saw messages the dead one had applied
      expect(replacement.status().duplicates).toBeGreaterThan(0);
      expect(replacement.status().applied).toBe(produced - atKill);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await replacement.stop();
      await h.close();
    }
  });

  test('rebalances: members join and leave the group while messages flow, totals stay exact', async () => {
    const h = await harness();
    const a = new FinanceConsumer(h.t.db, wrapped(h.bus(), slow(3)));
    const b = new FinanceConsumer(h.t.db, wrapped(h.bus(), slow(3)));
    const a2 = new FinanceConsumer(h.t.db, wrapped(h.bus(), slow(3)));
    try {
      await a.start();
      const relay = h.relay();
      relay.start();
      await history(h, 401, 'ten-a');
      await b.start(); // rebalance: a gives partitions to b
      await history(h, 402, 'ten-b');
      await eventually(() => b.status().applied > 0, 60_000, 50);
      const inFlight = history(h, 403, 'ten-a');
      await sleep(300);
      await a.stop(); // rebalance: b takes everything
      await inFlight;
      await a2.start(); // rebalance again
      await history(h, 404, 'ten-c');
      await allConsumed(h.t.db);
      const expected = await expectExact(h.store, h.t.db, ['ten-a', 'ten-b', 'ten-c']);
      const applied = [a, b, a2].map((c) => c.status().applied);
      expect(applied[0]! + applied[1]! + applied[2]!).toBe(expected.facts);
      expect(applied[0]).toBeGreaterThan(0);
      expect(applied[1]).toBeGreaterThan(0);
      note('rebalance', { facts: expected.facts, a: a.status(), b: b.status(), a2: a2.status() });
    } finally {
      await Promise.all([a.stop(), b.stop(), a2.stop()]);
      await h.close();
    }
  });

  describe('broker stopped and started again on its own data', () => {
    let state = '';
    let ownBrokers = '';

    beforeAll(() => {
      state = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-finance-kafka-'));
      ownBrokers = startBroker(state);
    }, 180_000);
    afterAll(() => {
      if (!state) return;
      stopBroker(state);
      fs.rmSync(state, { recursive: true, force: true });
    }, 60_000);

    test('the outbox buffers while the broker is down; afterwards the totals are exact', async () => {
      const h = await harness(ownBrokers);
      const consumer = new FinanceConsumer(h.t.db, h.bus());
      try {
        await consumer.start();
        const relay = h.relay();
        relay.start();
        await history(h, 501, 'ten-a');
        await eventually(async () => (await progress(h.t.db)).consumed > 0, 60_000, 50);

        stopBroker(state);
        const downAt = Date.now();
        await history(h, 502, 'ten-b'); // produced into the outbox while the broker is down
        await eventually(async () => (await relay.status()).lastError !== null, 60_000, 100);
        const down = await progress(h.t.db);
        expect(down.pending).toBeGreaterThan(0);
        await sleep(Math.max(0, 5000 - (Date.now() - downAt)));
        expect((await progress(h.t.db)).consumed).toBe(down.consumed);

        const pendingWhileDown = (await progress(h.t.db)).pending;
        const restartAt = Date.now();
        restartBroker(state);
        await waitForBroker(ownBrokers);
        const upAfterMs = Date.now() - restartAt;
        // the same cluster came back: what was acknowledged before the stop is still in the topic
        expect(await messagesInTopic(ownBrokers, `${h.prefix}${TOPICS.payments}`)).toBeGreaterThanOrEqual(down.produced - down.pending);
        await history(h, 503, 'ten-a');
        await allConsumed(h.t.db, 180_000);
        const expected = await expectExact(h.store, h.t.db, ['ten-a', 'ten-b']);
        expect(consumer.status().applied).toBe(expected.facts);
        note('broker restart', { facts: expected.facts, downMs: restartAt - downAt, pendingWhileDown, upAfterMs, drainedAfterMs: Date.now() - restartAt, ...consumer.status() });
      } finally {
        await consumer.stop();
        await h.close();
      }
    });
  });
});

// ------------------------------------------------------------------------------------------
// A consumer in its own process (for SIGKILL), and a broker of our own (stop / start again)
// ------------------------------------------------------------------------------------------

/** Runs a FinanceConsumer in a child Node process (TypeScript compiled on the fly with SWC). */
function spawnConsumerProcess(h: Harness, delayMs: number): ChildProcess {
  const script = `
    const fs = require('fs');
    const swc = require('@swc/core');
    require.extensions['.ts'] = (m, filename) => {
      const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), { filename, jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } });
      m._compile(code, filename);
    };
    const root = process.env.ROOT;
    const { PgClient } = require(root + '/infrastructure/sql/pgClient.ts');
    const { KafkaBus } = require(root + '/infrastructure/messaging/kafkaBus.ts');
    const { FinanceConsumer } = require(root + '/projections/finance/ledger.ts');
    const delay = Number(process.env.DELAY_MS);
    const db = new PgClient({ connectionString: process.env.DATABASE_URL, schema: process.env.SCHEMA, max: 4 });
    const bus = new KafkaBus({ brokers: process.env.KAFKA_BROKERS.split(','), clientId: 'settle-finance-child', topicPrefix: process.env.PREFIX, partitions: 4 });
    // widen the window between the ledger commit and the offset commit
    const slowBus = { kind: bus.kind, healthy: () => bus.healthy(), close: () => bus.close(), subscribeBatches: (g, t, handler) => bus.subscribeBatches(g, t, async (batch) => { await handler(batch); await new Promise((r) => setTimeout(r, delay * batch.length)); }) };
    new FinanceConsumer(db, slowBus).start().then(() => console.log('subscribed'), (err) => { console.error(err); process.exit(1); });
  `;
  return spawn(process.execPath, ['-e', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ROOT, DATABASE_URL: databaseUrl(), SCHEMA: h.t.schema, KAFKA_BROKERS: brokers!, PREFIX: h.prefix, DELAY_MS: String(delayMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const KAFKA_SH = path.join(ROOT, 'scripts/services/kafka.sh');

function startBroker(state: string): string {
  const out = execFileSync(KAFKA_SH, ['start', state], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 170_000 });
  const m = /KAFKA_BROKERS=(\S+)/.exec(out);
  if (!m) throw new Error(`kafka.sh start printed no KAFKA_BROKERS: ${out}`);
  return m[1]!;
}

function stopBroker(state: string): void {
  execFileSync(KAFKA_SH, ['stop', state], { stdio: 'ignore', timeout: 60_000 });
}

/**
 * kafka.sh `start` always formats a new, empty cluster; a broker restart keeps its data. So the
 * broker is started again here exactly as kafka.sh launches it (same server.properties: same
 * ports, same log.dirs, same cluster id), writing kafka.pid so `kafka.sh stop` stops it.
 */
function restartBroker(state: string): void {
  const libs = execFileSync(KAFKA_SH, ['fetch'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!;
  const java = process.env.JAVA_HOME && fs.existsSync(path.join(process.env.JAVA_HOME, 'bin/java')) ? path.join(process.env.JAVA_HOME, 'bin/java') : 'java';
  const log = fs.openSync(path.join(state, 'kafka.log'), 'a');
  const child = spawn(
    'sh',
    [
      '-c',
      'echo $$ >"$1"; shift; exec "$@"',
      'sh',
      path.join(state, 'kafka.pid'),
      java,
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:+ExitOnOutOfMemoryError',
      `-Dlog4j2.configurationFile=${path.join(state, 'log4j2.properties')}`,
      '-Djava.awt.headless=true',
      '-cp',
      `${libs}/*`,
      'kafka.Kafka',
      path.join(state, 'server.properties'),
    ],
    { detached: true, stdio: ['ignore', log, log] },
  );
  child.unref();
  fs.closeSync(log);
}

async function waitForBroker(list: string): Promise<void> {
  const kafka = new Kafka({ clientId: 'settle-finance-probe', brokers: list.split(','), logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } });
  await eventually(
    async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.listTopics();
        await admin.describeGroups([FINANCE_GROUP_ID]);
        return true;
      } catch {
        return false;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    90_000,
    250,
  );
}

/** Sum of the partitions' high watermarks of a topic. */
async function messagesInTopic(list: string, topic: string): Promise<number> {
  const admin = new Kafka({ clientId: 'settle-finance-probe', brokers: list.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, o) => n + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}
