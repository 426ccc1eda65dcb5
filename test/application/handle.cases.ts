/**
 * The command loop (load, decide, append, retry on conflict) on an event store given by the
 * runner: in memory by commands/handle.test.ts, on PostgreSQL by commands/handle.postgres.test.ts.
 */

import { WrongExpectedRevision, type AppendOptions, type AppendResult, type EventStore, type ExpectedRevision, type NewEvent } from '../../domain/ports/eventStore';
import { DomainRefusal, type Command, type Decider } from '../../domain/shared/decider';
import type { StoreUnderTest } from './storeUnderTest';
import { ConcurrencyConflict, handle, type CommandContext } from '../../commands/handle';

type Add = Command<'Add', { n: number; max: number }>;
type Added = { type: 'Added'; data: { n: number } };
const counter: Decider<Add, Added, { total: number }> = {
  initialState: { total: 0 },
  decide: (c, s) => {
    if (s.total + c.data.n > c.data.max) throw new DomainRefusal('over_max', 'too much', 'invalid');
    return [{ type: 'Added', data: { n: c.data.n } }];
  },
  evolve: (s, e) => ({ total: s.total + e.data.n }),
};

export function describeHandle(adapter: string, open: () => Promise<StoreUnderTest>): void {
describe(`handle() (${adapter})`, () => {
  let subject: StoreUnderTest;
  let store: EventStore;
  const ctx = (over: Partial<CommandContext> = {}): CommandContext => ({ tenantId: 't1', correlationId: 'corr-9', causationId: 'req-9', now: new Date(), ...over });
  const add = (n: number, max = 1000): Add => ({ type: 'Add', data: { n, max }, metadata: { now: new Date() } });

  beforeAll(async () => {
    subject = await open();
    store = subject.store;
  });
  afterAll(() => subject.close());

  test('events carry the correlation and causation ids, the tenant, the actor and a schema version', async () => {
    const r = await handle(store, 'counter-meta', counter, () => add(1), ctx({ actor: { kind: 'api_key', id: 'key-1' } }));
    expect(r.revision).toBe(0n);
    const [e] = await store.readStream('counter-meta');
    expect(e!.metadata).toMatchObject({ correlationId: 'corr-9', causationId: 'req-9', tenantId: 't1', schemaVersion: 1, actor: { kind: 'api_key', id: 'key-1' } });
  });

  test('concurrent commands on one stream are all applied: conflicts are retried on fresh state', async () => {
    await Promise.all(Array.from({ length: 10 }, () => handle(store, 'counter-race', counter, () => add(1), ctx(), { maxAttempts: 20 })));
    expect(await store.readStream('counter-race')).toHaveLength(10);
  });

  test('a retry re-decides on the new state, so an invariant holds under concurrency', async () => {
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => handle(store, 'counter-max', counter, () => add(1, 3), ctx(), { maxAttempts: 20 })));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as DomainRefusal).code).toBe('over_max');
  });

  test('the same external trigger handled twice (same id seed) is deduplicated by the store, even though the decider would act again', async () => {
    const first = await handle(store, 'counter-seed', counter, () => add(5), ctx({ idSeed: 'provider-event-evt_1' }));
    const again = await handle(store, 'counter-seed', counter, () => add(5), ctx({ idSeed: 'provider-event-evt_1' }));
    expect(first.unchanged).toBe(false);
    expect(again.unchanged).toBe(true);
    expect(again.state.total).toBe(5);
    expect(await store.readStream('counter-seed')).toHaveLength(1);
    const other = await handle(store, 'counter-seed', counter, () => add(5), ctx({ idSeed: 'provider-event-evt_2' }));
    expect(other.state.total).toBe(10);
  });

  test('after the bounded number of conflicts the command fails with ConcurrencyConflict', async () => {
    // a store whose stream changes between every read and write
    const always: EventStore = {
      ...store,
      readStream: (s) => store.readStream(s),
      readAll: (o) => store.readAll(o),
      headPosition: () => store.headPosition(),
      close: async () => undefined,
      append: async (_s: string, _e: readonly NewEvent[], expected: ExpectedRevision, _o?: AppendOptions): Promise<AppendResult> => {
        throw new WrongExpectedRevision('counter-busy', expected, 99n);
      },
    };
    await expect(handle(always, 'counter-busy', counter, () => add(1), ctx(), { maxAttempts: 3 })).rejects.toBeInstanceOf(ConcurrencyConflict);
  });

  test('deciding on a long stream reads only the new events, and still sees what another process appended', async () => {
    const reads: Array<bigint | undefined> = [];
    const counting: EventStore = {
      append: (...a) => store.append(...a),
      readStream: (s, o) => {
        reads.push(o?.fromRevision);
        return store.readStream(s, o);
      },
      readAll: (o) => store.readAll(o),
      headPosition: () => store.headPosition(),
      close: async () => undefined,
    };
    for (let i = 0; i < 30; i++) await handle(counting, 'counter-long', counter, () => add(1), ctx());
    // the empty stream and then the one-event stream are read whole; from then on every decision
    // starts where the previous one ended
    expect(reads.slice(0, 2)).toEqual([undefined, undefined]);
    expect(reads.slice(2)).toEqual(Array.from({ length: 28 }, (_, i) => BigInt(i + 1)));
    // another process (its own store on the same database) appends behind this one's back
    const other = subject.another();
    await handle(other, 'counter-long', counter, () => add(100), ctx());
    const r = await handle(counting, 'counter-long', counter, () => add(1, 1000), ctx());
    expect(r.state.total).toBe(30 + 100 + 1);
    expect(r.revision).toBe(31n);
    // and the invariant is decided on that fresh state
    await expect(handle(counting, 'counter-long', counter, () => add(900, 1000), ctx())).rejects.toMatchObject({ code: 'over_max' });
  });
});
}
