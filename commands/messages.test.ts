/** The one envelope builder (`outboxMessage` of messageContracts.ts): every producer's message has the same envelope (version 1) and headers. */
import { outboxMessage } from './messageContracts';
import { scheduleBulkCrmRetry } from './bulkRetry';
import type { OutboxMessage } from '../domain/ports/eventStore';

describe('outboxMessage', () => {
  const base = {
    id: '6f1c2a2e-0000-4000-8000-000000000001',
    occurredAt: '2031-01-01T00:00:00.000Z',
    tenantId: 't1',
    aggregate: { type: 'booking' as const, id: 'b1' },
    correlationId: 'corr',
    causationId: 'cause',
    data: { bookingIds: ['b1'], attempt: 2 },
  };

  test('envelope, headers, topic and the publish-after instant from one place', () => {
    expect(outboxMessage('crm-sync.retry', base, 'booking-t1.b1', '2031-01-01T00:00:05.000Z')).toEqual({
      id: base.id,
      topic: 'settle.crm-sync.retry.v1',
      key: 'booking-t1.b1',
      availableAt: '2031-01-01T00:00:05.000Z',
      headers: { 'message-type': 'crm-sync.retry', 'message-version': '1' },
      value: { ...base, type: 'crm-sync.retry', version: 1 },
    });
    expect(outboxMessage('crm-sync.retry', base, 'booking-t1.b1')).not.toHaveProperty('availableAt');
  });

  test('the bulk CRM retry builds its messages with it, staggered from the given now', async () => {
    const sent: OutboxMessage[] = [];
    await scheduleBulkCrmRetry({ enqueue: async (m: readonly OutboxMessage[]) => void sent.push(...m) }, 't1', ['b1', 'b2', 'b3'], { correlationId: 'corr', requestId: 'req', batchSize: 2, staggerMs: 1000, now: new Date('2031-01-01T00:00:00.000Z') });
    expect(sent.map((m) => m.availableAt)).toEqual(['2031-01-01T00:00:00.000Z', '2031-01-01T00:00:01.000Z']);
    expect(sent.map((m) => (m.value as { type: string; version: number }).version)).toEqual([1, 1]);
    expect(sent.every((m) => m.headers?.['message-type'] === 'crm-sync.bulk-retry')).toBe(true);
  });
});
