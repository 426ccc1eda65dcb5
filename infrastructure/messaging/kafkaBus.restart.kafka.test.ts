/**
 * The Kafka bus across a broker outage, on the test's OWN single-node broker (KRaft, official
 * jars, scripts/services/kafka.sh in a temp dir): a publish to a stopped broker fails in bounded
 * time (kafkajs' own connection errors, or publishTimeoutMs, after which the producer is dropped),
 * and after the restart the bus publishes again and a consumer gets every message. The outbox
 * relay depends on this to drain after a broker restart. (publishTimeoutMs guards against a send
 * that kafkajs retries without end, as it does for an idempotent producer; this test does not
 * reproduce such a wedged send: here kafkajs fails the send by itself.)
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BusMessage, DeliveredMessage } from '../../domain/ports/messageBus';
import { eventually } from '../../test/support/events';
import { KafkaBus } from './kafkaBus';

jest.setTimeout(240_000);
const KAFKA_SH = path.resolve(__dirname, '../../scripts/services/kafka.sh');
const sh = (args: string[]) =>
  new Promise<string>((resolve, reject) => execFile(KAFKA_SH, args, { encoding: 'utf8', timeout: 180_000 }, (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out))));

describe('Kafka bus across a broker restart (own broker)', () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-kafka-restart-'));
  let bus: KafkaBus | undefined;

  afterAll(async () => {
    await bus?.close();
    await sh(['stop', state]).catch(() => undefined);
    fs.rmSync(state, { recursive: true, force: true });
  });

  test('a publish to a stopped broker fails in time instead of hanging, and a fresh producer publishes after the restart', async () => {
    const brokers = /KAFKA_BROKERS=(\S+)/.exec(await sh(['start', state]))![1]!;
    bus = new KafkaBus({ brokers: [brokers], clientId: 'settle-restart-test', topicPrefix: `r${randomBytes(3).toString('hex')}.`, publishTimeoutMs: 3000 });
    const msg = (i: number): BusMessage => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, topic: 'payments', key: `k${i % 2}`, value: { i }, headers: {} });
    await bus.publish([msg(1)]); // the producer is connected

    await sh(['stop', state]);
    const started = Date.now();
    await expect(bus.publish([msg(2)])).rejects.toThrow(/did not complete in 3000 ms|Connection|ECONNREFUSED|broker/i);
    expect(Date.now() - started).toBeLessThan(60_000); // failed, not stuck

    await sh(['restart', state]);
    // what the outbox relay does: try again until the bus takes the batch
    await eventually(async () => bus!.publish([msg(2), msg(3)]).then(() => true, () => false), 90_000, 500);

    const got: DeliveredMessage[] = [];
    const sub = await bus.subscribe('restart-check', ['payments'], async (m) => void got.push(m));
    try {
      await eventually(() => new Set(got.map((m) => m.id)).size === 3, 60_000, 100);
      expect([...new Set(got.map((m) => m.id))].sort()).toEqual([msg(1).id, msg(2).id, msg(3).id]);
    } finally {
      await sub.stop();
    }
  });
});
