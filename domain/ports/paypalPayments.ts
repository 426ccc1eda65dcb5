/**
 * PayPal's own record of its payment objects, read from its API. A webhook body is signed only
 * through a CRC32 of it (shared/providers/SIGNATURES.md §2), and CRC32 is linear: from one genuine
 * delivery anyone can build another body with the same CRC32 and so the same valid signature.
 * Money is therefore never recorded from a PayPal webhook body: the event names the object, and
 * what is recorded (amount, status, custom_id, ids) is what this port reads back.
 *
 * `null`: PayPal has no such object (404, or an id that cannot be one). A failure to ask PayPal
 * throws ProviderError (`retryable`, `unavailable`, `auth`): the caller retries later.
 */
import type { Money } from '../shared/money';

export interface PayPalCaptureFacts {
  readonly id: string;
  /** COMPLETED, DECLINED, PARTIALLY_REFUNDED, PENDING, REFUNDED, FAILED (and REVERSED where PayPal says so). */
  readonly status: string;
  readonly amount: Money;
  readonly orderId: string | null;
  readonly customId: string | null;
  readonly processorResponseCode: string | null;
  readonly statusReason: string | null;
  readonly createTime: string | null;
  readonly updateTime: string | null;
}

export interface PayPalOrderFacts {
  readonly id: string;
  /** CREATED, SAVED, APPROVED, VOIDED, COMPLETED, PAYER_ACTION_REQUIRED. */
  readonly status: string;
  readonly customId: string | null;
  readonly amount: Money | null;
  readonly captures: readonly PayPalCaptureFacts[];
}

export interface PayPalRefundFacts {
  readonly id: string;
  /** CANCELLED, FAILED, PENDING, COMPLETED. */
  readonly status: string;
  readonly amount: Money;
  /** The refunded capture (its `up` link). */
  readonly captureId: string | null;
  readonly customId: string | null;
  readonly noteToPayer: string | null;
  readonly createTime: string | null;
}

export interface PayPalPaymentsReader {
  lookupOrder(orderId: string): Promise<PayPalOrderFacts | null>;
  lookupCapture(captureId: string): Promise<PayPalCaptureFacts | null>;
  lookupRefund(refundId: string): Promise<PayPalRefundFacts | null>;
}
