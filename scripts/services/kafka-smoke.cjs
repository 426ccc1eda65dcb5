#!/usr/bin/env node
// Smoke test: can kafkajs (the client Settle uses) do everything Settle needs against the broker
// in KAFKA_BROKERS? Admin topic creation, an idempotent producer (acks=all, one in flight), a
// consumer group reading from the beginning, offset commits (automatic and explicit) read back
// through the admin API, and a second group member joining (rebalance).
//   KAFKA_BROKERS=127.0.0.1:9092 node scripts/services/kafka-smoke.cjs     -> exit 0 on success
// KAFKA_SMOKE_VERBOSE=1 (or =debug, which shows each request's API version) raises kafkajs' log
// level above the default warnings and errors.
'use strict';
// Settle's producer keeps kafkajs' default partitioner; the one-time notice about it is noise here.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const path = require('path');
const { Kafka, logLevel } = require(require.resolve('kafkajs', { paths: [path.resolve(__dirname, '../..'), process.cwd()] }));

const brokers = (process.env.KAFKA_BROKERS || '').split(',').filter(Boolean);
if (brokers.length === 0) {
  console.error('kafka-smoke: set KAFKA_BROKERS (e.g. 127.0.0.1:9092)');
  process.exit(2);
}

const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const topic = `smoke-${run}`;
const groupId = `smoke-group-${run}`;
const partitions = 3;
const count = 30;
const started = Date.now();
const step = (msg) => console.error(`kafka-smoke: +${((Date.now() - started) / 1000).toFixed(1)}s ${msg}`);
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms).unref())]);

const kafka = new Kafka({
  clientId: 'settle-kafka-smoke',
  brokers,
  connectionTimeout: 3000,
  requestTimeout: 30000,
  retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
  logLevel: { debug: logLevel.DEBUG, '1': logLevel.INFO }[process.env.KAFKA_SMOKE_VERBOSE] ?? logLevel.WARN,
});

async function main() {
  const t0 = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  const cluster = await admin.describeCluster();
  step(`connected: ${cluster.brokers.map((b) => `${b.host}:${b.port}`).join(',')} controller=${cluster.controller} cluster=${cluster.clusterId}`);

  const created = await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
  if (!created) throw new Error(`createTopics returned false for ${topic}`);
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  if (meta.topics[0].partitions.length !== partitions) throw new Error(`expected ${partitions} partitions, got ${meta.topics[0].partitions.length}`);
  step(`created topic ${topic} (${partitions} partitions)`);

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const sent = [];
  for (let i = 0; i < count; i += 10) {
    const messages = Array.from({ length: 10 }, (_, j) => ({ key: `k${(i + j) % 7}`, value: JSON.stringify({ n: i + j }), headers: { 'message-id': `m${i + j}` } }));
    const res = await producer.send({ topic, acks: -1, messages });
    sent.push(...res);
  }
  await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: [{ key: 'k0', value: JSON.stringify({ n: count }) }] }] });
  const total = count + 1;
  step(`idempotent producer sent ${total} messages`);

  const end = await admin.fetchTopicOffsets(topic);
  const high = end.reduce((s, p) => s + Number(p.high), 0);
  if (high !== total) throw new Error(`expected ${total} records in the log, high watermarks sum to ${high}`);

  // Consumer group: autoCommit off, commit explicitly after each message (like "commit after the handler").
  // maxWaitTimeInMs: a member sees a rebalance (and can leave) only between fetches, and kafkajs'
  // 5 s default long poll would make each of those take ~5 s here.
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const seen = new Set();
  let done;
  const allSeen = new Promise((r) => (done = r));
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic: t, partition, message }) => {
      seen.add(JSON.parse(message.value.toString()).n);
      await consumer.commitOffsets([{ topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      if (seen.size === total) done();
    },
  });
  await withTimeout(allSeen, 60000, `consume ${total} messages (got ${seen.size})`);
  step(`consumer group ${groupId} consumed ${seen.size} messages, committing each`);

  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  const sum = committed[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
  if (sum !== total) throw new Error(`committed offsets sum to ${sum}, expected ${total}: ${JSON.stringify(committed)}`);
  const groups = await admin.describeGroups([groupId]);
  const g = groups.groups[0];
  if (g.state !== 'Stable' || g.protocolType !== 'consumer') throw new Error(`unexpected group state ${JSON.stringify(g)}`);
  step(`committed offsets read back (sum ${sum}); group ${g.state}, protocol ${g.protocol}, ${g.members.length} member(s)`);

  // A second member joins (rebalance), autoCommit on; then more messages, then both leave.
  const second = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 500 });
  let secondJoined;
  const joined = new Promise((r) => (secondJoined = r));
  second.on(second.events.GROUP_JOIN, () => secondJoined());
  await second.connect();
  await second.subscribe({ topics: [topic], fromBeginning: true });
  const more = new Set();
  let moreDone;
  const allMore = new Promise((r) => (moreDone = r));
  const onMore = (message) => {
    more.add(JSON.parse(message.value.toString()).n);
    if (more.size === 9) moreDone();
  };
  await second.run({ autoCommit: true, autoCommitInterval: 100, eachMessage: async ({ message }) => onMore(message) });
  await withTimeout(joined, 30000, 'second member joining the group');
  // The first member keeps its commit-each-message handler, so new messages land in either set.
  const firstBefore = seen.size;
  await producer.send({ topic, acks: -1, messages: Array.from({ length: 9 }, (_, i) => ({ key: `r${i}`, value: JSON.stringify({ n: 1000 + i }) })) });
  // Messages land on either member; wait until all 9 new ones were seen by one of them.
  await withTimeout(
    (async () => {
      for (;;) {
        const got = new Set([...more, ...[...seen].filter((n) => n >= 1000)]);
        if (got.size === 9) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    60000,
    'consume after rebalance',
  );
  const desc2 = (await admin.describeGroups([groupId])).groups[0];
  step(`rebalanced to ${desc2.members.length} members; the 9 new messages were consumed (${more.size} by the new member, ${seen.size - firstBefore} by the first)`);

  await second.disconnect();
  step('second member left');
  await consumer.disconnect();
  step('first member left');
  await producer.disconnect();
  const after = await admin.fetchOffsets({ groupId, topics: [topic] });
  const sumAfter = after[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
  if (sumAfter !== total + 9) throw new Error(`after both members left, committed offsets sum to ${sumAfter}, expected ${total + 9}`);
  await admin.deleteTopics({ topics: [topic] });
  await admin.deleteGroups([groupId]).catch(() => {});
  await admin.disconnect();
  step(`OK in ${Date.now() - t0} ms (offsets committed: ${sumAfter})`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('kafka-smoke: FAILED:', err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
