import { randomUUID } from 'node:crypto';
import type { NewEvent, OutboxMessage, RecordedEvent } from '../../domain/ports/eventStore';

export function newEvent(type = 'TestHappened', data: unknown = {}, tenantId = 'tenant-1'): NewEvent {
  return { id: randomUUID(), type, data, metadata: { correlationId: 'corr', causationId: 'cause', tenantId, schemaVersion: 1 } };
}

/**
 * The i-th event of an in-memory log (subscription tests): `Counted { i }` on one of `streams`
 * round-robin streams, `perCommit` events per commit position from `commitBase` on.
 */
export function countedEvent(i: number, shape: { streams: number; perCommit: number; commitBase: number }): RecordedEvent {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    type: 'Counted',
    data: { i },
    metadata: { correlationId: 'c', causationId: 'c', tenantId: 't', schemaVersion: 1 },
    streamId: `count-${i % shape.streams}`,
    revision: BigInt(Math.floor(i / shape.streams)),
    position: { commit: BigInt(shape.commitBase + Math.floor(i / shape.perCommit)), prepare: BigInt(i) },
    recordedAt: new Date(0),
  };
}

export function outboxMessage(topic: string, key: string, value: unknown): OutboxMessage {
  return { id: randomUUID(), topic, key, value };
}

export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
