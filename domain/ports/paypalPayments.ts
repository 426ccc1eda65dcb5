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
import { createHash } from 'node:crypto';
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

const SAFE = /^[A-Za-z0-9_-]{1,100}$/;

export function parseCustomId(customId: unknown): { tenantId: string; invoiceId: string } | null {
  if (typeof customId !== 'string') return null;
  const [tenantId, invoiceId, ...rest] = customId.split('|');
  if (rest.length > 0 || !tenantId || !invoiceId || !SAFE.test(tenantId) || !SAFE.test(invoiceId)) return null;
  return { tenantId, invoiceId };
}

/** PayPal's limit for `custom_id` and `invoice_id` on a purchase unit. */
export const PAYPAL_CUSTOM_ID_MAX = 127;

/**
 * What Settle puts in `custom_id` (and `invoice_id`) of its orders: `<tenant>|<invoice>` when that
 * fits PayPal's 127 characters; otherwise (ids may have 100 characters each) `~` and the
 * base64url SHA-256 of it (44 characters), which names the invoice without spelling it: such
 * orders are found through the order id Settle remembers when it creates them (provider_refs),
 * and `customIdMatches` checks the digest against that invoice.
 */
export function customIdFor(tenantId: string, invoiceId: string): string {
  const plain = `${tenantId}|${invoiceId}`;
  return plain.length <= PAYPAL_CUSTOM_ID_MAX ? plain : `~${createHash('sha256').update(plain, 'utf8').digest('base64url')}`;
}

/** Whether a `custom_id` names this invoice (in either form). */
export function customIdMatches(customId: string | null | undefined, tenantId: string, invoiceId: string): boolean {
  return typeof customId === 'string' && customId === customIdFor(tenantId, invoiceId);
}

/** What capturing an approved order produced, in provider-neutral terms. */
export interface CaptureOutcome {
  readonly outcome: 'completed' | 'pending' | 'declined';
  readonly orderId: string;
  readonly captureId: string;
  readonly amount: Money;
  readonly declineCode: string | null;
  readonly reason: string | null;
  readonly occurredAt: string;
}

/**
 * Capturing an approved PayPal order (idempotent at PayPal by request id): the webhook path
 * (CHECKOUT.ORDER.APPROVED) and the buyer's return both capture through it.
 */
export interface PayPalOrderCapture {
  /** The order as PayPal has it: its id and custom_id. */
  order(orderId: string): Promise<{ readonly id: string; readonly customId: string | null }>;
  /** Captures the order; `customId` is the order's custom_id in PayPal's answer. */
  capture(orderId: string, requestId: string): Promise<{ readonly customId: string | null; readonly outcome: CaptureOutcome }>;
}
