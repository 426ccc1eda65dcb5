/**
 * Webhook ingestion after verification: store the event in the inbox (durable before any 2xx),
 * translate it, execute its steps, record the outcome. Parked and unfinished events are retried
 * (infrastructure/webhooks/retrier.ts calls `process` again with backoff), so an event whose
 * target did not exist yet is applied once it does — never dropped, never answered 5xx forever.
 */
import type { ProviderRefs, RefResolver } from '../../domain/ports/providerRefs';
import type { InboxEndpoint, InboxRow, InboxStatus, WebhookInbox } from '../../domain/ports/webhookInbox';
import type { AccountFlag, WebhookProcessor } from './processor';
import type { Step, Translation } from './steps';

export type Endpoint = InboxEndpoint;

export type Translator = (endpoint: Endpoint, payload: unknown, refs: RefResolver) => Promise<Translation>;

export interface IngestResult {
  readonly status: InboxStatus;
  readonly duplicate: boolean;
}

/** What ingestion reports (counted and logged by the composition root). */
export interface IngestObserver {
  received(e: { endpoint: Endpoint; eventType: string; duplicate: boolean }): void;
  /** Stored, but processing failed (e.g. the database blinked): the retrier finishes it. */
  deferred(e: { endpoint: Endpoint; eventId: string; eventType: string; err: unknown }): void;
  refused(e: { endpoint: Endpoint; eventId: string; eventType: string; code: string; reason: string }): void;
  unhandled(e: { endpoint: Endpoint; eventType: string }): void;
  /** A connected-account event flagged (counted once, at its first processing). */
  flagged(e: { eventType: string; flag: AccountFlag }): void;
  /** Processed, but the domain refused some of its steps. */
  noted(e: { endpoint: Endpoint; eventId: string; eventType: string; note: string }): void;
  parked(e: { endpoint: Endpoint; eventId: string; eventType: string; reason: string }): void;
}

export class WebhookIngestor {
  constructor(
    private readonly inbox: WebhookInbox,
    private readonly processor: WebhookProcessor,
    private readonly refs: ProviderRefs,
    private readonly translate: Translator,
    private readonly observer: IngestObserver,
  ) {}

  /**
   * Throws only when the event could not be stored (then the provider must retry: 5xx).
   * `verifiedJson`: the verified body the event was parsed from, stored as is when it can be.
   */
  async ingest(endpoint: Endpoint, eventId: string, eventType: string, accountId: string | null, verified: unknown, verifiedJson?: string): Promise<IngestResult> {
    const stored = await this.inbox.store({ endpoint, eventId, eventType, accountId, payload: verified, ...(verifiedJson !== undefined ? { verifiedJson } : {}) });
    this.observer.received({ endpoint, eventType: stored.eventType, duplicate: !stored.fresh });
    if (stored.status === 'processed' || stored.status === 'ignored') return { status: stored.status, duplicate: true };
    try {
      return { status: await this.process(endpoint, stored.eventId, stored.eventType, stored.payload, stored.fresh), duplicate: !stored.fresh };
    } catch (err) {
      this.observer.deferred({ endpoint, eventId: stored.eventId, eventType: stored.eventType, err });
      return { status: 'received', duplicate: !stored.fresh };
    }
  }

  /** Applies steps that did not come from a webhook (the PayPal buyer return) through the same processor. */
  async applySteps(causationId: string, steps: Step[]): Promise<void> {
    const outcome = await this.processor.execute(causationId, { outcome: 'steps', steps });
    if (outcome.status === 'parked') throw new Error(`cannot apply yet: ${outcome.reason}`);
  }

  /** Processes an inbox row again (a parked or unfinished event). */
  retry(row: InboxRow): Promise<InboxStatus> {
    return this.process(row.endpoint as Endpoint, row.eventId, row.eventType, row.payload);
  }

  /** `first`: the first time this event is processed (flags are counted once, not per retry). */
  async process(endpoint: Endpoint, eventId: string, eventType: string, payload: unknown, first = false): Promise<InboxStatus> {
    const account = endpoint === 'stripe_connect' ? ((payload as { account?: unknown }).account as string | undefined) : undefined;
    const scope = account ? { accountId: account, link: await this.refs.accountLink(account) } : undefined;
    const outcome = await this.processor.execute(eventId, await this.translate(endpoint, payload, this.refs), scope);
    if (outcome.status === 'ignored' && outcome.refused) this.observer.refused({ endpoint, eventId, eventType, code: outcome.refused.code, reason: outcome.refused.reason });
    else if (outcome.status === 'ignored') this.observer.unhandled({ endpoint, eventType });
    if (outcome.status !== 'ignored' && outcome.flag && first) this.observer.flagged({ eventType, flag: outcome.flag });
    if (outcome.status === 'processed' && outcome.note) this.observer.noted({ endpoint, eventId, eventType, note: outcome.note });
    if (outcome.status === 'parked') this.observer.parked({ endpoint, eventId, eventType, reason: outcome.reason });
    await this.inbox.mark(endpoint, eventId, outcome.status, outcome.status === 'parked' ? outcome.reason : outcome.status === 'processed' ? outcome.note : (outcome.refused?.reason ?? null));
    return outcome.status;
  }
}
