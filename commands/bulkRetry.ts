/**
 * "Retry every booking that needs attention": bulk operator actions are batched — one message per
 * batch of bookings, each batch a little later than the previous one (staggered), never one
 * message per booking. The CRM sync saga reopens each failed stage and runs it.
 */
import type { OutboxMessage } from '../domain/ports/eventStore';
import { newId } from './ids';
import { deterministicUuid } from '../domain/shared/ids';
import { outboxMessage } from './messageContracts';
import { streams } from './streams';

export interface MessageScheduler {
  enqueue(messages: readonly OutboxMessage[]): Promise<void>;
}

export interface BulkRetryResult {
  readonly bookings: number;
  readonly batches: number;
  readonly lastBatchAt: string | null;
}

export async function scheduleBulkCrmRetry(
  scheduler: MessageScheduler,
  tenantId: string,
  bookingIds: readonly string[],
  opts: { batchSize?: number; staggerMs?: number; requestId?: string; correlationId: string; now?: Date },
): Promise<BulkRetryResult> {
  const size = opts.batchSize ?? 50;
  const stagger = opts.staggerMs ?? 2000;
  const now = opts.now ?? new Date();
  const request = opts.requestId ?? newId();
  const messages: OutboxMessage[] = [];
  for (let i = 0; i * size < bookingIds.length; i++) {
    const ids = bookingIds.slice(i * size, (i + 1) * size);
    const [first] = ids;
    if (first === undefined) break;
    const id = deterministicUuid(`bulk-retry|${tenantId}|${request}|${i}`);
    const envelope = { id, occurredAt: now.toISOString(), tenantId, aggregate: { type: 'booking' as const, id: first }, correlationId: opts.correlationId, causationId: request, data: { bookingIds: ids, attempt: 0 } };
    messages.push(outboxMessage('crm-sync.bulk-retry', envelope, streams.booking(tenantId, first), new Date(now.getTime() + i * stagger).toISOString()));
  }
  await scheduler.enqueue(messages);
  return { bookings: bookingIds.length, batches: messages.length, lastBatchAt: messages.at(-1)?.availableAt ?? null };
}
