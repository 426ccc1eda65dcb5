/**
 * The Kafka bus's producer lifecycle, with kafkajs' producer and admin replaced by fakes (no
 * broker): the refusal that kept the outbox relay stuck after a broker restart in CI
 * (OUT_OF_ORDER_SEQUENCE_NUMBER on every later send of the same idempotent producer) is an
 * outage, not a records problem, and the next publish goes out on a fresh producer.
 * The real broker restart is in kafkaBus.restart.kafka.test.ts and
 * test/reliability/faults.kafka-stop.test.ts.
 */
import { Kafka, KafkaJSProtocolError, type Admin, type Producer } from 'kafkajs';
import { BusUnavailable, type BusMessage } from '../../domain/ports/messageBus';
import { KafkaBus } from './kafkaBus';

type Send = (request: { topicMessages: Array<{ topic: string; messages: unknown[] }> }) => Promise<unknown>;

function fakeProducers(behaviours: Send[]) {
  const made: Array<{ sends: number; disconnected: boolean }> = [];
  jest.spyOn(Kafka.prototype, 'producer').mockImplementation(() => {
    const index = made.length;
    const state = { sends: 0, disconnected: false };
    made.push(state);
    const send = behaviours[Math.min(index, behaviours.length - 1)]!;
    return {
      connect: () => Promise.resolve(),
      disconnect: () => {
        state.disconnected = true;
        return Promise.resolve();
      },
      on: () => () => undefined,
      events: { DISCONNECT: 'producer.disconnect' },
      sendBatch: (request: Parameters<Send>[0]) => {
        state.sends += 1;
        return send(request);
      },
    } as unknown as Producer;
  });
  jest.spyOn(Kafka.prototype, 'admin').mockImplementation(
    () =>
      ({
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        listTopics: () => Promise.resolve(['t.payments']),
        createTopics: () => Promise.resolve(true),
      }) as unknown as Admin,
  );
  return made;
}

// kafkajs builds its protocol errors from the broker's error table entry ({ type, code, retriable, message }); its typings say Error
const refusal = (type: string, code: number) => new KafkaJSProtocolError({ type, code, retriable: false, message: `refused: ${type}` } as unknown as Error);
const message = (i: number): BusMessage => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, topic: 'payments', key: `booking-${i}`, value: { i }, headers: {} });
const ok: Send = () => Promise.resolve([]);

afterEach(() => jest.restoreAllMocks());

describe('Kafka bus producer lifecycle (fake kafkajs producer, no broker)', () => {
  test.each([
    ['OUT_OF_ORDER_SEQUENCE_NUMBER', 45],
    ['UNKNOWN_PRODUCER_ID', 59],
    ['INVALID_PRODUCER_EPOCH', 47],
  ])('%s is an outage and the next publish uses a fresh producer', async (type, code) => {
    const made = fakeProducers([() => Promise.reject(refusal(type, code)), ok]);
    const bus = new KafkaBus({ brokers: ['127.0.0.1:9'], clientId: 'unit', topicPrefix: 't.' });

    const first = await bus.publish([message(1)]).then(() => null, (err: unknown) => err);
    expect(first).toBeInstanceOf(BusUnavailable);
    expect(made).toHaveLength(1);
    expect(made[0]!.disconnected).toBe(true);

    await bus.publish([message(1), message(2)]);
    expect(made).toHaveLength(2);
    expect(made[1]).toEqual({ sends: 1, disconnected: false });
    await bus.close();
  });

  test('a refusal about the records (MESSAGE_TOO_LARGE) stays a records error, and the producer is still replaced', async () => {
    const made = fakeProducers([() => Promise.reject(refusal('MESSAGE_TOO_LARGE', 10)), ok]);
    const bus = new KafkaBus({ brokers: ['127.0.0.1:9'], clientId: 'unit', topicPrefix: 't.' });

    const first = await bus.publish([message(1)]).then(() => null, (err: unknown) => err);
    expect(first).toBeInstanceOf(KafkaJSProtocolError);
    expect(first).not.toBeInstanceOf(BusUnavailable);

    await bus.publish([message(2)]);
    expect(made.map((p) => p.sends)).toEqual([1, 1]);
    await bus.close();
  });

  test('a successful send keeps its producer', async () => {
    const made = fakeProducers([ok]);
    const bus = new KafkaBus({ brokers: ['127.0.0.1:9'], clientId: 'unit', topicPrefix: 't.' });
    await bus.publish([message(1)]);
    await bus.publish([message(2)]);
    expect(made).toEqual([{ sends: 2, disconnected: false }]);
    await bus.close();
  });
});
