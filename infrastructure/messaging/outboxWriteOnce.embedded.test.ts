/** The outbox's write-once rule (migration 11) on the embedded database (PGlite): same SQL as PostgreSQL. */
import { OutboxMessageConflict } from '../../domain/ports/eventStore';
import { embeddedDatabase, type TestDatabase } from '../../test/support/databases';
import { newEvent, outboxMessage } from '../../test/support/events';
import { SqlEventStore } from '../eventstore/sqlEventStore';

describe('outbox write-once (embedded PGlite)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await embeddedDatabase();
  });
  afterAll(() => t.drop());

  test('same id and content: written once, no error; same id, other content: OutboxMessageConflict, nothing written', async () => {
    const conflicts: unknown[] = [];
    const store = new SqlEventStore(t.db, undefined, { onOutboxConflict: (e) => conflicts.push(e) });
    const m = outboxMessage('bookings', 'e1', { n: 1 });
    await store.append('booking-e1', [newEvent()], 'no_stream', { outbox: [m] });
    await store.append('booking-e1', [newEvent()], 'any', { outbox: [m] });
    await expect(store.append('booking-e1', [newEvent()], 'any', { outbox: [{ ...m, topic: 'payments' }] })).rejects.toBeInstanceOf(OutboxMessageConflict);
    expect(conflicts).toHaveLength(1);
    const { rows } = await t.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM outbox WHERE message_id = $1`, [m.id]);
    expect(Number(rows[0]!.n)).toBe(1);
    expect(await store.readStream('booking-e1')).toHaveLength(2);
  });
});
