/**
 * What the HTTP layer is handed by the composition root (main/compose.ts): typed services, each
 * route module taking only the ones it uses. The interfaces here are ports declared where they are
 * used; main/ passes the adapters that implement them.
 */

/** /readyz: the answer and its checks. */
export interface ReadinessCheck {
  ok: boolean;
  degraded?: boolean;
  detail?: string;
}
export interface ReadinessSource {
  readiness(): Promise<{ status: 'ready' | 'degraded' | 'unavailable'; checks: Record<string, ReadinessCheck> }>;
}

/** A message key held by the outbox relay or a consumer group. */
export interface HeldKey {
  readonly key: string;
  readonly stage: string;
  readonly messageId: string;
  readonly topic: string;
  readonly attempts: number;
  readonly error: string | null;
  readonly since: Date;
  readonly nextAttemptAt: Date | null;
  readonly parked: boolean;
  readonly waiting: number;
}

/** Held and parked message keys: list, release (retry now), skip the head message with a reason. */
export interface HeldKeys {
  list(): Promise<HeldKey[]>;
  release(key: string, stage?: string): Promise<string[]>;
  skip(key: string, reason: string, skippedBy: string, stage?: string): Promise<Array<{ stage: string; messageId: string; topic: string }>>;
}

/** The relay's view of the outbox, as the console shows it. */
export interface OutboxView {
  status(): Promise<{ backlog: number; oldestAgeSeconds: number; leader: boolean; lastError: string | null; stuck: boolean }>;
}

/** Webhook inbox rows per status. */
export interface InboxCounts {
  counts(): Promise<Record<string, number>>;
}

/** Kafka consumer lag of Settle's groups (the console's System page); null on the in-process bus. */
export type ConsumerLag = (() => Promise<import('./console/pages').SystemView['kafka']>) | null;

/** The /metrics exposition. */
export interface MetricsExposition {
  readonly registry: { readonly contentType: string; metrics(): Promise<string> };
}
