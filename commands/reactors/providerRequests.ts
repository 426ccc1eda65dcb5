/**
 * Carries out provider calls that events request: when a subscription is suspended after its
 * final failed payment, the provider subscription is cancelled and the open invoice voided.
 * Runs as a catch-up subscription with a durable checkpoint (at-least-once); each call's
 * idempotency key is the requesting event's id, so a redelivery cannot act twice at the
 * provider. Whatever path recorded the event (API command, webhook), the call happens once.
 */
import { ProviderError, type BillingProvider } from '../../domain/ports/billingProvider';
import type { RecordedEvent } from '../../domain/ports/eventStore';

export const PROVIDER_REQUEST_EVENTS = new Set(['ProviderSubscriptionCancellationRequested', 'OpenInvoiceVoidRequested']);

export interface ReactorLog {
  warn(obj: object, msg: string): void;
}

export function providerRequestHandler(provider: () => BillingProvider, log?: ReactorLog) {
  return async (events: readonly RecordedEvent[]): Promise<void> => {
    for (const e of events) {
      if (!PROVIDER_REQUEST_EVENTS.has(e.type)) continue;
      const d = e.data as { providerSubscriptionId?: string; providerInvoiceId?: string };
      try {
        if (e.type === 'ProviderSubscriptionCancellationRequested' && d.providerSubscriptionId) {
          await provider().cancelSubscription({ idempotencyKey: `event|${e.id}`, providerSubscriptionId: d.providerSubscriptionId, atPeriodEnd: false });
        } else if (e.type === 'OpenInvoiceVoidRequested' && d.providerInvoiceId) {
          await provider().voidInvoice({ idempotencyKey: `event|${e.id}`, providerInvoiceId: d.providerInvoiceId });
        }
      } catch (err) {
        // Already cancelled or voided at the provider (e.g. by the provider's own dunning): done.
        if (err instanceof ProviderError && err.kind === 'invalid') {
          log?.warn({ eventId: e.id, type: e.type, err: err.message }, 'provider refused the requested call as invalid; treating it as already done');
          continue;
        }
        throw err; // retried from the checkpoint with backoff
      }
    }
  };
}
