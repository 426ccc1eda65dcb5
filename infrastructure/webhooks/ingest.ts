/**
 * Webhook ingestion after verification: store the event in the inbox (durable before any 2xx),
 * translate it, execute its steps, record the outcome. Parked and unfinished events are retried
 * by `InboxRetrier` with backoff, so an event whose target did not exist yet is applied once it
 * does — never dropped, never answered 5xx forever.
 */
import { UNSTORABLE_TEXT } from '../sql/client';
import { Wakeable } from '../background';
import type { WebhookProcessor } from '../../commands/webhooks/processor';
import type { RefResolver, Translation } from '../../commands/webhooks/steps';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { LeaderLease } from '../sql/leaderLease';
import type { InboxStatus, WebhookInbox } from './inbox';

export type Endpoint = 'stripe' | 'stripe_connect' | 'paypal';

export type Translator = (endpoint: Endpoint, payload: unknown, refs: RefResolver) => Promise<Translation>;

export interface IngestResult {
  readonly status: InboxStatus;
  readonly duplicate: boolean;
}

export class WebhookIngestor {
  constructor(
    private readonly inbox: WebhookInbox,
    private readonly processor: WebhookProcessor,
    private readonly refs: import('../../commands/webhooks/processor').ProviderRefs,
    private readonly translate: Translator,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Throws only when the event could not be stored (then the provider must retry: 5xx).
   * `verifiedJson`: the verified body the event was parsed from, stored as is when it can be.
   */
  async ingest(endpoint: Endpoint, eventId: string, eventType: string, accountId: string | null, verified: unknown, verifiedJson?: string): Promise<IngestResult> {
    // PostgreSQL cannot store NUL in text or jsonb, and lone surrogates are not Unicode: a verified
    // event is never refused for its text; those characters become U+FFFD. JSON text can only
    // carry them as \u escapes, so a body without such escapes is stored as it came.
    // (a leading byte-order mark is not JSON to PostgreSQL: such a body is re-serialised too)
    const clean = verifiedJson !== undefined && verifiedJson.charCodeAt(0) !== 0xfeff && !MAY_ESCAPE_UNSTORABLE.test(verifiedJson);
    const payload = clean ? verified : storable(verified);
    const payloadJson = clean ? verifiedJson : JSON.stringify(payload);
    eventId = storable(eventId) as string;
    eventType = storable(eventType) as string;
    const stored = await this.inbox.receive(endpoint, eventId, eventType, accountId, payloadJson);
    this.metrics.webhooksReceived.inc({ endpoint, type: eventType, duplicate: String(!stored.fresh) });
    if (stored.status === 'processed' || stored.status === 'ignored') return { status: stored.status, duplicate: true };
    try {
      return { status: await this.process(endpoint, eventId, eventType, payload, stored.fresh), duplicate: !stored.fresh };
    } catch (err) {
      // Stored but not applied (e.g. the database blinked): the retrier finishes it.
      this.logger.error({ err, endpoint, eventId, eventType }, 'webhook stored but not processed yet; it will be retried');
      return { status: 'received', duplicate: !stored.fresh };
    }
  }

  /** Applies steps that did not come from a webhook (the PayPal buyer return) through the same processor. */
  async applySteps(causationId: string, steps: import('../../commands/webhooks/steps').Step[]): Promise<void> {
    const outcome = await this.processor.execute(causationId, { outcome: 'steps', steps });
    if (outcome.status === 'parked') throw new Error(`cannot apply yet: ${outcome.reason}`);
  }

  /** `first`: the first time this event is processed (flags are counted once, not per retry). */
  async process(endpoint: Endpoint, eventId: string, eventType: string, payload: unknown, first = false): Promise<InboxStatus> {
    const account = endpoint === 'stripe_connect' ? ((payload as { account?: unknown }).account as string | undefined) : undefined;
    const scope = account ? { accountId: account, link: await this.refs.accountLink(account) } : undefined;
    const outcome = await this.processor.execute(eventId, await this.translate(endpoint, payload, this.refs), scope);
    if (outcome.status === 'ignored' && outcome.refused) {
      this.metrics.webhooksRefused.inc({ endpoint, type: eventType, reason: outcome.refused.code });
      this.logger.warn({ endpoint, eventId, eventType, refused: outcome.refused.code, reason: outcome.refused.reason }, "webhook refused: the provider's API contradicts it; nothing recorded");
    } else if (outcome.status === 'ignored') this.metrics.webhooksUnhandled.inc({ endpoint, type: eventType });
    if (outcome.status !== 'ignored' && outcome.flag && first) this.metrics.connectAccountFlagged.inc({ reason: outcome.flag, type: eventType });
    if (outcome.status === 'processed' && outcome.note) this.logger.warn({ endpoint, eventId, eventType, note: outcome.note }, 'webhook processed; some of its steps were refused by the domain');
    if (outcome.status === 'parked') this.logger.warn({ endpoint, eventId, eventType, reason: outcome.reason }, 'webhook parked until its target exists');
    await this.inbox.mark(endpoint, eventId, outcome.status, outcome.status === 'parked' ? outcome.reason : outcome.status === 'processed' ? outcome.note : (outcome.refused?.reason ?? null));
    return outcome.status;
  }
}

const UNSTORABLE_TEXT_ALL = new RegExp(UNSTORABLE_TEXT.source, 'g');
/**
 * JSON text that may decode to NUL or a lone surrogate: a \u0000 or \uD800-\uDFFF escape, or
 * such a character itself (JSON.parse refuses a raw NUL, but the text may have one). Pairs of
 * surrogate escapes (valid) also match; they then take the slow path, which keeps them.
 */
const MAY_ESCAPE_UNSTORABLE = /\\u(?:0000|[dD][89a-fA-F])|\u0000|[\ud800-\udfff]/;

export function storable(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(UNSTORABLE_TEXT_ALL, '\ufffd');
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k) as string, storable(v)]));
  return value;
}

/** Retries parked and unfinished inbox events; one active retrier per cluster. */
export class InboxRetrier {
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly sleeper = new Wakeable();
  private eager = false;

  constructor(
    private readonly inbox: WebhookInbox,
    private readonly ingestor: WebhookIngestor,
    private readonly lease: LeaderLease,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
    private readonly wakeFloorMs = 250,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.sleeper.interrupt();
    await this.loop;
    await this.lease.release();
  }

  /** New facts were appended: parked events may now find their target, so retry them all now. */
  wake(eager = false): void {
    this.eager = this.eager || eager;
    this.sleeper.wake();
  }

  /** One pass over due events (tests call it for determinism). */
  async runOnce(all = false): Promise<number> {
    const due = await this.inbox.due(100, all);
    for (const row of due) {
      try {
        await this.ingestor.process(row.endpoint as never, row.eventId, row.eventType, row.payload);
      } catch (err) {
        this.logger.error({ err, eventId: row.eventId }, 'webhook retry failed');
        await this.inbox.mark(row.endpoint, row.eventId, row.status === 'parked' ? 'parked' : 'received', (err as Error).message).catch(() => undefined);
      }
    }
    return due.length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (await this.lease.tryAcquire()) {
          const eager = this.eager;
          this.eager = false;
          await this.runOnce(eager);
        }
      } catch (err) {
        this.logger.error({ err }, 'webhook retrier pass failed');
      }
      // Appends wake the retrier so parked events find their new target soon; the floor keeps a
      // busy service from rescanning the inbox once per append.
      if (this.running) await this.sleeper.sleep(this.intervalMs, this.wakeFloorMs);
    }
  }
}
