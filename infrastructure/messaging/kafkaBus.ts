import { Kafka, KafkaJSSASLAuthenticationError, Partitioners, logLevel, type Admin, type Consumer, type KafkaMessage, type Producer, type LogEntry, type SASLOptions } from 'kafkajs';
import { BusUnavailable, PartialPublish, type BatchHandler, type BusMessage, type BusSubscription, type DeliveredMessage, type MessageBus, type MessageHandler } from '../../domain/ports/messageBus';
import type { Logger } from '../../domain/ports/logger';

/**
 * Most bytes (keys, values, headers, plus a per-record allowance) in one produce request: half
 * the broker's default message.max.bytes, so a request whose records all hash to one partition
 * still fits in one record batch.
 */
export const PUBLISH_CHUNK_BYTES = 512 * 1024;

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** Prefix for every topic name (test isolation, shared clusters). */
  topicPrefix?: string;
  logger?: Logger;
  /** Partitions for topics Settle creates. */
  partitions?: number;
  /**
   * Longest a publish may take before its producer is abandoned (default 30 s). kafkajs retries an
   * idempotent producer's send without end, so a producer wedged by a broker restart would stall
   * the outbox relay for good; abandoned, the relay's next attempt gets a fresh producer (as after
   * any failed send).
   */
  publishTimeoutMs?: number;
  /** TLS (kafkajs `ssl`): false for PLAINTEXT listeners; PEM contents, not paths. */
  ssl?: false | { rejectUnauthorized: boolean; ca?: string[]; cert?: string; key?: string };
  /** SASL (kafkajs `sasl`); null or absent: no authentication. */
  sasl?: null | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

/**
 * Broker refusals and TLS failures said in terms of Settle's settings (the kafkajs text alone names
 * none). An outage for the relay (nothing about the messages: BusUnavailable), never blamed on one.
 */
export class KafkaSecurityError extends BusUnavailable {
  constructor(message: string, cause: unknown) {
    super(cause);
    this.message = message;
    this.name = 'KafkaSecurityError';
  }
}

const TLS_FAILURE = /certificate|self[- ]signed|SSL routines|alert|wrong version number|EPROTO|ERR_SSL|unable to verify|Hostname\/IP does not match/i;

/** The error to surface: authentication and TLS failures become a KafkaSecurityError naming the variables to check. */
export function explainKafkaError(err: unknown): unknown {
  if (err instanceof KafkaSecurityError) return err;
  // kafkajs wraps the broker's refusal (retries exceeded, non-retriable): walk the chain
  const chain: unknown[] = [];
  for (let e: unknown = err; e && chain.length < 5; e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause) chain.push(e);
  const auth = chain.find((e) => e instanceof KafkaJSSASLAuthenticationError) as Error | undefined;
  if (auth) return new KafkaSecurityError(`Kafka refused the SASL credentials (check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD): ${auth.message}`, err);
  const text = chain.map((e) => { const m = (e as { message?: unknown }).message; return typeof m === 'string' ? m : JSON.stringify(e); }).join(': ');
  if (TLS_FAILURE.test(text)) return new KafkaSecurityError(`TLS to the Kafka brokers failed (check KAFKA_SSL, KAFKA_SSL_CA, KAFKA_SSL_CERT and KAFKA_SSL_KEY): ${text}`, err);
  return err;
}

/**
 * Broker refusals about the producer's session, not about the records: a fresh producer (new
 * producer id, sequences from zero) is the cure, so they are an outage of the old producer.
 */
export const PRODUCER_STATE_ERRORS: ReadonlySet<string> = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'DUPLICATE_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_ID_MAPPING']);

async function explained<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw explainKafkaError(err);
  }
}

/**
 * Kafka through kafkajs. The producer is idempotent (acks=all, one in-flight request), so a
 * retried send cannot duplicate or reorder a partition; messages are keyed by aggregate id.
 * Consumers commit an offset only after the handler resolved; a throwing handler makes kafkajs
 * seek back and deliver the message again.
 */
export class KafkaBus implements MessageBus {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private producer: Producer | null = null;
  private connecting: Promise<Producer> | null = null;
  private admin: Admin | null = null;
  private readonly consumers = new Set<Consumer>();
  private readonly knownTopics = new Set<string>();
  private readonly prefix: string;

  constructor(private readonly opts: KafkaBusOptions) {
    this.prefix = opts.topicPrefix ?? '';
    const log = opts.logger?.child({ component: 'kafkajs' });
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      ...(opts.ssl ? { ssl: { ...opts.ssl } } : {}),
      ...(opts.sasl ? { sasl: { ...opts.sasl } as SASLOptions } : {}),
      connectionTimeout: 3000,
      requestTimeout: 30000,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ level, log: entry }: LogEntry) => {
          if (!log) return;
          const { message, ...rest } = entry;
          // rebalances log heartbeat "errors" that kafkajs recovers from by itself
          const recoverable = /rebalanc|coordinator is loading/i.test(`${message} ${kafkaErrorText((rest as { error?: unknown }).error)}`);
          if (level <= logLevel.ERROR && !recoverable) log.error(rest, message);
          else log.warn(rest, message);
        },
    });
  }

  topic(name: string): string {
    return `${this.prefix}${name}`;
  }

  private async getProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    if (!this.connecting) {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.connecting = explained(p.connect())
        .then(() => {
          this.producer = p;
          p.on(p.events.DISCONNECT, () => {
            if (this.producer === p) this.producer = null;
          });
          return p;
        })
        .finally(() => {
          this.connecting = null;
        });
    }
    return this.connecting;
  }

  /**
   * Connects the producer now rather than at the first publish (a service warms up at start, so
   * its first payment does not wait for the broker handshake).
   */
  async connect(): Promise<void> {
    await this.getProducer();
  }

  private async getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const a = this.kafka.admin();
      await explained(a.connect());
      this.admin = a;
    }
    return this.admin;
  }

  /** Creates the topics that do not exist yet (idempotent). */
  async ensureTopics(names: readonly string[]): Promise<void> {
    const wanted = names.map((n) => this.topic(n)).filter((t) => !this.knownTopics.has(t));
    if (wanted.length === 0) return;
    const admin = await this.getAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({ topic, numPartitions: this.opts.partitions ?? 3, replicationFactor: 1 })),
      });
    }
    wanted.forEach((t) => this.knownTopics.add(t));
  }

  /**
   * Publishes in order. The messages go out in consecutive requests of at most PUBLISH_CHUNK_BYTES
   * each: the broker refuses a record batch over its message.max.bytes (1 MB by default), and a
   * relay batch of one hot key would otherwise land in one partition's batch. Chunks are sent one
   * after another, so per-key order holds; if one fails, the call fails and the relay sends the
   * whole batch again (at least once; consumers deduplicate by message id).
   */
  async publish(messages: readonly BusMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.ensureTopics([...new Set(messages.map((m) => m.topic))]).catch((err: unknown) => {
      throw err instanceof BusUnavailable ? err : new BusUnavailable(err);
    });
    const encoded = messages.map((m) => ({ topic: m.topic, key: m.key, value: JSON.stringify(m.value), headers: { ...m.headers, 'message-id': m.id } }));
    let chunk: typeof encoded = [];
    let bytes = 0;
    let sent = 0;
    for (const m of encoded) {
      // UTF-8 bytes, not characters: JSON keeps non-ASCII text as is, up to 3 bytes a character
      const size = Buffer.byteLength(m.key) + Buffer.byteLength(m.value) + Object.entries(m.headers).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0) + 64;
      if (chunk.length > 0 && bytes + size > PUBLISH_CHUNK_BYTES) {
        await this.sendCounted(chunk, sent);
        sent += chunk.length;
        chunk = [];
        bytes = 0;
      }
      chunk.push(m);
      bytes += size;
    }
    await this.sendCounted(chunk, sent);
  }

  /** Sends one chunk; a failure after earlier chunks went out says how many did (PartialPublish). */
  private async sendCounted(chunk: Parameters<KafkaBus['send']>[0], alreadySent: number): Promise<void> {
    try {
      await this.send(chunk);
    } catch (err) {
      if (alreadySent > 0) throw new PartialPublish(alreadySent, err);
      throw err;
    }
  }

  private async send(encoded: ReadonlyArray<{ topic: string; key: string; value: string; headers: Record<string, string> }>): Promise<void> {
    const producer = await this.getProducer().catch((err: unknown) => {
      throw err instanceof BusUnavailable ? err : new BusUnavailable(err);
    });
    const byTopic = new Map<string, Array<{ key: string; value: string; headers: Record<string, string> }>>();
    for (const m of encoded) {
      const list = byTopic.get(m.topic) ?? [];
      list.push({ key: m.key, value: m.value, headers: m.headers });
      byTopic.set(m.topic, list);
    }
    const send = producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic.entries()].map(([topic, list]) => ({ topic: this.topic(topic), messages: list })),
    });
    const limit = this.opts.publishTimeoutMs ?? 30_000;
    const timeout = new Error(`Kafka publish did not complete in ${limit} ms; the producer is replaced`);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeout), limit);
    });
    try {
      await Promise.race([send, timedOut]);
    } catch (err) {
      if (this.producer === producer) {
        // A failed send leaves an idempotent producer's sequence numbers in doubt: kafkajs counts
        // a batch the broker never appended, and after a broker restart every later send of that
        // producer is refused with OUT_OF_ORDER_SEQUENCE_NUMBER, for good. Nothing of this batch
        // counts as published (the relay sends it again: at-least-once, consumers deduplicate by
        // message id); the next send gets a fresh producer id, whose sequences start at zero.
        this.producer = null;
        send.catch(() => undefined);
        void producer.disconnect().catch(() => undefined);
      }
      // A protocol error the broker will not retry (MESSAGE_TOO_LARGE, INVALID_RECORD...) is about
      // the records, unless it is about the producer's own state; anything else (connection,
      // leaders, retries exhausted, timeout, producer state) is an outage.
      const e = err as { name?: string; retriable?: boolean; type?: string } | null;
      if (e?.name === 'KafkaJSProtocolError' && e.retriable === false && !PRODUCER_STATE_ERRORS.has(e.type ?? '')) throw err;
      throw err instanceof BusUnavailable ? err : new BusUnavailable(err);
    } finally {
      clearTimeout(timer);
    }
  }

  subscribe(groupId: string, topics: readonly string[], handler: MessageHandler): Promise<BusSubscription> {
    return this.consume(groupId, topics, async (run) =>
      run({
        autoCommit: true,
        eachMessage: async ({ topic, partition, message }) => handler(this.delivered(topic, partition, message)),
      }),
    );
  }

  /**
   * A batch is what one fetch returned for one partition. kafkajs resolves and commits the batch's
   * last offset only when the handler resolved (eachBatchAutoResolve); a throw re-fetches the
   * batch from the last committed offset.
   */
  subscribeBatches(groupId: string, topics: readonly string[], handler: BatchHandler): Promise<BusSubscription> {
    return this.consume(groupId, topics, async (run) =>
      run({
        autoCommit: true,
        eachBatchAutoResolve: true,
        eachBatch: async (payload) => {
          const { batch } = payload;
          if (batch.messages.length === 0) return;
          await handler(batch.messages.map((m) => this.delivered(batch.topic, batch.partition, m)));
          await payload.heartbeat();
        },
      }),
    );
  }

  private delivered(topic: string, partition: number, message: KafkaMessage): DeliveredMessage {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    return {
      id: headers['message-id'] ?? `${topic}:${partition}:${message.offset}`,
      topic: topic.slice(this.prefix.length),
      key: message.key?.toString() ?? '',
      value: message.value ? JSON.parse(message.value.toString()) : null,
      headers,
      partition,
      offset: message.offset,
    };
  }

  private async consume(groupId: string, topics: readonly string[], start: (run: Consumer['run']) => Promise<void>): Promise<BusSubscription> {
    await this.ensureTopics(topics);
    const consumer = this.kafka.consumer({
      groupId: `${this.prefix}${groupId}`,
      allowAutoTopicCreation: false,
      retry: { retries: 10 },
      // the default 5 s fetch wait makes every rebalance and shutdown take 5 s
      maxWaitTimeInMs: 500,
      // a crashed member's partitions move to a live one after 10 s (kafkajs default: 30 s)
      sessionTimeout: 10_000,
      heartbeatInterval: 2_000,
    });
    await explained(consumer.connect());
    await consumer.subscribe({ topics: topics.map((t) => this.topic(t)), fromBeginning: true });
    this.consumers.add(consumer);
    await start((config) => consumer.run(config));
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.disconnect();
      },
    };
  }

  /**
   * Consumer lag per group and topic: the sum over partitions of (end offset - committed offset);
   * a partition the group never committed counts from the earliest offset.
   */
  async consumerLag(groups: ReadonlyArray<{ group: string; topics: readonly string[] }>): Promise<Array<{ group: string; topic: string; lag: number }>> {
    const admin = await this.getAdmin();
    const existing = new Set(await admin.listTopics());
    const out: Array<{ group: string; topic: string; lag: number }> = [];
    for (const g of groups) {
      for (const name of g.topics) {
        const topic = this.topic(name);
        if (!existing.has(topic)) continue;
        const ends = await admin.fetchTopicOffsets(topic);
        const committed = await admin.fetchOffsets({ groupId: `${this.prefix}${g.group}`, topics: [topic] });
        const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
        let lag = 0;
        for (const p of ends) {
          const at = done.get(p.partition);
          lag += Math.max(0, Number(p.high) - (at === undefined || at < 0 ? Number(p.low) : at));
        }
        out.push({ group: g.group, topic: name, lag });
      }
    }
    return out;
  }

  async healthy(): Promise<boolean> {
    try {
      const admin = await this.getAdmin();
      await admin.describeCluster();
      return true;
    } catch {
      const a = this.admin;
      this.admin = null;
      await a?.disconnect().catch(() => undefined);
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.disconnect().catch(() => undefined)));
    this.consumers.clear();
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.producer = null;
    this.admin = null;
  }
}

/** The text of the `error` kafkajs puts on a log entry: a message, a string, or nothing. */
function kafkaErrorText(err: unknown): string {
  return err instanceof Error ? err.message : typeof err === 'string' ? err : '';
}
