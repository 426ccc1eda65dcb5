/**
 * PayPal Orders v2 / Payments v2 adapter: create an order for an invoice, read it, capture it once
 * the buyer approved, read a capture, refund it. Built on the official `@paypal/checkout-server-sdk`
 * (1.0.3): its `PayPalEnvironment` takes any base URL, so `PAYPAL_API_BASE` (the sandbox, live, or
 * the local simulator in test/simulators/paypal) is honoured without forking the SDK. The SDK is
 * archived by PayPal; its maintained successor (`@paypal/paypal-server-sdk`) is not a dependency
 * here, and nothing this adapter needs is missing from 1.0.3 (see the notes on each method).
 *
 * What the adapter adds on top of the SDK:
 *  - one OAuth token cache per client (the SDK's cache is process-wide per client id), reused until
 *    the token expires; a 401 from the API refreshes it once (the SDK's retry);
 *  - a `PayPal-Request-Id` on every write (the fixed-length digest of the caller's request key,
 *    idempotencyKeys.ts), so a retried call is answered with the first result instead of acting
 *    twice;
 *  - integer minor units in, PayPal decimal strings out (and back), with string arithmetic only;
 *  - typed results, and failures as `ProviderError` (never SDK or HTTP errors):
 *      401/403                         -> auth
 *      422 ORDER_NOT_APPROVED,
 *          PAYER_ACTION_REQUIRED       -> needs_action (the buyer must approve first)
 *      422 INSTRUMENT_DECLINED,
 *          PAYER_CANNOT_PAY            -> declined (code = the issue)
 *      408/409/429, 5xx, timeouts,
 *          connection errors,
 *          unreadable answers          -> retryable (writes are idempotent by request id)
 *      any other 4xx                   -> invalid (code = the first issue, else the error name)
 *    A capture PayPal *declines* is not an HTTP error: the order answers 201 COMPLETED with a
 *    DECLINED capture. `captureOrder` returns that as `{ outcome: 'declined' }` with the processor
 *    response code; `declinedCaptureError()` turns it into ProviderError('declined') for callers
 *    that want to throw.
 *
 * Configuration (infrastructure/config/config.ts): PAYPAL_API_BASE, PAYPAL_CLIENT_ID,
 * PAYPAL_CLIENT_SECRET. Nothing here retries on its own besides the SDK's token refresh; callers
 * retry `retryable` failures with the same request id.
 */
import { customIdFor } from '../../domain/ports/paypalPayments';
import { core, orders, payments, type HttpError, type HttpRequest } from '@paypal/checkout-server-sdk';
import { ProviderError, type RefundRequest } from '../../domain/ports/billingProvider';
import { providerIdempotencyKey } from './idempotencyKeys';
import type { PayPalPaymentsReader } from '../../domain/ports/paypalPayments';
import { currencyExponent, isCurrency, isMinorUnits, parseDecimalAmount, toDecimalString, type Money } from '../../domain/shared/money';
import { ProviderRateLimited, type ProviderObject } from '../../domain/ports/providerLedger';
import { isJsonObject, jsonAt, type JsonObject } from '../../domain/shared/json';

// ---------------------------------------------------------------------------------------------
// Amounts

/**
 * Currencies PayPal refuses decimals for although ISO 4217 gives them two (PayPal "Currency codes":
 * HUF and TWD "do not support decimals"; JPY has none in ISO either). An amount in these must be
 * a whole number of major units.
 */
const PAYPAL_WHOLE_UNITS_ONLY = new Set(['HUF', 'TWD']);

/**
 * Integer minor units as PayPal's decimal `value` string: 1050 EUR -> "10.50", 500 JPY -> "500",
 * 1500 KWD -> "1.500", 150000 HUF -> "1500". String arithmetic only. Throws RangeError for a
 * non-integer, negative or unsafe amount, an unknown currency, or a fraction PayPal cannot take.
 */
export function toPayPalValue(m: Money): string {
  if (!isMinorUnits(m.amount)) throw new RangeError(`amount must be a non-negative integer of minor units, got ${String(m.amount)}`);
  if (!isCurrency(m.currency)) throw new RangeError(`unknown ISO 4217 currency "${m.currency}"`);
  const decimal = toDecimalString(m);
  if (!PAYPAL_WHOLE_UNITS_ONLY.has(m.currency)) return decimal;
  const [whole, fraction = ''] = decimal.split('.');
  if (/[^0]/.test(fraction)) throw new RangeError(`PayPal takes whole ${m.currency} only; ${decimal} has a fraction`);
  return whole ?? decimal;
}

/**
 * PayPal's decimal `value` string as integer minor units, checked against the currency's exponent:
 * "10.50" EUR -> 1050, "500" JPY -> 500, "10.5" JPY -> RangeError, "1.500" KWD -> 1500,
 * "1500" HUF -> 150000. For translating webhook and API amounts; no float touches the value.
 */
export function parsePayPalAmount(value: unknown, currencyCode: unknown): Money {
  if (typeof value !== 'string') throw new RangeError(`a PayPal amount value is a string, got ${typeof value}`);
  if (typeof currencyCode !== 'string') throw new RangeError(`a PayPal currency_code is a string, got ${typeof currencyCode}`);
  return parseDecimalAmount(value, currencyCode);
}

function payPalAmount(m: Money, what: string): { currency_code: string; value: string } {
  try {
    if (m.amount === 0) throw new RangeError('must be greater than zero');
    return { currency_code: m.currency, value: toPayPalValue(m) };
  } catch (err) {
    throw new ProviderError('invalid', `${what}: ${(err as Error).message}`, 'INVALID_AMOUNT');
  }
}

// ---------------------------------------------------------------------------------------------
// Types

export type PayPalOrderStatus = 'CREATED' | 'SAVED' | 'APPROVED' | 'VOIDED' | 'COMPLETED' | 'PAYER_ACTION_REQUIRED';
export type PayPalCaptureStatus = 'COMPLETED' | 'DECLINED' | 'PARTIALLY_REFUNDED' | 'PENDING' | 'REFUNDED' | 'FAILED';
export type PayPalRefundStatus = 'CANCELLED' | 'FAILED' | 'PENDING' | 'COMPLETED';

export interface PayPalCapture {
  readonly id: string;
  readonly status: PayPalCaptureStatus;
  readonly amount: Money;
  /** The order this capture belongs to, when the answer says (links `up` or supplementary_data). */
  readonly orderId: string | null;
  readonly customId: string | null;
  readonly invoiceId: string | null;
  /** processor_response.response_code, e.g. "5120" (insufficient funds) on a declined card. */
  readonly processorResponseCode: string | null;
  /** status_details.reason, e.g. PENDING_REVIEW on a pending capture. */
  readonly statusReason: string | null;
  readonly createTime: string | null;
  readonly updateTime: string | null;
}

export interface PayPalOrder {
  readonly id: string;
  readonly status: PayPalOrderStatus;
  readonly intent: 'CAPTURE' | 'AUTHORIZE' | null;
  /** Where to send the buyer (link `payer-action`, or `approve` for the older flow); null once approved. */
  readonly approveUrl: string | null;
  /** The first purchase unit's amount (Settle creates orders with exactly one). */
  readonly amount: Money | null;
  readonly referenceId: string | null;
  readonly customId: string | null;
  readonly invoiceId: string | null;
  readonly captures: readonly PayPalCapture[];
}

export type CaptureResult =
  | { readonly outcome: 'completed'; readonly order: PayPalOrder; readonly capture: PayPalCapture; readonly alreadyCaptured: boolean }
  | { readonly outcome: 'pending'; readonly order: PayPalOrder; readonly capture: PayPalCapture; readonly alreadyCaptured: boolean; readonly reason: string | null }
  | {
      readonly outcome: 'declined';
      readonly order: PayPalOrder;
      readonly capture: PayPalCapture;
      readonly alreadyCaptured: boolean;
      /** The processor's response code (e.g. "5120"), or status_details.reason, or null. */
      readonly declineCode: string | null;
    };

export interface PayPalRefund {
  readonly id: string;
  readonly status: PayPalRefundStatus;
  readonly amount: Money;
  readonly captureId: string;
  readonly customId: string | null;
  readonly noteToPayer: string | null;
  readonly createTime: string | null;
}

export interface CreateOrderRequest {
  /** PayPal-Request-Id: the same id returns the same order instead of creating another. */
  readonly requestId: string;
  readonly tenantId: string;
  readonly invoiceId: string;
  /** Integer minor units; converted to PayPal's decimal string by the currency's exponent. */
  readonly amount: Money;
  readonly returnUrl: string;
  readonly cancelUrl: string;
  readonly description?: string;
  readonly brandName?: string;
}

export interface PayPalClientOptions {
  /** PAYPAL_API_BASE: https://api-m.paypal.com, https://api-m.sandbox.paypal.com, or a simulator. */
  readonly apiBase: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Socket idle timeout per request; the SDK's default is 30 s. */
  readonly timeoutMs?: number;
}

/** `custom_id` and `invoice_id` Settle puts on its orders: one format, built and parsed in commands/webhooks/paypal.ts. */
export const payPalCustomId = customIdFor;

// ---------------------------------------------------------------------------------------------
// SDK wiring

const LIVE_WEB = 'https://www.paypal.com';
const SANDBOX_WEB = 'https://www.sandbox.paypal.com';

/**
 * The SDK environment for any API base. paypalhttp connects to the base URL's host and port and
 * sends the request path as is, so a base URL with a path prefix cannot work: it is refused here.
 */
export class PayPalApiEnvironment extends core.PayPalEnvironment {
  constructor(clientId: string, clientSecret: string, apiBase: string) {
    const u = new URL(apiBase);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new RangeError(`PAYPAL_API_BASE must be http(s), got ${apiBase}`);
    if (u.pathname !== '/' || u.search || u.hash) throw new RangeError(`PAYPAL_API_BASE must have no path, query or fragment (the SDK ignores them), got ${apiBase}`);
    const web = u.hostname.endsWith('paypal.com') && !u.hostname.includes('sandbox') ? LIVE_WEB : SANDBOX_WEB;
    super(clientId, clientSecret, u.origin, web);
  }

  /** Same header as the SDK's, without the deprecated `new Buffer()`. */
  override authorizationString(): string {
    return `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`, 'utf8').toString('base64')}`;
  }
}

/** The SDK client with a token cache of its own and a configurable timeout. */
class SettlePayPalHttpClient extends core.PayPalHttpClient {
  constructor(
    environment: PayPalApiEnvironment,
    private readonly timeoutMs: number,
  ) {
    super(environment);
    // The SDK keys its token cache by client id process-wide; two clients with the same id against
    // different bases (sandbox and a simulator) would then trade tokens. One cache per client.
    this._cache = new core.TokenCache();
  }

  override getTimeout(): number {
    return this.timeoutMs;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

interface PayPalErrorBody {
  name?: string;
  message?: string;
  debug_id?: string;
  details?: Array<{ field?: string; issue?: string; description?: string }>;
  error?: string;
  error_description?: string;
}

const NEEDS_ACTION = new Set(['ORDER_NOT_APPROVED', 'PAYER_ACTION_REQUIRED']);
const DECLINED = new Set(['INSTRUMENT_DECLINED', 'PAYER_CANNOT_PAY']);
const RETRYABLE_4XX = new Set([408, 409, 429]);
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET']);

function parseBody(text: string): PayPalErrorBody {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v) : {};
  } catch {
    return {};
  }
}

/** The first detail's issue, if PayPal named one. */
export function payPalIssue(err: unknown): string | null {
  if (!isHttpError(err)) return null;
  return parseBody(err.message).details?.[0]?.issue ?? null;
}

function isHttpError(err: unknown): err is HttpError {
  return err instanceof Error && typeof (err as Partial<HttpError>).statusCode === 'number';
}

/** Any failure of an SDK call as a ProviderError. */
export function toProviderError(err: unknown, operation: string): ProviderError {
  if (err instanceof ProviderError) return err;
  if (isHttpError(err)) {
    const status = err.statusCode;
    const body = parseBody(err.message);
    const issue = body.details?.[0]?.issue ?? null;
    const code = issue ?? body.name ?? body.error ?? `HTTP_${status}`;
    const what = [body.name ?? body.error, issue, body.details?.[0]?.description ?? body.message ?? body.error_description].filter(Boolean).join(': ');
    const message = `PayPal ${operation} failed with ${status}${what ? ` ${what}` : ''}${body.debug_id ? ` (debug_id ${body.debug_id})` : ''}`;
    if (status === 401 || status === 403) return new ProviderError('auth', message, code);
    if (status >= 500 || RETRYABLE_4XX.has(status)) return new ProviderError('retryable', message, code);
    if (issue && NEEDS_ACTION.has(issue)) return new ProviderError('needs_action', message, code);
    if (issue && DECLINED.has(issue)) return new ProviderError('declined', message, code, issue);
    return new ProviderError('invalid', message, code);
  }
  const e = err as (Error & { code?: string }) | undefined;
  const message = e?.message ?? String(err);
  if (/timed out/i.test(message)) return new ProviderError('retryable', `PayPal ${operation} timed out: ${message}`, 'TIMEOUT');
  if (e?.code && CONNECTION_CODES.has(e.code)) return new ProviderError('retryable', `PayPal ${operation}: connection failed (${e.code})`, e.code);
  // a socket hang-up, an unreadable body, a response the SDK could not decode: unknown outcome,
  // safe to retry because every write carries a PayPal-Request-Id
  return new ProviderError('retryable', `PayPal ${operation} failed: ${message}`, e?.code ?? 'NETWORK_ERROR');
}

/** A declined capture result as the error a throwing caller wants. */
export function declinedCaptureError(result: Extract<CaptureResult, { outcome: 'declined' }>): ProviderError {
  return new ProviderError('declined', `PayPal declined capture ${result.capture.id} of order ${result.order.id}${result.declineCode ? ` (processor response ${result.declineCode})` : ''}`, 'CAPTURE_DECLINED', result.declineCode);
}

// ---------------------------------------------------------------------------------------------
// Reading PayPal's answers

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

/** An array field of an answer, empty when PayPal sent something else. */
function listAt(v: unknown, key: string): readonly unknown[] {
  const list = jsonAt(v, key);
  return Array.isArray(list) ? list : [];
}

function linkOf(resource: unknown, rel: string): string | null {
  return str(jsonAt(listAt(resource, 'links').find((l) => jsonAt(l, 'rel') === rel), 'href'));
}

function lastSegment(href: string | null, kind: string): string | null {
  if (!href) return null;
  const m = new RegExp(`/${kind}/([^/?#]+)`).exec(href);
  return m?.[1] ?? null;
}

function moneyOf(amount: unknown, where: string): Money {
  try {
    return parsePayPalAmount(jsonAt(amount, 'value'), jsonAt(amount, 'currency_code'));
  } catch (err) {
    throw new ProviderError('retryable', `PayPal answered an unreadable amount at ${where}: ${(err as Error).message}`, 'UNREADABLE_RESPONSE');
  }
}

function readCapture(c: unknown, orderId: string | null): PayPalCapture {
  const id = str(jsonAt(c, 'id'));
  if (!id) throw new ProviderError('retryable', 'PayPal answered a capture without an id', 'UNREADABLE_RESPONSE');
  return {
    id,
    status: String(jsonAt(c, 'status')) as PayPalCaptureStatus,
    amount: moneyOf(jsonAt(c, 'amount'), `capture ${id}`),
    orderId: orderId ?? str(jsonAt(c, 'supplementary_data', 'related_ids', 'order_id')) ?? lastSegment(linkOf(c, 'up'), 'orders'),
    customId: str(jsonAt(c, 'custom_id')),
    invoiceId: str(jsonAt(c, 'invoice_id')),
    processorResponseCode: str(jsonAt(c, 'processor_response', 'response_code')),
    statusReason: str(jsonAt(c, 'status_details', 'reason')),
    createTime: str(jsonAt(c, 'create_time')),
    updateTime: str(jsonAt(c, 'update_time')),
  };
}

function readOrder(o: unknown): PayPalOrder {
  const id = str(jsonAt(o, 'id'));
  if (!id) throw new ProviderError('retryable', 'PayPal answered an order without an id', 'UNREADABLE_RESPONSE');
  const units = listAt(o, 'purchase_units');
  const first = units[0];
  const captures: PayPalCapture[] = [];
  for (const u of units) {
    for (const c of listAt(jsonAt(u, 'payments'), 'captures')) {
      // a capture names its unit's custom_id and invoice_id unless it carries its own
      captures.push(readCapture({ custom_id: jsonAt(u, 'custom_id'), invoice_id: jsonAt(u, 'invoice_id'), ...(isJsonObject(c) ? c : {}) }, id));
    }
  }
  const intent = jsonAt(o, 'intent');
  const firstAmount = jsonAt(first, 'amount');
  return {
    id,
    status: String(jsonAt(o, 'status')) as PayPalOrderStatus,
    intent: intent === 'CAPTURE' || intent === 'AUTHORIZE' ? intent : null,
    approveUrl: linkOf(o, 'payer-action') ?? linkOf(o, 'approve'),
    amount: firstAmount ? moneyOf(firstAmount, `order ${id}`) : null,
    referenceId: str(jsonAt(first, 'reference_id')),
    customId: str(jsonAt(first, 'custom_id')),
    invoiceId: str(jsonAt(first, 'invoice_id')),
    captures,
  };
}

function readRefund(r: unknown, captureId: string): PayPalRefund {
  const id = str(jsonAt(r, 'id'));
  if (!id) throw new ProviderError('retryable', 'PayPal answered a refund without an id', 'UNREADABLE_RESPONSE');
  return {
    id,
    status: String(jsonAt(r, 'status')) as PayPalRefundStatus,
    amount: moneyOf(jsonAt(r, 'amount'), `refund ${id}`),
    captureId: lastSegment(linkOf(r, 'up'), 'captures') ?? captureId,
    customId: str(jsonAt(r, 'custom_id')),
    noteToPayer: str(jsonAt(r, 'note_to_payer')),
    createTime: str(jsonAt(r, 'create_time')),
  };
}

function captureResult(order: PayPalOrder, alreadyCaptured: boolean): CaptureResult {
  // Settle orders have one purchase unit and one capture; the latest capture is the one that counts
  const capture = order.captures[order.captures.length - 1];
  if (!capture) throw new ProviderError('retryable', `PayPal order ${order.id} is ${order.status} but shows no capture`, 'NO_CAPTURE');
  switch (capture.status) {
    case 'COMPLETED':
    case 'PARTIALLY_REFUNDED':
    case 'REFUNDED':
      return { outcome: 'completed', order, capture, alreadyCaptured };
    case 'PENDING':
      return { outcome: 'pending', order, capture, alreadyCaptured, reason: capture.statusReason };
    case 'DECLINED':
    case 'FAILED':
      return { outcome: 'declined', order, capture, alreadyCaptured, declineCode: capture.processorResponseCode ?? capture.statusReason };
    default:
      throw new ProviderError('retryable', `PayPal capture ${capture.id} has an unknown status ${String(capture.status)}`, 'UNREADABLE_RESPONSE');
  }
}

// ---------------------------------------------------------------------------------------------
// The client

const MAX_CUSTOM_ID = 127;
const PREFER = 'return=representation';

/**
 * The PayPal-Request-Id for a request key: the shared fixed-length digest (idempotencyKeys.ts),
 * 72 characters, inside Orders v2's 1..108 whatever the tenant, invoice or Idempotency-Key.
 */
function requireRequestId(id: string, what: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new ProviderError('invalid', `${what}: a non-empty request id is required`, 'INVALID_REQUEST_ID');
  return providerIdempotencyKey(id);
}

/** `id` is typed unknown: callers in plain JS (and webhook-derived ids) may pass anything. */
function requireId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new ProviderError('invalid', `${what}: "${String(id)}" is not a PayPal id`, 'INVALID_RESOURCE_ID');
  return id;
}

/** What PayPal answers for an object it does not have (404 RESOURCE_NOT_FOUND / INVALID_RESOURCE_ID), or an id that cannot be one. */
const NOT_FOUND = new Set(['INVALID_RESOURCE_ID', 'RESOURCE_NOT_FOUND', 'HTTP_404']);

async function orNotFound<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ProviderError && err.kind === 'invalid' && err.code !== null && NOT_FOUND.has(err.code)) return null;
    throw err;
  }
}

export class PayPalClient implements PayPalPaymentsReader {
  private readonly http: SettlePayPalHttpClient;

  constructor(readonly options: PayPalClientOptions) {
    if (!options.clientId || !options.clientSecret) throw new RangeError('PayPal client id and secret are required');
    this.http = new SettlePayPalHttpClient(new PayPalApiEnvironment(options.clientId, options.clientSecret, options.apiBase), options.timeoutMs ?? 30_000);
  }

  /** The client from configuration, or null when PayPal credentials are not configured. */
  static fromConfig(config: { PAYPAL_API_BASE: string; PAYPAL_CLIENT_ID?: string | undefined; PAYPAL_CLIENT_SECRET?: string | undefined }, opts: { timeoutMs?: number } = {}): PayPalClient | null {
    if (!config.PAYPAL_CLIENT_ID || !config.PAYPAL_CLIENT_SECRET) return null;
    return new PayPalClient({ apiBase: config.PAYPAL_API_BASE, clientId: config.PAYPAL_CLIENT_ID, clientSecret: config.PAYPAL_CLIENT_SECRET, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  }

  private async call(operation: string, request: HttpRequest): Promise<JsonObject> {
    try {
      const res = await this.http.execute(request);
      if (!isJsonObject(res.result)) {
        throw new ProviderError('retryable', `PayPal ${operation} answered ${res.statusCode} without a JSON body`, 'UNREADABLE_RESPONSE');
      }
      return res.result;
    } catch (err) {
      throw toProviderError(err, operation);
    }
  }

  /**
   * Creates a CAPTURE order for one invoice. The purchase unit carries `reference_id` = invoice id,
   * `custom_id` and `invoice_id` = "<tenant>|<invoice>", or its digest when that is longer than
   * PayPal's 127 characters (customIdFor; webhooks find their invoice by it; PayPal
   * refuses a second completed capture with the same invoice_id when the account blocks duplicate
   * invoice ids). The buyer is sent to `approveUrl`; PayPal returns them to `returnUrl`.
   */
  async createOrder(req: CreateOrderRequest): Promise<PayPalOrder> {
    const requestId = requireRequestId(req.requestId, 'createOrder');
    const amount = payPalAmount(req.amount, 'createOrder amount');
    const customId = payPalCustomId(req.tenantId, req.invoiceId);
    if (!req.tenantId || !req.invoiceId || customId.length > MAX_CUSTOM_ID) {
      throw new ProviderError('invalid', 'createOrder: tenant and invoice ids must be non-empty', 'INVALID_REFERENCE');
    }
    const unit: Record<string, unknown> = { reference_id: req.invoiceId, custom_id: customId, invoice_id: customId, amount };
    if (req.description) unit.description = req.description.slice(0, 127);
    const request = new orders.OrdersCreateRequest().prefer(PREFER).requestBody({
      intent: 'CAPTURE',
      purchase_units: [unit],
      payment_source: {
        paypal: {
          experience_context: {
            return_url: req.returnUrl,
            cancel_url: req.cancelUrl,
            user_action: 'PAY_NOW',
            shipping_preference: 'NO_SHIPPING',
            ...(req.brandName ? { brand_name: req.brandName.slice(0, 127) } : {}),
          },
        },
      },
    });
    // OrdersCreateRequest has no payPalRequestId() in SDK 1.0.3; the API takes the header all the same
    request.headers['PayPal-Request-Id'] = requestId;
    return readOrder(await this.call('create order', request));
  }

  async getOrder(orderId: string): Promise<PayPalOrder> {
    return readOrder(await this.call('get order', new orders.OrdersGetRequest(requireId(orderId, 'getOrder'))));
  }

  /**
   * Captures an approved order. The same `requestId` returns the same capture (a retried buyer
   * return or webhook never captures twice). A capture under another request id of an order that
   * is already captured (the buyer's return and the CHECKOUT.ORDER.APPROVED webhook racing) is read
   * back from the order and returned with `alreadyCaptured: true`, so both paths see one capture.
   */
  async captureOrder(req: { orderId: string; requestId: string }): Promise<CaptureResult> {
    const orderId = requireId(req.orderId, 'captureOrder');
    const request = new orders.OrdersCaptureRequest(orderId).payPalRequestId(requireRequestId(req.requestId, 'captureOrder')).prefer(PREFER).requestBody({});
    let body: JsonObject;
    try {
      body = await this.call('capture order', request);
    } catch (err) {
      if (err instanceof ProviderError && err.code === 'ORDER_ALREADY_CAPTURED') return captureResult(await this.getOrder(orderId), true);
      throw err;
    }
    let order = readOrder(body);
    if (order.captures.length === 0) order = await this.getOrder(orderId); // a minimal answer: read the order
    return captureResult(order, false);
  }

  async getCapture(captureId: string): Promise<PayPalCapture> {
    return readCapture(await this.call('get capture', new payments.CapturesGetRequest(requireId(captureId, 'getCapture'))), null);
  }

  /** A refund, by id (GET /v2/payments/refunds/{id}). */
  async getRefund(refundId: string): Promise<PayPalRefund> {
    const id = requireId(refundId, 'getRefund');
    return readRefund(await this.call('get refund', new payments.RefundsGetRequest(id)), '');
  }

  // PayPalPaymentsReader (domain/ports/paypalPayments.ts): PayPal's record, null when it has none

  lookupOrder(orderId: string): Promise<PayPalOrder | null> {
    return orNotFound(() => this.getOrder(orderId));
  }

  lookupCapture(captureId: string): Promise<PayPalCapture | null> {
    return orNotFound(() => this.getCapture(captureId));
  }

  lookupRefund(refundId: string): Promise<PayPalRefund | null> {
    return orNotFound(() => this.getRefund(refundId));
  }

  /**
   * Refunds a capture: the whole remaining amount without `amount`, else that much. The same
   * `requestId` returns the same refund. More than what remains refundable is refused by PayPal
   * (REFUND_AMOUNT_EXCEEDED / CAPTURE_FULLY_REFUNDED -> invalid).
   */
  async refundCapture(req: { captureId: string; requestId: string; amount?: Money; noteToPayer?: string }): Promise<PayPalRefund> {
    const captureId = requireId(req.captureId, 'refundCapture');
    const body: Record<string, unknown> = {};
    if (req.amount) body.amount = payPalAmount(req.amount, 'refundCapture amount');
    if (req.noteToPayer) body.note_to_payer = req.noteToPayer.slice(0, 255);
    const request = new payments.CapturesRefundRequest(captureId).payPalRequestId(requireRequestId(req.requestId, 'refundCapture')).prefer(PREFER).requestBody(body);
    return readRefund(await this.call('refund capture', request), captureId);
  }

  /** BillingProvider.refund for PayPal payments: the charge id is the capture id. */
  async refund(req: RefundRequest): Promise<{ providerRefundId: string }> {
    if (req.provider !== 'paypal') throw new ProviderError('invalid', `the PayPal adapter cannot refund a ${req.provider} payment`, 'WRONG_PROVIDER');
    const captureId = req.providerChargeId ?? req.providerPaymentId;
    const refund = await this.refundCapture({ captureId, requestId: req.idempotencyKey, amount: req.amount });
    return { providerRefundId: refund.id };
  }

  /**
   * Reconciliation (the PayPalLedger port): the order as PayPal returns it, its purchase units'
   * captures and refunds included; null for an id PayPal does not know (404). A 429 is
   * ProviderRateLimited with PayPal's Retry-After when it sent one.
   */
  async readOrder(orderId: string): Promise<ProviderObject | null> {
    try {
      const res = await this.http.execute(new orders.OrdersGetRequest(requireId(orderId, 'readOrder')));
      if (!isJsonObject(res.result)) throw new ProviderError('retryable', `PayPal read order answered ${res.statusCode} without a JSON body`, 'UNREADABLE_RESPONSE');
      return res.result;
    } catch (err) {
      if (isHttpError(err) && err.statusCode === 404) return null;
      if (isHttpError(err) && err.statusCode === 429) {
        const header = (err as { headers?: Record<string, unknown> }).headers?.['retry-after'];
        const seconds = Number(Array.isArray(header) ? header[0] : header);
        throw new ProviderRateLimited(header !== undefined && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null, `PayPal rate limit reading order ${orderId}`);
      }
      throw toProviderError(err, 'read order');
    }
  }
}

/** Exposed for tests and diagnostics: the PayPal exponent rule applied to a currency. */
export function payPalDecimals(currency: string): number {
  return PAYPAL_WHOLE_UNITS_ONLY.has(currency) ? 0 : currencyExponent(currency);
}
