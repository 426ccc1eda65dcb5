/**
 * The embedded default's bus: a batch subscriber gets each run of consecutive messages of its
 * topic in one call (so the finance ledger commits a relay batch in one transaction, not one per
 * message), a per-message subscriber gets every message in order, and a failure reports how many
 * messages before the failing run every group handled (the relay marks exactly those published).
 */
import { PartialPublish, type BusMessage, type DeliveredMessage } from '../../domain/ports/messageBus';
import { InProcessBus } from './inProcessBus';

const msg = (i: number, topic: string): BusMessage => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, topic, key: `k${i % 3}`, value: { i }, headers: {} });
const ids = (ms: readonly DeliveredMessage[]) => ms.map((m) => (m.value as { i: number }).i);

describe('InProcessBus', () => {
  test('batch subscribers get runs of their topic, per-message subscribers every message, offsets count per topic', async () => {
    const bus = new InProcessBus();
    const batches: number[][] = [];
    const singles: number[] = [];
    await bus.subscribeBatches('finance', ['payments'], (ms) => {
      batches.push(ids(ms));
      return Promise.resolve();
    });
    await bus.subscribe('crm', ['payments', 'bookings'], (m) => {
      singles.push((m.value as { i: number }).i);
      return Promise.resolve();
    });
    await bus.publish([msg(1, 'payments'), msg(2, 'payments'), msg(3, 'bookings'), msg(4, 'payments'), msg(5, 'payments'), msg(6, 'payments')]);
    await bus.publish([msg(7, 'payments')]);
    expect(batches).toEqual([[1, 2], [4, 5, 6], [7]]);
    expect(singles).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const offsets: string[] = [];
    await bus.subscribeBatches('offsets', ['payments'], (ms) => {
      offsets.push(...ms.map((m) => m.offset));
      return Promise.resolve();
    });
    await bus.publish([msg(8, 'payments'), msg(9, 'payments')]);
    expect(offsets).toEqual(['6', '7']); // payments 1, 2, 4, 5, 6, 7 took offsets 0-5
  });

  test('a failing batch reports the messages before its run as handled (PartialPublish), nothing after it is delivered', async () => {
    const bus = new InProcessBus();
    const seen: number[][] = [];
    await bus.subscribeBatches('finance', ['payments'], (ms) => {
      seen.push(ids(ms));
      return ms.some((m) => (m.value as { i: number }).i === 5) ? Promise.reject(new Error('ledger down')) : Promise.resolve();
    });
    const err = await bus.publish([msg(1, 'payments'), msg(2, 'payments'), msg(3, 'bookings'), msg(4, 'payments'), msg(5, 'payments'), msg(6, 'bookings'), msg(7, 'payments')]).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(PartialPublish);
    expect((err as PartialPublish).published).toBe(3);
    expect(seen).toEqual([[1, 2], [4, 5]]);

    const first = await bus.publish([msg(5, 'payments')]).then(() => null, (e: unknown) => e);
    expect(first).not.toBeInstanceOf(PartialPublish); // failing at the first run: a plain failure
    expect(first).toBeInstanceOf(Error);
  });
});
