/**
 * HTTP client for the trip-booking CRM (Peak15-style): creates the contact booking for a paid
 * Settle booking and associates the payment with it. Implements the `Crm` port of the CRM sync
 * saga (domain/ports/crm.ts, re-exported by ./port.ts).
 *
 * Wire protocol (JSON, `Authorization: Bearer <apiKey>`):
 *
 *   POST {baseUrl}/contact-bookings
 *     { external_reference, "contact.firstname", "contact.lastname", "contact.emailaddress1",
 *       "contact.primaryphone", "p15_bookings.p15_tripdepartures_bookingsid",
 *       "p15_bookings.p15_waitlisted", p15_guests: [{ "contact.firstname", "contact.lastname",
 *       "contact.emailaddress1"?, isClient }], "p15_invoices.p15_paymentscheduleid",
 *       amount: "10.50", currency: "EUR", returnallids: true }
 *     -> 201 created / 200 already existed (the CRM deduplicates on external_reference):
 *        { id, external_reference, ids: { contactid, p15_bookingsid, p15_invoicesid, ... } }
 *
 *   POST {baseUrl}/contact-bookings/{id}/payments
 *     { external_reference, payment_id, amount: "10.50", currency: "EUR" }
 *     -> 201 associated / 200 already associated (idempotent on payment_id):
 *        { id, booking_id, payment_id, external_reference }
 *
 * Amounts go out as decimal strings made from integer minor units with string arithmetic
 * (`toDecimalString`): 1050 EUR -> "10.50", 500 JPY -> "500". No float touches an amount.
 *
 * Failures are `CrmError` (the port's class; thrown as `CrmCallError`, which adds the operation
 * and the answer's body), never fetch errors:
 *   timeout      no complete answer within `timeoutMs` (default 30 s)        -> retry
 *   unavailable  connection failure, 5xx, 408, 429, or an unreadable 2xx    -> retry
 *   rejected     any other 4xx (status and body kept), a 3xx, a request
 *                refused before sending (invalid input; status null)        -> do not retry
 * Retrying is safe: both calls are idempotent at the CRM (external reference, payment id), so a
 * call that timed out after the CRM acted is answered with the same ids the next time.
 * This client never retries by itself; the saga owns attempts, backoff and the failure email.
 *
 * Configuration (to be added to infrastructure/config/config.ts): CRM_BASE_URL, CRM_API_KEY,
 * CRM_TIMEOUT_MS.
 */
import { isCurrency, isMinorUnits, toDecimalString, type Money } from '../../domain/shared/money';
import { CrmError, type Crm, type CrmContactBookingRequest, type CrmErrorKind, type CrmPaymentRequest } from './port';

export interface CrmClientConfig {
  /** e.g. https://crm.example.com/api (no trailing slash needed). */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** Per call, covering connect, request and reading the whole answer. Default 30000. */
  readonly timeoutMs?: number;
  /** For tests only; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export type CrmOperation = 'createContactBooking' | 'associatePayment';

/** A `CrmError` with the operation that failed and (for HTTP answers) the answer's body. */
export class CrmCallError extends CrmError {
  constructor(
    kind: CrmErrorKind,
    message: string,
    status: number | null,
    readonly operation: CrmOperation,
    /** The answer's body (truncated to 4 kB), or null when there was no answer. */
    readonly body: string | null = null,
  ) {
    super(kind, message, status);
  }

  /** Only timeouts and an unavailable CRM are worth retrying. */
  get retryable(): boolean {
    return this.kind === 'timeout' || this.kind === 'unavailable';
  }
}

export const DEFAULT_CRM_TIMEOUT_MS = 30_000;
const MAX_BODY_IN_ERROR = 4096;

type Json = Record<string, unknown>;

function refuse(operation: CrmOperation, message: string): never {
  throw new CrmCallError('rejected', `CRM ${operation} not sent: ${message}`, null, operation);
}

function nonEmpty(operation: CrmOperation, value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') refuse(operation, `${field} must be a non-empty string`);
  return value;
}

function decimalAmount(operation: CrmOperation, m: Money): string {
  if (!isMinorUnits(m.amount)) refuse(operation, `amount.amount must be a non-negative integer of minor units, got ${String(m.amount)}`);
  if (!isCurrency(m.currency)) refuse(operation, `amount.currency "${m.currency}" is not an ISO 4217 currency`);
  return toDecimalString(m);
}

/**
 * The JSON body of `POST /contact-bookings`. Pure; throws `CrmCallError('rejected')` (status
 * null) for a request the CRM could only refuse: no guests, the first guest not the client (or
 * another guest marked as client), a bad amount, an empty id.
 */
export function contactBookingPayload(req: CrmContactBookingRequest): Json {
  const op: CrmOperation = 'createContactBooking';
  nonEmpty(op, req.externalReference, 'externalReference');
  nonEmpty(op, req.departureId, 'departureId');
  nonEmpty(op, req.paymentScheduleId, 'paymentScheduleId');
  if (req.guests.length === 0) refuse(op, 'a contact booking needs at least one guest (the first is the client)');
  req.guests.forEach((g, i) => {
    if (g.isClient !== (i === 0)) refuse(op, i === 0 ? 'the first guest must be the client (isClient: true)' : `guest ${i + 1} is marked as client; only the first guest is`);
  });
  return {
    external_reference: req.externalReference,
    'contact.firstname': req.contact.firstName,
    'contact.lastname': req.contact.lastName,
    'contact.emailaddress1': req.contact.email,
    'contact.primaryphone': req.contact.phone,
    'p15_bookings.p15_tripdepartures_bookingsid': req.departureId,
    'p15_bookings.p15_waitlisted': req.waitlisted,
    p15_guests: req.guests.map((g) => ({
      'contact.firstname': g.firstName,
      'contact.lastname': g.lastName,
      ...(g.email ? { 'contact.emailaddress1': g.email } : {}),
      isClient: g.isClient,
    })),
    'p15_invoices.p15_paymentscheduleid': req.paymentScheduleId,
    amount: decimalAmount(op, req.amount),
    currency: req.amount.currency,
    returnallids: true,
  };
}

/** The JSON body of `POST /contact-bookings/{id}/payments`. Pure; refuses like `contactBookingPayload`. */
export function paymentAssociationPayload(req: CrmPaymentRequest): Json {
  const op: CrmOperation = 'associatePayment';
  nonEmpty(op, req.crmBookingId, 'crmBookingId');
  nonEmpty(op, req.externalReference, 'externalReference');
  nonEmpty(op, req.paymentId, 'paymentId');
  return { external_reference: req.externalReference, payment_id: req.paymentId, amount: decimalAmount(op, req.amount), currency: req.amount.currency };
}

function describeConnectionError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

export class CrmClient implements Crm {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(config: CrmClientConfig) {
    let url: URL;
    try {
      url = new URL(config.baseUrl);
    } catch {
      throw new RangeError(`CRM baseUrl "${config.baseUrl}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`CRM baseUrl must be http(s), got ${url.protocol}`);
    if (!config.apiKey) throw new RangeError('CRM apiKey is required');
    const timeoutMs = config.timeoutMs ?? DEFAULT_CRM_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError(`CRM timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
    this.baseUrl = config.baseUrl.replace(/\/+$/, '');
    this.apiKey = config.apiKey;
    this.timeoutMs = timeoutMs;
    this.fetchImpl = config.fetch ?? fetch;
  }

  async createContactBooking(req: CrmContactBookingRequest): Promise<{ crmBookingId: string; ids: Record<string, string> }> {
    const op: CrmOperation = 'createContactBooking';
    const body = await this.post(op, '/contact-bookings', contactBookingPayload(req));
    const id = body.id;
    if (typeof id !== 'string' || id === '') throw new CrmCallError('unavailable', `CRM ${op}: the answer has no booking id`, null, op, JSON.stringify(body).slice(0, MAX_BODY_IN_ERROR));
    if (body.external_reference !== undefined && body.external_reference !== req.externalReference) {
      throw new CrmCallError('rejected', `CRM ${op}: answered for external reference ${JSON.stringify(body.external_reference)}, not ${req.externalReference}`, null, op, JSON.stringify(body).slice(0, MAX_BODY_IN_ERROR));
    }
    const ids: Record<string, string> = {};
    if (body.ids && typeof body.ids === 'object') {
      for (const [k, v] of Object.entries(body.ids as Json)) if (typeof v === 'string') ids[k] = v;
    }
    return { crmBookingId: id, ids };
  }

  async associatePayment(req: CrmPaymentRequest): Promise<{ crmPaymentId: string }> {
    const op: CrmOperation = 'associatePayment';
    const payload = paymentAssociationPayload(req);
    const body = await this.post(op, `/contact-bookings/${encodeURIComponent(req.crmBookingId)}/payments`, payload);
    if (typeof body.id !== 'string' || body.id === '') throw new CrmCallError('unavailable', `CRM ${op}: the answer has no payment id`, null, op, JSON.stringify(body).slice(0, MAX_BODY_IN_ERROR));
    return { crmPaymentId: body.id };
  }

  /** One POST with its own deadline; every failure becomes a CrmCallError. */
  private async post(op: CrmOperation, path: string, payload: Json): Promise<Json> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    const timedOut = () => new CrmCallError('timeout', `CRM ${op} timed out after ${this.timeoutMs} ms`, null, op);
    try {
      let res: Response;
      try {
        res = await this.fetchImpl(`${this.baseUrl}${path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${this.apiKey}`, 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify(payload),
          redirect: 'manual',
          signal: controller.signal,
        });
      } catch (err) {
        if (controller.signal.aborted) throw timedOut();
        throw new CrmCallError('unavailable', `CRM ${op} failed to connect: ${describeConnectionError(err)}`, null, op);
      }
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        if (controller.signal.aborted) throw timedOut();
        throw new CrmCallError('unavailable', `CRM ${op}: the answer was cut off: ${describeConnectionError(err)}`, res.status, op);
      }
      const shown = text.slice(0, MAX_BODY_IN_ERROR);
      const status = res.status;
      if (status >= 500 || status === 408 || status === 429) throw new CrmCallError('unavailable', `CRM ${op} unavailable: HTTP ${status} ${shown}`.trim(), status, op, shown);
      if (status >= 300) throw new CrmCallError('rejected', `CRM ${op} rejected: HTTP ${status} ${shown}`.trim(), status, op, shown);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new CrmCallError('unavailable', `CRM ${op}: HTTP ${status} with an unreadable answer`, status, op, shown);
      return body as Json;
    } finally {
      clearTimeout(timer);
    }
  }
}
