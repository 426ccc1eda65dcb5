/**
 * What the HTTP layer is handed by the composition root (main/compose.ts): typed services, each
 * route module taking only the ones it uses. The interfaces here are ports declared where they are
 * used; main/ passes the adapters that implement them.
 */
import type { Counter, Gauge, Histogram } from 'prom-client';

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

/** The instruments http records, besides the exposition (the service's Prometheus metrics). */
export interface HttpMetrics extends MetricsExposition {
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly liveStreams: Gauge<'kind'>;
  readonly consoleSignIns: Counter<'outcome'>;
  readonly webhooksRejected: Counter<'endpoint' | 'reason'>;
}

/** The settings http reads: a part of the validated configuration (infrastructure/config/config.ts). */
export interface HttpSettings {
  readonly TRUST_PROXY: number | string[];
  readonly PUBLIC_BASE_URL: string;
  readonly ADMIN_API_KEY?: string | undefined;
  readonly METRICS_TOKEN?: string | undefined;
  readonly STRIPE_WEBHOOK_SECRET?: string | undefined;
  readonly STRIPE_CONNECT_WEBHOOK_SECRET?: string | undefined;
  readonly stripeLivemode: boolean;
  readonly WEBHOOK_TOLERANCE_SECONDS: number;
  readonly PAYPAL_API_BASE: string;
  readonly PAYPAL_WEBHOOK_TOLERANCE_SECONDS: number;
  readonly PAYER_LINK_TTL_SECONDS: number;
  readonly CONSOLE_SESSION_TTL_SECONDS: number;
  readonly LIVE_HEARTBEAT_SECONDS: number;
  readonly LIVE_STREAMS_PER_PRINCIPAL: number;
  readonly LIVE_STREAMS_PER_IP: number;
  readonly OUTBOX_STUCK_SECONDS: number;
  readonly RATE_LIMIT_API_BURST: number;
  readonly RATE_LIMIT_API_PER_SECOND: number;
  readonly RATE_LIMIT_WEBHOOK_BURST: number;
  readonly RATE_LIMIT_WEBHOOK_PER_SECOND: number;
  readonly RATE_LIMIT_PUBLIC_BURST: number;
  readonly RATE_LIMIT_PUBLIC_PER_SECOND: number;
  readonly RATE_LIMIT_HEALTH_BURST: number;
  readonly RATE_LIMIT_HEALTH_PER_SECOND: number;
  readonly RATE_LIMIT_AUTH_BURST: number;
  readonly RATE_LIMIT_AUTH_PER_SECOND: number;
}

/** The ids of the request being handled, bound for every log line and appended event while `fn` runs. */
export type RunWithContext = <T>(ctx: { readonly requestId: string; readonly correlationId: string }, fn: () => T) => T;
