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
  private readonly groups = new Map<string, { topics: Set<string>; handler: MessageHandler; batch?: BatchHandler }>();
  private readonly offsets = new Map<string, number>();

  async publish(messages: readonly BusMessage[]): Promise<void> {
    // consecutive messages of one topic are a run: a batch subscriber gets the run in one call
    // (one transaction for the finance ledger, as a Kafka fetch gives it), a per-message
    // subscriber each message in order
    for (let start = 0; start < messages.length; ) {
      const topic = messages[start]?.topic;
      let end = start;
      while (end < messages.length && messages[end]?.topic === topic) end++;
      const run = messages.slice(start, end).map((m): DeliveredMessage => {
        const offset = (this.offsets.get(m.topic) ?? -1) + 1;
        this.offsets.set(m.topic, offset);
        return { ...m, partition: 0, offset: String(offset) };
      });
      try {
        for (const g of this.groups.values()) {
          if (topic === undefined || !g.topics.has(topic)) continue;
          if (g.batch) await g.batch(run);
          else for (const m of run) await g.handler(m);
        }
      } catch (err) {
        // every message before the run was handled by every group; within the run some groups
        // may have handled some: they get them again (at-least-once, as Kafka redelivers a batch)
        if (start > 0) throw new PartialPublish(start, err);
        throw err;
      }
      start = end;
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

  /** A batch is a run of consecutive messages of one topic in one publish (at most the relay's batch). */
  subscribeBatches(groupId: string, topics: readonly string[], handler: BatchHandler): Promise<BusSubscription> {
    if (this.groups.has(groupId)) return Promise.reject(new Error(`consumer group ${groupId} is already subscribed in this process`));
    this.groups.set(groupId, { topics: new Set(topics), handler: (m) => handler([m]), batch: handler });
    return Promise.resolve({
      stop: () => {
        this.groups.delete(groupId);
        return Promise.resolve();
      },
    });
  }

  healthy(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    this.groups.clear();
    return Promise.resolve();
  }
}
