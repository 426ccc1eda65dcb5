/**
 * What a Stripe failure means to Settle, and which failures the SDK may retry on its own.
 *
 * stripe-node raises a small class hierarchy (`StripeCardError`, `StripeRateLimitError`, ...),
 * told apart here with `instanceof` on the SDK's classes (`Stripe.errors.*`). Nothing above this adapter sees those classes: every failure becomes
 * a `ProviderError` of the port's vocabulary.
 *
 *   card_error                                    -> declined (code, decline_code)
 *     ... with code/decline_code authentication_required
 *   authentication_required / requires_action     -> needs_action
 *   rate limit (429), connection, api_error (5xx), 409 -> retryable
 *   invalid_request_error, idempotency_error      -> invalid
 *   authentication (401), permission (403)        -> auth
 *
 * Retrying with the same idempotency key is what `retryable` invites, but note Stripe's v1
 * idempotency: once a request started executing, its response (a 500 included) is saved and a
 * same-key retry gets the saved response back. A 402 decline is saved the same way, which is why
 * a card `processing_error` stays `declined` rather than `retryable`.
 */
import Stripe from 'stripe';
import { ProviderError } from '../../domain/ports/billingProvider';

type StripeError = InstanceType<typeof Stripe.errors.StripeError>;

/** Codes meaning the customer must act (3-D Secure, ...) before the payment can go through. */
const NEEDS_ACTION_CODES = new Set(['authentication_required', 'payment_intent_action_required', 'invoice_payment_intent_requires_action']);

function isStripeError(err: unknown): err is StripeError {
  return err instanceof Stripe.errors.StripeError;
}

function orNull(s: string | null | undefined): string | null {
  return s === undefined || s === null || s === '' ? null : s;
}

function needsAction(e: StripeError): boolean {
  return (
    NEEDS_ACTION_CODES.has(e.code ?? '') ||
    NEEDS_ACTION_CODES.has(e.decline_code ?? '') ||
    (e.payment_intent as { status?: string } | undefined)?.status === 'requires_action'
  );
}

/**
 * Maps anything thrown by a Stripe call to a ProviderError. A ProviderError passes through; an
 * error that is not from the SDK (a bug of ours) is rethrown unchanged rather than disguised.
 */
export function toProviderError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  if (!isStripeError(err)) throw err;
  const message = err.message || err.type;
  const code = orNull(err.code);
  const declineCode = orNull(err.decline_code);
  if (needsAction(err)) return new ProviderError('needs_action', message, code ?? 'authentication_required', declineCode);
  const E = Stripe.errors;
  if (err instanceof E.StripeCardError) return new ProviderError('declined', message, code ?? 'card_declined', declineCode);
  if (err instanceof E.StripeRateLimitError) return new ProviderError('retryable', message, code ?? 'rate_limit');
  if (err instanceof E.StripeConnectionError) return new ProviderError('retryable', message, 'connection_error');
  // 5xx, and 409 (a concurrent request with the same idempotency key is still running)
  if (err instanceof E.StripeAPIError) return new ProviderError('retryable', message, code ?? `http_${err.statusCode ?? 'unknown'}`);
  if (err instanceof E.StripeAuthenticationError || err instanceof E.StripePermissionError) {
    return new ProviderError('auth', message, code ?? (err.statusCode === 403 ? 'permission_denied' : 'authentication_failed'));
  }
  if (err instanceof E.StripeIdempotencyError) return new ProviderError('invalid', message, code ?? 'idempotency_error');
  if (err instanceof E.StripeInvalidRequestError) return new ProviderError('invalid', message, code ?? 'invalid_request');
  // Anything newer than this mapping: decide by HTTP status, never leak the class.
  if (err.statusCode === 429 || (err.statusCode !== undefined && err.statusCode >= 500)) return new ProviderError('retryable', message, code);
  if (err.statusCode === 401 || err.statusCode === 403) return new ProviderError('auth', message, code);
  if (err.statusCode === 402) return new ProviderError('declined', message, code, declineCode);
  return new ProviderError('invalid', message, code);
}

/**
 * The SDK's retry policy, narrowed. stripe-node on its own retries connection errors, 409s,
 * every 5xx and whatever a `Stripe-Should-Retry: true` header asks for, but not a 429. Settle
 * retries automatically only what cannot have acted and will likely pass on a later try: rate
 * limits (429) and connection errors (no response at all). This wraps the SDK's HTTP client and
 * overrides `Stripe-Should-Retry` on every error response before the SDK's retry decision reads
 * it: `true` on a 429 (unless Stripe itself said false), `false` on everything else. Connection
 * errors have no response, so the SDK keeps retrying them (up to `maxNetworkRetries`, with its
 * exponential backoff 0.5 s .. 5 s and jitter, reusing the same Idempotency-Key).
 */
export function onlyRateLimitAndConnectionRetries(inner: Stripe.HttpClient): Stripe.HttpClient {
  return {
    getClientName: () => inner.getClientName(),
    makeRequest: async (...args: Parameters<Stripe.HttpClient['makeRequest']>) => {
      const res = await inner.makeRequest(...args);
      const status = res.getStatusCode();
      if (status < 400) return res;
      const verdict = status === 429 && res.getHeaders()['stripe-should-retry'] !== 'false' ? 'true' : 'false';
      const wrapped: Stripe.HttpClientResponse = {
        getStatusCode: () => status,
        getHeaders: () => ({ ...res.getHeaders(), 'stripe-should-retry': verdict }),
        getRawResponse: () => res.getRawResponse(),
        toStream: (done) => res.toStream(done),
        toJSON: () => res.toJSON(),
      };
      if (res.dispose) wrapped.dispose = () => res.dispose?.();
      return wrapped;
    },
  };
}
