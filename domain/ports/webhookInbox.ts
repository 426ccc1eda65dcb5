/**
 * The inbox of verified provider events: stored before anything acts on them, then marked with
 * their outcome. The webhook ingestor (commands/webhooks/ingest.ts) uses it; the SQL adapter is
 * infrastructure/webhooks/inbox.ts (table webhook_inbox).
 */

export type InboxEndpoint = 'stripe' | 'stripe_connect' | 'paypal';

export type InboxStatus = 'received' | 'processed' | 'parked' | 'ignored';

export interface InboxRow {
  endpoint: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
  payload: unknown;
  status: InboxStatus;
  attempts: number;
  receivedAt: Date;
}

/** A verified event as it came: `verifiedJson` is the text it was parsed from, stored as is when the store can hold it. */
export interface VerifiedEvent {
  readonly endpoint: InboxEndpoint;
  readonly eventId: string;
  readonly eventType: string;
  readonly accountId: string | null;
  readonly payload: unknown;
  readonly verifiedJson?: string;
}

/**
 * What was stored: `fresh` for the first delivery of the event; `status` of its row. The id, type
 * and payload as the store holds them (characters it cannot hold are replaced), which is what the
 * event is processed from, now and on every retry.
 */
export interface StoredEvent {
  readonly fresh: boolean;
  readonly status: InboxStatus;
  readonly eventId: string;
  readonly eventType: string;
  readonly payload: unknown;
}

export interface WebhookInbox {
  /** Stores a verified event durably, or finds the row of an earlier delivery. */
  store(event: VerifiedEvent): Promise<StoredEvent>;
  /** Records an outcome (`note`: the reason of a park, the refusal, what the domain refused). */
  mark(endpoint: string, eventId: string, status: InboxStatus, note: string | null): Promise<void>;
  /** Records several outcomes in one statement (the applier's batch). */
  markMany(outcomes: ReadonlyArray<{ endpoint: string; eventId: string; status: InboxStatus; note: string | null }>): Promise<void>;
  /** Stored events never tried yet (status received, no attempt), oldest first: the applier's queue. */
  unapplied(limit: number): Promise<InboxRow[]>;
  /** The applier's queue: how many rows were never tried, the oldest one's key and age in seconds (null, 0 when empty). */
  queue(): Promise<{ backlog: number; oldest: string | null; oldestAgeSeconds: number }>;
  /** A parked event delivered again: due for a retry now (its target may exist by now). */
  retryNow(endpoint: string, eventId: string): Promise<void>;
  /** Events to (re)process now: parked ones whose retry time came, received ones never finished; `all`: every unfinished one. */
  due(limit: number, all?: boolean): Promise<InboxRow[]>;
  counts(): Promise<Record<InboxStatus, number>>;
}
