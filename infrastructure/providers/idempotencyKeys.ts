/**
 * The idempotency key Settle sends to a payment provider for one of its own request keys.
 *
 * Request keys are built by commands from ids and labels (`invoice-payment|<tenant>|<invoice>|…`)
 * and can be as long as their parts: a tenant id alone may have 100 characters, an idempotency
 * seed 64. Providers cap the header: PayPal's Orders v2 `PayPal-Request-Id` takes 1 to 108
 * characters (Payments v2 publishes no limit; the tightest one applies to every PayPal call), and
 * Stripe's `Idempotency-Key` at most 255. A key over the cap is refused (PayPal 400, Stripe 400
 * idempotency_error), permanently, so it must never be sent.
 *
 * Every request key is therefore sent as a fixed-length digest: `settle1_` + the SHA-256 of the
 * key's UTF-8 bytes in lowercase hex (72 characters, inside both limits, whatever the input).
 * Fixed length makes the encoding prefix-free: no sent key is a prefix of another, and two
 * different request keys are two different provider keys (short of a SHA-256 collision), so a
 * retried call keeps its key and two different calls never share one. The version prefix leaves
 * room for another derivation without ever colliding with this one.
 */
import { createHash } from 'node:crypto';
import { ProviderError } from '../../domain/ports/billingProvider';

/** Longest key each provider accepts (characters). */
export const PROVIDER_IDEMPOTENCY_KEY_LIMITS = { paypal: 108, stripe: 255 } as const;

export const PROVIDER_IDEMPOTENCY_KEY_LENGTH = 'settle1_'.length + 64;

/** The provider key for a non-empty request key; ProviderError('invalid') for an empty one. */
export function providerIdempotencyKey(requestKey: string): string {
  if (typeof requestKey !== 'string' || requestKey.length === 0) throw new ProviderError('invalid', 'a provider call needs a non-empty idempotency key', 'INVALID_REQUEST_ID');
  return `settle1_${createHash('sha256').update(requestKey, 'utf8').digest('hex')}`;
}
