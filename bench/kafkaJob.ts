/**
 * Benchmark (5), run as its own process: N real `settle.payments.v1` outbox messages (copies of
 * the messages benchmark (2) produced, each with a fresh id) are published by the OutboxRelay
 * through the KafkaBus to the real broker, then consumed by the FinanceConsumer (`finance-reporting`
 * group) into the ledger. Baseline in the same run: plain kafkajs (same idempotent producer
 * settings, same batch size) producing the same values, and a plain consumer group reading them.
 */
import { Kafka, logLevel, type Message } from 'kafkajs';
import { TOPICS } from '../domain/ports/messageBus';
import { KafkaBus } from '../infrastructure/messaging/kafkaBus';
import { OutboxRelay } from '../infrastructure/messaging/outboxRelay';
import { AlwaysLeader } from '../infrastructure/sql/leaderLease';
import { migrate } from '../infrastructure/sql/migrate';
import { PgClient } from '../infrastructure/sql/pgClient';
import { FinanceConsumer } from '../projections/finance/ledger';
import { childMain, sleep } from './lib';

export interface KafkaJobInput {
  databaseUrl: string;
  brokers: string;
  /** schema whose outbox holds the template payment messages (from benchmark (2)) */
  templateSchema: string;
  schema: string;
  messages: number;
  runId: string;
}

export interface KafkaJobResult {
  messages: number;
  relayPerSecond: number;
  consumerPerSecond: number;
  /** consumer rate including the group join */
  consumerWithJoinPerSecond: number;
  rawProducePerSecond: number;
  rawConsumePerSecond: number;
  consumed: number;
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export async function kafkaJob(input: KafkaJobInput): Promise<KafkaJobResult> {
  const db = new PgClient({ connectionString: input.databaseUrl, schema: input.schema, max: 8, applicationName: 'bench-kafka' });
  const prefix = `${input.runId}.`;
  const bus = new KafkaBus({ brokers: input.brokers.split(','), clientId: 'settle-bench', topicPrefix: prefix, partitions: 4 });
  const brokers = input.brokers.split(',');
  const kafka = new Kafka({ clientId: 'settle-bench-raw', brokers, logLevel: logLevel.NOTHING });
  try {
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${input.schema}`);
    await migrate(db, input.schema);
    // N copies of real payment messages, each with its own message id (the consumer deduplicates by it)
    await db.query(
      `INSERT INTO outbox (message_id, topic, message_key, value, headers)
       SELECT x.id, t.topic, t.message_key, jsonb_set(t.value, '{id}', to_jsonb(x.id::text)), t.headers
         FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(0, $1::int - 1) g) x
         JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS k, topic, message_key, value, headers
                 FROM ${input.templateSchema}.outbox WHERE topic = $2 ORDER BY id LIMIT 2000) t
           ON t.k = x.g % (SELECT least(2000, count(*)) FROM ${input.templateSchema}.outbox WHERE topic = $2)
        ORDER BY x.g`,
      [input.messages, TOPICS.payments],
    );
    const n = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox`)).rows[0]!.n);
    if (n !== input.messages) throw new Error(`outbox holds ${n} messages, expected ${input.messages} (are there payment messages in ${input.templateSchema}?)`);
    await bus.ensureTopics([TOPICS.payments]);
    // connected before the clock starts, as the baseline's producer is
    await bus.connect();

    // ---- relay: outbox -> broker; done when its last batch is marked published
    let relayed = 0;
    let relayDoneAt = 0;
    const relay = new OutboxRelay(db, bus, new AlwaysLeader('bench-relay'), {
      idleDelayMs: 20,
      onPublished: (k) => {
        relayed += k;
        if (relayed >= input.messages && !relayDoneAt) relayDoneAt = performance.now();
      },
    });
    const t0 = performance.now();
    relay.start();
    await until(async () => relayDoneAt > 0, 600_000, 'the relay to drain the outbox');
    const relaySeconds = (relayDoneAt - t0) / 1000;
    await relay.stop();
    if ((await relay.status()).backlog !== 0) throw new Error('the relay reported every message published, but the outbox is not empty');

    // ---- finance consumer: broker -> ledger (exactly once per message id)
    const consumer = new FinanceConsumer(db, bus, { groupId: `${input.runId}-finance` });
    const consumed = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM finance_consumed')).rows[0]!.n);
    const c0 = performance.now();
    await consumer.start();
    await until(async () => (await consumed()) > 0, 120_000, 'the first consumed message');
    const c1 = performance.now();
    const first = await consumed();
    await until(async () => (await consumed()) >= input.messages, 600_000, 'the finance consumer');
    const c2 = performance.now();
    await consumer.stop();
    const total = await consumed();

    // ---- baseline: plain kafkajs, same producer settings (idempotent, acks=all, one request in flight)
    const { rows } = await db.query<{ message_key: string; value: unknown; message_id: string }>('SELECT message_key, value, message_id::text AS message_id FROM outbox ORDER BY id');
    const rawTopic = `${prefix}raw-baseline`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: rawTopic, numPartitions: 4, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const p0 = performance.now();
    for (let i = 0; i < rows.length; i += 500) {
      const messages: Message[] = rows.slice(i, i + 500).map((r) => ({ key: r.message_key, value: JSON.stringify(r.value), headers: { 'message-id': r.message_id } }));
      await producer.send({ topic: rawTopic, acks: -1, messages });
    }
    const rawProduceSeconds = (performance.now() - p0) / 1000;
    await producer.disconnect();
    const rawConsumer = kafka.consumer({ groupId: `${input.runId}-raw` });
    await rawConsumer.connect();
    await rawConsumer.subscribe({ topic: rawTopic, fromBeginning: true });
    let seen = 0;
    let firstAt = 0;
    let firstCount = 0;
    await rawConsumer.run({
      eachBatch: async (payload) => {
        const { batch } = payload;
        if (!firstAt) {
          firstAt = performance.now();
          firstCount = batch.messages.length;
        }
        for (const m of batch.messages) {
          JSON.parse(String(m.value));
          payload.resolveOffset(m.offset);
          seen++;
        }
        await payload.heartbeat();
      },
    });
    await until(async () => seen >= rows.length, 600_000, 'the raw consumer');
    const rawConsumeSeconds = (performance.now() - firstAt) / 1000;
    await rawConsumer.disconnect();

    return {
      messages: input.messages,
      relayPerSecond: input.messages / relaySeconds,
      // from the first consumed message on (the group join is a one-off cost, reported separately)
      consumerPerSecond: (input.messages - first) / ((c2 - c1) / 1000),
      consumerWithJoinPerSecond: input.messages / ((c2 - c0) / 1000),
      rawProducePerSecond: rows.length / rawProduceSeconds,
      rawConsumePerSecond: (rows.length - firstCount) / rawConsumeSeconds,
      consumed: total,
    };
  } finally {
    await bus.close();
    await db.close();
  }
}

// the input is the KafkaJobInput bench/run.ts sends through runChild
if (require.main === module) childMain((input) => kafkaJob(input as KafkaJobInput));
