/**
 * The one exponential backoff of Settle: the delay before retry number `attempt` (1 = the first
 * retry) is `baseMs * 2^(attempt - 1)`, capped at `maxMs`. Every retry loop uses it: the outbox
 * relay's held keys and its own failing passes, consumer isolation, catch-up subscriptions, the
 * finance consumer's subscribe loop, the CRM saga's scheduled retries, reconciliation's provider
 * reads. (Only the webhook inbox computes its retry time in SQL, in the statement that parks the
 * event: `webhook_inbox.next_attempt_at`, 2^attempts seconds capped at an hour.)
 *
 * Jitter, for retries many callers make at once (the CRM saga): `'equal'` draws uniformly in
 * [half the capped delay, the capped delay], so retries spread without ever coming sooner than
 * half the backoff. Pure: the random source is a parameter.
 */
export interface BackoffPolicy {
  /** The delay before the first retry. */
  readonly baseMs: number;
  /** No delay is longer than this. */
  readonly maxMs: number;
  /** `none` (default): the exact delay. `equal`: uniform in [delay/2, delay]. */
  readonly jitter?: 'none' | 'equal';
}

/** 2^30 is far beyond any cap; the exponent stops there so a large attempt count cannot overflow to Infinity. */
const MAX_EXPONENT = 30;

/** The delay in ms before retry `attempt` (1-based; 0 or less counts as 1). `random` returns [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt) - 1), MAX_EXPONENT);
  const capped = Math.max(0, Math.min(policy.maxMs, policy.baseMs * 2 ** exponent));
  if (policy.jitter !== 'equal') return capped;
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(capped / 2 + (capped / 2) * r);
}
