import { PartialPublish, type BatchHandler, type BusSubscription, type DeliveredMessage, type MessageBus, type MessageHandler } from '../../domain/ports/messageBus';
import type { BusMessage } from '../../domain/ports/messageBus';

/**
 * The embedded default's transport, used when KAFKA_BROKERS is not set. It is fed by the same
 * durable outbox as Kafka: publish() resolves only after every subscribed group has handled the
 * message, so the relay marks a row published only once it was consumed. A handler that throws
 * makes publish() fail, naming how many messages before it were handled (PartialPublish); the
 * relay holds that message's key and retries it later (groups that had already handled it see it
 * again: at-least-once, like Kafka). Consumers wrapped by ConsumerIsolation park what they cannot
 * handle themselves instead of throwing.
 */
export class InProcessBus implements MessageBus {
  readonly kind = 'in-process' as const;
  private readonly groups = new Map<string, { topics: Set<string>; handler: MessageHandler }>();
  private readonly offsets = new Map<string, number>();

  async publish(messages: readonly BusMessage[]): Promise<void> {
    for (const [i, m] of messages.entries()) {
      const offset = (this.offsets.get(m.topic) ?? -1) + 1;
      this.offsets.set(m.topic, offset);
      const delivered: DeliveredMessage = { ...m, partition: 0, offset: String(offset) };
      try {
        for (const g of this.groups.values()) {
          if (g.topics.has(m.topic)) await g.handler(delivered);
        }
      } catch (err) {
        if (i > 0) throw new PartialPublish(i, err);
        throw err;
      }
    }
  }

  subscribe(groupId: string, topics: readonly string[], handler: MessageHandler): Promise<BusSubscription> {
    if (this.groups.has(groupId)) return Promise.reject(new Error(`consumer group ${groupId} is already subscribed in this process`));
    this.groups.set(groupId, { topics: new Set(topics), handler });
    return Promise.resolve({
      stop: () => {
        this.groups.delete(groupId);
        return Promise.resolve();
      },
    });
  }

  /** Publishing hands over one message at a time, so a batch here is one message. */
  subscribeBatches(groupId: string, topics: readonly string[], handler: BatchHandler): Promise<BusSubscription> {
    return this.subscribe(groupId, topics, (m) => handler([m]));
  }

  healthy(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    this.groups.clear();
    return Promise.resolve();
  }
}
