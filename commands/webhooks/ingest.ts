/**
 * Webhook ingestion after verification, queue first: `receive` stores the event in the inbox
 * (durable before the 2xx; concurrent deliveries share one INSERT and one commit) and nothing
 * else; the applier (infrastructure/webhooks/applier.ts) takes stored rows in batches and
 * `applyBatch` translates them, executes their steps (rows of one target stream in arrival
 * order, different streams side by side, appends grouped by the event store's group commit) and
 * marks every row in one statement. Parked and unfinished events are retried
 * (infrastructure/webhooks/retrier.ts) with backoff, so an event whose target did not exist yet is
 * applied once it does. `ingest` (store and apply at once) is reconciliation's path.
 */
import { jsonAt } from '../../domain/shared/json';
import type { ProviderRefs, RefResolver } from '../../domain/ports/providerRefs';
import type { InboxEndpoint, InboxRow, InboxStatus, WebhookInbox } from '../../domain/ports/webhookInbox';
import type { AccountFlag, AccountScope, ProcessOutcome, WebhookProcessor } from './processor';
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
  /** A delivery was stored for the applier (`receive`, first delivery): wake it. */
  queued?(): void;
  /** A parked event was delivered again and is due now: wake the retrier. */
  requeued?(): void;
  /** Recorded nothing (refused or a type Settle ignores): PayPal's transmission id is forgotten. */
  ignored?(e: { endpoint: Endpoint; eventId: string }): Promise<void> | void;
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

  /** Stores a verified event and nothing else (the applier applies it); `duplicate`: seen before. */
  async receive(endpoint: Endpoint, eventId: string, eventType: string, accountId: string | null, verified: unknown, verifiedJson?: string): Promise<IngestResult> {
    const stored = await this.inbox.store({ endpoint, eventId, eventType, accountId, payload: verified, ...(verifiedJson !== undefined ? { verifiedJson } : {}) });
    this.observer.received({ endpoint, eventType: stored.eventType, duplicate: !stored.fresh });
    if (stored.fresh) this.observer.queued?.();
    else if (stored.status === 'parked') {
      // a redelivery of a parked event retries it now, as a synchronous delivery did (its target may exist by now)
      await this.inbox.retryNow(endpoint, stored.eventId);
      this.observer.requeued?.();
    }
    return { status: stored.status, duplicate: !stored.fresh };
  }

  /**
   * Applies stored rows (status received) and marks them all in one statement. Rows are
   * translated side by side; rows that touch a common stream form one group and run in arrival
   * order, groups side by side (their stream reads and appends share statements through the
   * coalescer and the event store's group commit). A row that parked while other rows of the
   * batch changed something is tried once more, in arrival order, after them: delivered one by
   * one it would have seen what they applied (a reference learned, an invoice created). A row
   * whose processing throws stays received with the error (the retrier takes it with backoff).
   */
  async applyBatch(rows: readonly InboxRow[]): Promise<Array<{ row: InboxRow; status: InboxStatus }>> {
    const prepared = await Promise.all(rows.map((row) => this.prepare(row)));
    const outcomes = new Map<Prepared, BatchOutcome>();
    await Promise.all(
      groupByStream(prepared).map(async (group) => {
        for (const i of group) {
          const p = rowAt(prepared, i);
          outcomes.set(p, await this.run(p));
        }
      }),
    );
    const outcomeOf = (p: Prepared): BatchOutcome => {
      const o = outcomes.get(p);
      if (!o) throw new Error(`webhook ${p.row.eventId} was in no group of its batch`);
      return o;
    };
    if (prepared.some((p) => outcomeOf(p).status === 'processed')) {
      for (const p of prepared) if (outcomeOf(p).status === 'parked') outcomes.set(p, await this.run(await this.prepare(p.row)));
    }
    const marks: Array<{ endpoint: string; eventId: string; status: InboxStatus; note: string | null }> = [];
    const out: Array<{ row: InboxRow; status: InboxStatus }> = [];
    for (const p of prepared) {
      const row = p.row;
      const endpoint = row.endpoint as Endpoint;
      const outcome = outcomeOf(p);
      if (outcome.status === 'failed') {
        this.observer.deferred({ endpoint, eventId: row.eventId, eventType: row.eventType, err: outcome.err });
        marks.push({ endpoint: row.endpoint, eventId: row.eventId, status: 'received', note: errorNote(outcome.err) });
        out.push({ row, status: 'received' });
        continue;
      }
      const mark = this.report(endpoint, row.eventId, row.eventType, outcome, row.attempts === 0);
      // before the row is marked: a reader who sees it ignored finds its traces (PayPal's transmission id) gone
      if (mark.status === 'ignored') await this.observer.ignored?.({ endpoint, eventId: row.eventId });
      marks.push({ endpoint: row.endpoint, eventId: row.eventId, ...mark });
      out.push({ row, status: mark.status });
    }
    await this.inbox.markMany(marks);
    return out;
  }

  /** A row's translation and Connect scope (or what failed while reading them). */
  private async prepare(row: InboxRow): Promise<Prepared> {
    try {
      const endpoint = row.endpoint as Endpoint;
      const account = endpoint === 'stripe_connect' ? ((row.payload as { account?: unknown }).account as string | undefined) : undefined;
      const scope = account ? { accountId: account, link: await this.refs.accountLink(account) } : undefined;
      return { row, scope, translation: await this.translate(endpoint, row.payload, this.refs), error: null };
    } catch (err) {
      return { row, scope: undefined, translation: null, error: err };
    }
  }

  private async run(p: Prepared): Promise<BatchOutcome> {
    try {
      if (!p.translation) throw p.error;
      return await this.processor.execute(p.row.eventId, p.translation, p.scope);
    } catch (err) {
      return { status: 'failed', err };
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
    const mark = this.report(endpoint, eventId, eventType, outcome, first);
    if (mark.status === 'ignored') await this.observer.ignored?.({ endpoint, eventId });
    await this.inbox.mark(endpoint, eventId, mark.status, mark.note);
    return mark.status;
  }

  /** Counts and logs an outcome; returns the row's mark. */
  private report(endpoint: Endpoint, eventId: string, eventType: string, outcome: ProcessOutcome, first: boolean): { status: InboxStatus; note: string | null } {
    if (outcome.status === 'ignored' && outcome.refused) this.observer.refused({ endpoint, eventId, eventType, code: outcome.refused.code, reason: outcome.refused.reason });
    else if (outcome.status === 'ignored') this.observer.unhandled({ endpoint, eventType });
    if (outcome.status !== 'ignored' && outcome.flag && first) this.observer.flagged({ eventType, flag: outcome.flag });
    if (outcome.status === 'processed' && outcome.note) this.observer.noted({ endpoint, eventId, eventType, note: outcome.note });
    if (outcome.status === 'parked') this.observer.parked({ endpoint, eventId, eventType, reason: outcome.reason });
    return { status: outcome.status, note: outcome.status === 'parked' ? outcome.reason : outcome.status === 'processed' ? outcome.note : (outcome.refused?.reason ?? null) };
  }
}

type BatchOutcome = ProcessOutcome | { status: 'failed'; err: unknown };

/** What a failed row's note says: the error's message when it has one, else the thrown value as text. */
function errorNote(err: unknown): string {
  const message = jsonAt(err, 'message');
  return typeof message === 'string' ? message : String(err);
}

interface Prepared {
  readonly row: InboxRow;
  readonly scope: AccountScope | undefined;
  readonly translation: Translation | null;
  readonly error: unknown;
}

/** The aggregate streams a translation's steps decide on. */
function streamsOf(t: Translation | null): string[] {
  if (!t || t.outcome !== 'steps') return [];
  const out: string[] = [];
  for (const st of t.steps) {
    if (st.kind === 'invoice' || st.kind === 'paypal_capture') out.push(`invoice:${st.tenantId}:${st.invoiceId}`);
    else if (st.kind === 'booking') out.push(`booking:${st.tenantId}:${st.bookingId}`);
    else if (st.kind === 'subscription' || st.kind === 'plan_change_outcome' || st.kind === 'subscription_snapshot') out.push(`subscription:${st.tenantId}:${st.customerId}`);
  }
  return out;
}

/**
 * Row indexes grouped so that rows sharing any stream are in one group (union of the streams they
 * touch), each group in arrival order; a row that touches no stream is a group of its own.
 */
/** The row at an index groupByStream named (an index outside the batch is a bug, not a row). */
function rowAt<T>(rows: readonly T[], i: number): T {
  const row = rows[i];
  if (row === undefined) throw new Error(`row ${i} is outside a batch of ${rows.length}`);
  return row;
}

export function groupByStream(prepared: readonly { translation: Translation | null }[]): number[][] {
  const parent = new Map<number, number>(); // a row with no parent is the root of its group
  const find = (i: number): number => {
    let r = i;
    for (let p = parent.get(r); p !== undefined; p = parent.get(r)) {
      const up = parent.get(p) ?? p; // path halving
      parent.set(r, up);
      r = up;
    }
    return r;
  };
  const owner = new Map<string, number>();
  prepared.forEach((p, i) => {
    for (const s of streamsOf(p.translation)) {
      const o = owner.get(s);
      if (o === undefined) owner.set(s, i);
      else {
        const [a, b] = [find(i), find(o)];
        if (a !== b) parent.set(a, b);
      }
    }
  });
  const groups = new Map<number, number[]>();
  prepared.forEach((_, i) => {
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(i);
    else groups.set(r, [i]);
  });
  return [...groups.values()];
}
