/**
 * Issue #15, failure isolation on the real broker (KAFKA_BROKERS, PostgreSQL at DATABASE_URL, CRM
 * simulator): a message the CRM saga can never handle and a message the broker can never take
 * (over its message.max.bytes) never hold up another tenant's CRM sync or finance report.
 */
import { randomUUID } from 'node:crypto';
import { TOPICS } from '../../domain/ports/messageBus';
import { eventually } from '../support/events';
import { isolationWorld, poisonedKeyDoesNotHoldUpOtherTenants, RETRY_MS, type IsolationWorld } from './isolation.support';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts Kafka');

describe('failure isolation per message key (Kafka, PostgreSQL)', () => {
  let w: IsolationWorld;
  beforeAll(async () => {
    w = await isolationWorld({ KAFKA_BROKERS: brokers });
  });
  afterAll(() => w?.close());

  test("poisoned keys (one unhandleable, one unpublishable) delay another tenant's CRM sync and finance report by no more than one retry interval", async () => {
    const hugeKey = 'invoice-acme.huge';
    const hugeId = randomUUID();
    const { bMs } = await poisonedKeyDoesNotHoldUpOtherTenants(w, async () => {
      // 1.5 MB: over the broker's default message.max.bytes, so it can never be published
      await w.enqueue({ id: hugeId, topic: TOPICS.payments, key: hugeKey, value: { id: hugeId, type: 'payment.succeeded', padding: 'x'.repeat(1_500_000) } });
      await eventually(async () => (await w.parked()).some((p) => p.key === hugeKey && p.stage === 'relay'), 30_000);
    });
    expect(bMs).toBeLessThan(RETRY_MS);
    // the unpublishable message is held by the relay, then parked; an operator who fixed the row releases it
    await eventually(async () => (await w.parked()).some((p) => p.key === hugeKey && p.state === 'parked'), 30_000);
    const held = (await w.parked()).find((p) => p.key === hugeKey)!;
    expect(held).toMatchObject({ stage: 'relay', messageId: hugeId, topic: TOPICS.payments, attempts: 2 });
    await w.svc.runtime.db.query(`UPDATE outbox SET value = jsonb_build_object('id', message_id, 'type', 'payment.unknown') WHERE message_id = $1`, [hugeId]);
    expect((await w.admin.post<{ released: string[] }>(`/v1/admin/outbox/parked/${hugeKey}/release`, {})).body.released).toEqual(['relay']);
    await eventually(async () => (await w.parked()).every((p) => p.key !== hugeKey), 15_000);
    const { rows } = await w.svc.runtime.db.query<{ published: boolean }>(`SELECT published_at IS NOT NULL AS published FROM outbox WHERE message_id = $1`, [hugeId]);
    expect(rows[0]!.published).toBe(true);
  });
});
