import { randomUUID } from 'node:crypto';
import type { NewEvent, OutboxMessage } from '../../domain/ports/eventStore';

export function newEvent(type = 'TestHappened', data: unknown = {}, tenantId = 'tenant-1'): NewEvent {
  return { id: randomUUID(), type, data, metadata: { correlationId: 'corr', causationId: 'cause', tenantId, schemaVersion: 1 } };
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
