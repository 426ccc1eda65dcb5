/** Idempotency-Key records on a real PostgreSQL server (DATABASE_URL). */
import { postgresDatabase, type TestDatabase } from '../../test/support/databases';
import { SqlIdempotencyStore } from './apiAccess';

describe('idempotency records (PostgreSQL)', () => {
  let t: TestDatabase;
  let store: SqlIdempotencyStore;
  beforeAll(async () => {
    t = await postgresDatabase();
    store = new SqlIdempotencyStore(t.db);
  });
  afterAll(() => t.drop());

  test('a claim blocks retries while it runs; an abandoned one is taken over and the first owner can no longer write', async () => {
    const first = await store.claim('tenant', 'k1', 'POST', '/v1/x', 'h');
    expect(first.kind).toBe('claimed');
    expect((await store.claim('tenant', 'k1', 'POST', '/v1/x', 'h')).kind).toBe('in_progress');
    expect((await store.claim('tenant', 'k1', 'POST', '/v1/x', 'other-body')).kind).toBe('mismatch');
    // the first request's process died five minutes ago
    await t.db.query(`UPDATE idempotency_keys SET locked_at = locked_at - interval '6 minutes' WHERE idempotency_key = 'k1'`);
    const second = await store.claim('tenant', 'k1', 'POST', '/v1/x', 'h');
    expect(second.kind).toBe('claimed');
    // the first owner's late answer is not stored; the second's is
    await store.complete('tenant', 'k1', (first as { token: string }).token, { status: 201, body: { from: 'first' } });
    expect((await store.claim('tenant', 'k1', 'POST', '/v1/x', 'h')).kind).toBe('in_progress');
    await store.complete('tenant', 'k1', (second as { token: string }).token, { status: 201, body: { from: 'second' } });
    expect(await store.claim('tenant', 'k1', 'POST', '/v1/x', 'h')).toEqual({ kind: 'replay', response: { status: 201, body: { from: 'second' } } });
  });

  test('a release (5xx) lets the next request run; keys of other scopes are independent', async () => {
    const c = await store.claim('tenant', 'k2', 'POST', '/v1/x', 'h');
    await store.release('tenant', 'k2', (c as { token: string }).token);
    expect((await store.claim('tenant', 'k2', 'POST', '/v1/x', 'h')).kind).toBe('claimed');
    expect((await store.claim('another', 'k2', 'POST', '/v1/x', 'h')).kind).toBe('claimed');
  });
});
