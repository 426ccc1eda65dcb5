/**
 * The in-memory event store passes the one EventStore contract, as PostgreSQL and PGlite do. The
 * group-commit and append_batch contracts are about SqlEventStore's SQL functions and do not
 * apply. Plus what only this adapter offers: its outbox list and a reader's own copies.
 */
import { describeEventStoreContract, ev } from '../../test/contract/eventStore.contract';
import { OutboxMessageConflict } from '../../domain/ports/eventStore';
import { FixedClock } from '../../domain/ports/clock';
import { MemoryEventStore } from './memoryEventStore';

describeEventStoreContract('in memory', async () => ({ store: new MemoryEventStore(), cleanup: async () => {} }));

describe('MemoryEventStore beyond the contract', () => {
  test('the outbox of an append is written with it, once; another content under the same id writes nothing', async () => {
    const store = new MemoryEventStore();
    const msg = { id: 'm-1', topic: 't', key: 'k', value: { a: 1 } };
    await store.append('s-1', [ev()], 'no_stream', { outbox: [msg] });
    await store.append('s-2', [ev()], 'no_stream', { outbox: [msg] });
    expect(store.outbox).toEqual([msg]);
    const err = await store.append('s-3', [ev()], 'no_stream', { outbox: [{ ...msg, value: { a: 2 } }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboxMessageConflict);
    expect(await store.readStream('s-3')).toEqual([]);
  });

  test('recordedAt comes from the injected clock; readers get their own copies', async () => {
    const store = new MemoryEventStore(new FixedClock('2031-05-06T07:08:09.000Z'));
    await store.append('s', [ev('A', { n: 1 })], 'no_stream');
    const [first] = await store.readStream('s');
    expect(first!.recordedAt.toISOString()).toBe('2031-05-06T07:08:09.000Z');
    (first!.data as { n: number }).n = 99;
    expect((await store.readStream('s'))[0]!.data).toEqual({ n: 1 });
  });
});
