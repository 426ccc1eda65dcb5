/**
 * The message bus port: integration messages between Settle's parts and to other systems
 * (finance reporting, the CRM saga). Kafka in production; an in-process transport in the embedded
 * default. Messages reach the bus only through the transactional outbox, so delivery is
 * at-least-once: every consumer deduplicates by message id.
 */
export interface BusMessage {
  /** UUID; stable across redeliveries. */
  readonly id: string;
  readonly topic: string;
  /** Partition key: the aggregate id, so messages of one aggregate stay in order. */
  readonly key: string;
  readonly value: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * A publish that failed part-way: the first `published` messages were acknowledged by the
 * transport (in order), the rest were not. The relay marks those as published, so a message that
 * keeps failing does not send the ones before it again on every retry.
 */
export class PartialPublish extends Error {
  constructor(
    readonly published: number,
    override readonly cause: unknown,
  ) {
    super(`published ${published} message(s), then failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'PartialPublish';
  }
}

/**
 * The transport could not take the messages for a reason that is not theirs (unreachable, leaders
 * moving, timed out): no message of the batch is at fault, so the relay charges none of them.
 * Any other publish error may be a message's own (too large, refused): the relay then finds it.
 */
export class BusUnavailable extends Error {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'BusUnavailable';
  }
}

/** True when a publish error says nothing about the messages (see BusUnavailable). */
export function isBusOutage(err: unknown): boolean {
  return err instanceof BusUnavailable || (err instanceof PartialPublish && err.cause instanceof BusUnavailable);
}

export interface DeliveredMessage extends BusMessage {
  readonly partition: number;
  readonly offset: string;
}

export type MessageHandler = (message: DeliveredMessage) => Promise<void>;
/** Handles what the transport delivered together (one partition's fetch), in order, as one unit. */
export type BatchHandler = (messages: readonly DeliveredMessage[]) => Promise<void>;

export interface BusSubscription {
  stop(): Promise<void>;
}

export interface MessageBus {
  readonly kind: 'kafka' | 'in-process';
  /** Resolves once every message is acknowledged by the transport, in the given order per key. */
  publish(messages: readonly BusMessage[]): Promise<void>;
  /**
   * Each consumer group receives every message once per successful handling; a handler that
   * throws gets the message again (the group does not move past it).
   */
  subscribe(groupId: string, topics: readonly string[], handler: MessageHandler): Promise<BusSubscription>;
  /**
   * The same, a batch at a time: the group moves past a batch only once the handler resolved for
   * all of it; a handler that throws gets the whole batch again. For consumers that apply a batch
   * in one transaction (they must still deduplicate by message id).
   */
  subscribeBatches(groupId: string, topics: readonly string[], handler: BatchHandler): Promise<BusSubscription>;
  /** Cheap liveness check for /readyz. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** The topics Settle publishes (the integration contract: commands/messageContracts.ts, docs/asyncapi.yaml). */
export const TOPICS = {
  /** Booking facts the CRM sync saga acts on. Key: booking stream id. */
  bookings: 'settle.bookings.v1',
  /** Payment facts for finance reporting. Key: payable stream id. */
  payments: 'settle.payments.v1',
  /** Delayed retries of the CRM sync saga (scheduled through the outbox). Key: booking stream id. */
  crmSyncRetry: 'settle.crm-sync.retry.v1',
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];
