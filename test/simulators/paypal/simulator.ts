/**
 * A local PayPal REST simulator (Express 5, in process, 127.0.0.1 on a free port) for the PayPal
 * adapter's tests: OAuth client credentials, Orders v2 (create, get, capture), Payments v2
 * (get capture, refund, get refund), webhook certs and postback verification, and signed webhook
 * deliveries. It follows PayPal's published behaviour strictly where Settle depends on it:
 *
 *  - errors are PayPal's JSON `{name, message, debug_id, details:[{field, value, location, issue,
 *    description}], links}` with a `PayPal-Debug-Id` header; the OAuth endpoint and a rejected
 *    bearer answer OAuth-style `{error, error_description}` like PayPal does;
 *  - `PayPal-Request-Id` makes create, capture and refund idempotent: the same id answers the
 *    first result again (re-rendered with its latest status, as PayPal documents) and acts once;
 *  - capture only from APPROVED (422 ORDER_NOT_APPROVED), once (422 ORDER_ALREADY_CAPTURED);
 *    a declined capture is 201 with order COMPLETED and capture DECLINED (processor response);
 *  - refunds never exceed what remains (422 REFUND_AMOUNT_EXCEEDED / CAPTURE_FULLY_REFUNDED);
 *  - amounts are strings checked against PayPal's currency list and decimals (JPY, HUF, TWD none).
 *  - `Prefer: return=representation` gives full resources, otherwise the minimal ones.
 *
 * Everything that is not PayPal's API is a JS method on the handle (test hooks), plus
 * `POST /__sim/orders/{id}/approve` and the buyer-facing approve link `GET /checkoutnow?token=`
 * (approves, then redirects to the order's return_url with `token` and `PayerID`).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { randomBytes, randomUUID, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import zlib from 'node:zlib';
import { checkAmount, formatAmount, issueValue, PAYPAL_CURRENCIES, type Issue } from './amounts';
import { signingIdentity } from './certs';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly url: string;
  /** Lower-cased header names, as Node gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly at: Date;
}

/**
 * A failure to inject. `status`: answer that status with PayPal's error body. `hang`: never answer
 * (the client times out). `when: 'after'` lets the request take effect first and only then fails
 * the answer: the "capture happened but the response was lost" case.
 */
export type SimFailure = ({ readonly status: number } | { readonly hang: true }) & { readonly when?: 'before' | 'after' };

export interface WebhookSignOptions {
  readonly webhookId?: string;
  readonly transmissionId?: string;
  readonly transmissionTime?: string;
  readonly certUrl?: string;
  readonly authAlgo?: string;
  /** Sign with another key than the one the served cert holds. */
  readonly privateKey?: KeyObject;
}

export interface WebhookSendOptions extends WebhookSignOptions {
  /** Header overrides after signing; `undefined` removes a header. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
}

export interface WebhookDelivery {
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly rawBody: string;
}

export interface PayPalWebhookEvent extends Obj {
  id: string;
  event_type: string;
  resource_type: string;
  resource: Obj;
}

export interface SimEvents {
  orderApproved(orderId: string): PayPalWebhookEvent;
  orderCompleted(orderId: string): PayPalWebhookEvent;
  captureCompleted(captureId: string): PayPalWebhookEvent;
  captureDenied(captureId: string): PayPalWebhookEvent;
  capturePending(captureId: string): PayPalWebhookEvent;
  captureRefunded(refundId: string): PayPalWebhookEvent;
  /** Any envelope around any resource. */
  envelope(eventType: string, resourceType: string, resource: Obj, summary?: string): PayPalWebhookEvent;
}

export interface PayPalSimulatorOptions {
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly webhookId?: string;
  /** `expires_in` of issued tokens; PayPal issues about 9 hours (32400 s). */
  readonly tokenTtlSeconds?: number;
  /** Port on 127.0.0.1 (default: a free one); the demo uses the fixed port of the service's PAYPAL_API_BASE. */
  readonly port?: number;
}

export interface PayPalSimulator {
  readonly url: string;
  readonly webhookId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where the webhook signing cert is served (GET, no auth), and what PAYPAL-CERT-URL says. */
  readonly certUrl: string;
  readonly certPem: string;
  /** Access tokens issued so far (clients prove they cache by keeping this at 1). */
  readonly tokensIssued: number;
  /** Captures created so far (declined ones included). */
  readonly captureCount: number;
  /** The buyer's approval: CREATED / PAYER_ACTION_REQUIRED -> APPROVED. */
  approveOrder(orderId: string, payer?: { email?: string; givenName?: string; surname?: string; payerId?: string }): void;
  /**
   * The next capture is declined. Default: like PayPal's sandbox insufficient-funds answer, 201
   * with order COMPLETED and capture DECLINED, processor_response.response_code "5120".
   * `instrumentDeclined`: 422 INSTRUMENT_DECLINED instead (order stays APPROVED).
   */
  declineNextCapture(opts?: { responseCode?: string; instrumentDeclined?: boolean }): void;
  /** The next capture is PENDING with status_details.reason (default PENDING_REVIEW). */
  pendNextCapture(reason?: string): void;
  /** The next `count` requests (matching `match`, default every API request) fail as given. */
  failNext(count: number, failure: SimFailure, match?: (r: { method: string; path: string }) => boolean): void;
  /** Every issued token stops working (401 invalid_token), as after PayPal revokes them. */
  expireTokens(): void;
  requests(filter?: { method?: string; path?: string | RegExp }): RecordedRequest[];
  clearRequests(): void;
  /** Full representations of simulator state, for assertions. */
  order(orderId: string): Obj | undefined;
  capture(captureId: string): Obj | undefined;
  refund(refundId: string): Obj | undefined;
  readonly events: SimEvents;
  /** The five PAYPAL-* headers for a body, signed like PayPal signs. */
  signWebhook(rawBody: string | Buffer, opts?: WebhookSignOptions): Record<string, string>;
  /** POSTs an event (object: JSON.stringify'd; string/Buffer: sent as is) with signed headers. */
  sendWebhook(targetUrl: string, event: Obj | string | Buffer, opts?: WebhookSendOptions): Promise<WebhookDelivery>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------

interface SimUnit {
  reference_id: string;
  minor: bigint;
  currency: string;
  custom_id?: string;
  invoice_id?: string;
  description?: string;
  soft_descriptor?: string;
  captures: string[];
}

interface SimOrder {
  id: string;
  intent: 'CAPTURE' | 'AUTHORIZE';
  status: 'CREATED' | 'PAYER_ACTION_REQUIRED' | 'APPROVED' | 'COMPLETED';
  units: SimUnit[];
  paypalSource: boolean;
  returnUrl: string | null;
  cancelUrl: string | null;
  payer: Obj | null;
  create_time: string;
  update_time: string;
}

interface SimCapture {
  id: string;
  orderId: string;
  unit: number;
  status: 'COMPLETED' | 'DECLINED' | 'PENDING' | 'PARTIALLY_REFUNDED' | 'REFUNDED';
  minor: bigint;
  currency: string;
  refunded: bigint;
  custom_id?: string;
  invoice_id?: string;
  processor_response?: Obj;
  status_details?: Obj;
  refunds: string[];
  create_time: string;
  update_time: string;
}

interface SimRefund {
  id: string;
  captureId: string;
  minor: bigint;
  currency: string;
  totalRefunded: bigint;
  note_to_payer?: string;
  custom_id?: string;
  invoice_id?: string;
  create_time: string;
  update_time: string;
}

type NextCapture = { kind: 'declined'; responseCode: string } | { kind: 'instrument_declined' } | { kind: 'pending'; reason: string };

/** Orders v2: PayPal-Request-Id `1 <= length <= 108` (create order, capture order). */
export const ORDERS_REQUEST_ID_MAX = 108;

const ID_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
function paypalId(length = 17): string {
  const b = randomBytes(length);
  let s = '';
  for (let i = 0; i < length; i++) s += ID_CHARS.charAt(b[i]! % ID_CHARS.length);
  return s;
}
const debugId = () => randomBytes(7).toString('hex').slice(0, 13);
const isoSeconds = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

const ERROR_TEXT: Record<number, [string, string]> = {
  400: ['INVALID_REQUEST', 'Request is not well-formed, syntactically incorrect, or violates schema.'],
  401: ['AUTHENTICATION_FAILURE', 'Authentication failed due to invalid authentication credentials or a missing Authorization header.'],
  403: ['NOT_AUTHORIZED', 'Authorization failed due to insufficient permissions.'],
  404: ['RESOURCE_NOT_FOUND', 'The specified resource does not exist.'],
  415: ['UNSUPPORTED_MEDIA_TYPE', "The server does not support the request payload's media type."],
  422: ['UNPROCESSABLE_ENTITY', 'The requested action could not be performed, semantically incorrect, or failed business validation.'],
  429: ['RATE_LIMIT_REACHED', 'Too many requests. Blocked due to rate limiting.'],
  500: ['INTERNAL_SERVER_ERROR', 'An internal server error has occurred.'],
  502: ['BAD_GATEWAY', 'Bad gateway.'],
  503: ['SERVICE_UNAVAILABLE', 'Service Unavailable.'],
};

const DESCRIPTIONS: Record<string, string> = {
  ORDER_NOT_APPROVED: "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.",
  ORDER_ALREADY_CAPTURED: "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.",
  ACTION_DOES_NOT_MATCH_INTENT: "Order was created with an intent to 'AUTHORIZE'. Please use v2/checkout/orders/order_id/authorize to complete the transaction or alternately Create an order with an intent of 'CAPTURE'.",
  INSTRUMENT_DECLINED: "The instrument presented  was either declined by the processor or bank, or it can't be used for this payment.",
  DUPLICATE_INVOICE_ID: 'Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account setting requires that Invoice Id be unique for each transaction.',
  INVALID_RESOURCE_ID: 'Specified resource ID does not exist. Please check the resource ID and try again.',
  REFUND_AMOUNT_EXCEEDED: 'The refund amount must be less than or equal to the capture amount that has not yet been refunded.',
  CAPTURE_FULLY_REFUNDED: 'The capture has already been fully refunded',
  REFUND_NOT_ALLOWED: 'Capture cannot be refunded.',
  PENDING_CAPTURE: 'Cannot initiate a refund as the capture is pending. Capture is typically pending when the payer has funded the transaction by using an e-check or bank account.',
  REFUND_CAPTURE_CURRENCY_MISMATCH: 'Refund must be in the same currency as the capture.',
  MALFORMED_REQUEST_JSON: 'The request JSON is not well formed.',
  MISSING_REQUIRED_PARAMETER: 'A required field / parameter is missing.',
  INVALID_PARAMETER_VALUE: 'The value of a field is invalid.',
  INVALID_PARAMETER_SYNTAX: 'The value of a field does not conform to the expected format.',
  INVALID_STRING_LENGTH: 'The value of a field is either too short or too long.',
  INVALID_ARRAY_MAX_ITEMS: 'The number of items in an array parameter is too large.',
  REFERENCE_ID_REQUIRED: "'reference_id' is required for each 'purchase_unit' if multiple 'purchase_unit' are provided.",
  DUPLICATE_REFERENCE_ID: "`reference_id` must be unique if multiple 'purchase_unit' are provided.",
};

interface Detail {
  field?: string;
  value?: string;
  location?: 'body' | 'path' | 'header' | 'query';
  issue: string;
  description?: string;
}

class SimError extends Error {
  constructor(
    readonly status: number,
    readonly details: Detail[] = [],
  ) {
    super(`PayPal ${status}`);
  }
}

const fail = (status: number, issue: string, more: Omit<Detail, 'issue'> = {}) => new SimError(status, [{ ...more, issue, description: more.description ?? DESCRIPTIONS[issue] ?? issue }]);

function fromIssues(issues: Issue[]): SimError {
  const status = issues.some((i) => i.status === 400) ? 400 : 422;
  return new SimError(
    status,
    issues.filter((i) => i.status === status).map((i) => ({ field: i.field, ...(i.value !== undefined ? { value: i.value } : {}), location: 'body' as const, issue: i.issue, description: i.description })),
  );
}

function str(v: unknown): v is string {
  return typeof v === 'string';
}

function validUrl(v: unknown): boolean {
  if (!str(v)) return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

export async function startPayPalSimulator(opts: PayPalSimulatorOptions = {}): Promise<PayPalSimulator> {
  const identity = await signingIdentity();
  const clientId = opts.clientId ?? `sim-client-${randomBytes(6).toString('hex')}`;
  const clientSecret = opts.clientSecret ?? `sim-secret-${randomBytes(12).toString('hex')}`;
  const webhookId = opts.webhookId ?? paypalId(17);
  const certId = `CERT-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;
  const ttl = opts.tokenTtlSeconds ?? 32_400;

  const tokens = new Map<string, number>(); // token -> expiry (ms)
  let tokensIssued = 0;
  const ordersById = new Map<string, SimOrder>();
  const capturesById = new Map<string, SimCapture>();
  const refundsById = new Map<string, SimRefund>();
  const replays = new Map<string, { status: number; id: string }>();
  const recorded: RecordedRequest[] = [];
  const failures: Array<{ remaining: number; failure: SimFailure; match: (r: { method: string; path: string }) => boolean }> = [];
  const nextCaptures: NextCapture[] = [];
  let base = '';

  // ---- rendering

  const link = (href: string, rel: string, method = 'GET') => ({ href: `${base}${href}`, rel, method });

  function renderCapture(c: SimCapture, standalone: boolean): Obj {
    const decimals = PAYPAL_CURRENCIES[c.currency] ?? 2;
    const fee = c.status === 'DECLINED' ? 0n : (c.minor * 29n) / 1000n + (decimals === 2 ? 30n : 0n);
    const out: Obj = {
      id: c.id,
      status: c.status,
      ...(c.status_details ? { status_details: c.status_details } : {}),
      amount: formatAmount(c.minor, c.currency),
      final_capture: true,
      disbursement_mode: 'INSTANT',
      seller_protection: c.status === 'DECLINED' ? { status: 'NOT_ELIGIBLE' } : { status: 'ELIGIBLE', dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'] },
      seller_receivable_breakdown: { gross_amount: formatAmount(c.minor, c.currency), paypal_fee: formatAmount(fee, c.currency), net_amount: formatAmount(c.minor - fee, c.currency) },
      ...(c.invoice_id !== undefined ? { invoice_id: c.invoice_id } : {}),
      ...(c.custom_id !== undefined ? { custom_id: c.custom_id } : {}),
      ...(c.processor_response ? { processor_response: c.processor_response } : {}),
      links: [
        link(`/v2/payments/captures/${c.id}`, 'self'),
        ...(c.status === 'COMPLETED' || c.status === 'PARTIALLY_REFUNDED' ? [link(`/v2/payments/captures/${c.id}/refund`, 'refund', 'POST')] : []),
        link(`/v2/checkout/orders/${c.orderId}`, 'up'),
      ],
      create_time: c.create_time,
      update_time: c.update_time,
    };
    if (standalone) out.supplementary_data = { related_ids: { order_id: c.orderId } };
    return out;
  }

  function renderOrder(o: SimOrder): Obj {
    const links = [link(`/v2/checkout/orders/${o.id}`, 'self')];
    if (o.status === 'CREATED') links.push({ href: `${base}/checkoutnow?token=${o.id}`, rel: 'approve', method: 'GET' });
    if (o.status === 'PAYER_ACTION_REQUIRED') links.push({ href: `${base}/checkoutnow?token=${o.id}`, rel: 'payer-action', method: 'GET' });
    if (o.status !== 'COMPLETED') links.push(link(`/v2/checkout/orders/${o.id}`, 'update', 'PATCH'), link(`/v2/checkout/orders/${o.id}/${o.intent === 'CAPTURE' ? 'capture' : 'authorize'}`, o.intent === 'CAPTURE' ? 'capture' : 'authorize', 'POST'));
    return {
      id: o.id,
      intent: o.intent,
      status: o.status,
      ...(o.paypalSource || o.payer ? { payment_source: { paypal: o.payer ? { email_address: o.payer.email_address, account_id: o.payer.payer_id, account_status: 'VERIFIED', name: o.payer.name } : {} } } : {}),
      purchase_units: o.units.map((u) => ({
        reference_id: u.reference_id,
        amount: formatAmount(u.minor, u.currency),
        payee: { email_address: 'merchant@example.com', merchant_id: 'SIMMERCHANT01' },
        ...(u.description !== undefined ? { description: u.description } : {}),
        ...(u.custom_id !== undefined ? { custom_id: u.custom_id } : {}),
        ...(u.invoice_id !== undefined ? { invoice_id: u.invoice_id } : {}),
        ...(u.soft_descriptor !== undefined ? { soft_descriptor: u.soft_descriptor } : {}),
        // as PayPal's order: the unit's payments hold its captures and the refunds of those captures
        ...(u.captures.length ? { payments: unitPayments(u.captures) } : {}),
      })),
      ...(o.payer ? { payer: o.payer } : {}),
      create_time: o.create_time,
      ...(o.update_time !== o.create_time ? { update_time: o.update_time } : {}),
      links,
    };
  }

  function unitPayments(captureIds: readonly string[]): Obj {
    const refunds = captureIds.flatMap((id) => capturesById.get(id)!.refunds).map((id) => renderRefund(refundsById.get(id)!));
    return { captures: captureIds.map((id) => renderCapture(capturesById.get(id)!, false)), ...(refunds.length ? { refunds } : {}) };
  }

  function renderRefund(r: SimRefund): Obj {
    return {
      id: r.id,
      amount: formatAmount(r.minor, r.currency),
      ...(r.invoice_id !== undefined ? { invoice_id: r.invoice_id } : {}),
      ...(r.custom_id !== undefined ? { custom_id: r.custom_id } : {}),
      ...(r.note_to_payer !== undefined ? { note_to_payer: r.note_to_payer } : {}),
      seller_payable_breakdown: {
        gross_amount: formatAmount(r.minor, r.currency),
        paypal_fee: formatAmount(0n, r.currency),
        net_amount: formatAmount(r.minor, r.currency),
        total_refunded_amount: formatAmount(r.totalRefunded, r.currency),
      },
      status: 'COMPLETED',
      create_time: r.create_time,
      update_time: r.update_time,
      links: [link(`/v2/payments/refunds/${r.id}`, 'self'), link(`/v2/payments/captures/${r.captureId}`, 'up')],
    };
  }

  const wantsRepresentation = (req: Request) => /return=representation/i.test(req.get('prefer') ?? '');

  // ---- answers

  function reply(res: Response, status: number, body: unknown, contentType = 'application/json'): void {
    const after = res.locals.failAfter as SimFailure | undefined;
    if (after) {
      if ('hang' in after) return; // the effect happened; the answer never comes
      sendError(res, new SimError(after.status), true);
      return;
    }
    const id = body && typeof body === 'object' && typeof (body as Obj).debug_id === 'string' ? (body as Obj).debug_id : debugId();
    res.status(status).set('PayPal-Debug-Id', id);
    if (contentType === 'application/json') res.json(body);
    else res.type(contentType).send(body);
  }

  function sendError(res: Response, err: SimError, bypass = false): void {
    const [name, message] = ERROR_TEXT[err.status] ?? ['UNKNOWN_ERROR', 'An unknown error occurred.'];
    const id = debugId();
    const body: Obj = { name, message, debug_id: id };
    if (err.details.length) body.details = err.details;
    body.links = err.details.length
      ? err.details.map((d) => ({ href: `https://developer.paypal.com/api/rest/reference/orders/v2/errors/#${d.issue}`, rel: 'information_link', method: 'GET' }))
      : [{ href: 'https://developer.paypal.com/api/rest/responses/#link-errors', rel: 'information_link', method: 'GET' }];
    if (bypass) {
      res.status(err.status).set('PayPal-Debug-Id', id).json(body);
      return;
    }
    reply(res, err.status, body);
  }

  function oauthError(res: Response, status: number, error: string, description: string): void {
    reply(res, status, { error, error_description: description });
  }

  function rawBody(req: Request): Buffer {
    return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  }

  function jsonBody(req: Request): Obj | undefined {
    const raw = rawBody(req);
    if (raw.length === 0) return undefined;
    if (!/json/i.test(req.get('content-type') ?? '')) throw new SimError(415);
    let v: unknown;
    try {
      v = JSON.parse(raw.toString('utf8'));
    } catch {
      throw fail(400, 'MALFORMED_REQUEST_JSON', { location: 'body' });
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw fail(400, 'MALFORMED_REQUEST_JSON', { location: 'body' });
    return v;
  }

  /**
   * PayPal-Request-Id. Orders v2 (create, capture) publishes `1 <= length <= 108` for it and
   * refuses a longer one; Payments v2 (refund) publishes no limit.
   */
  function requestId(req: Request, maxLength = Infinity): string | null {
    const v = req.get('paypal-request-id');
    if (v && v.length > maxLength) throw fail(400, 'INVALID_STRING_LENGTH', { field: 'PayPal-Request-Id', value: v, location: 'header' });
    return v && v.length > 0 ? v : null;
  }

  // ---- app

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(express.raw({ type: () => true, limit: '1mb' }));
  app.use((req, res, next) => {
    recorded.push({ method: req.method, path: req.path, url: req.originalUrl, headers: { ...req.headers }, body: rawBody(req).toString('utf8'), at: new Date() });
    if (req.path.startsWith('/__sim/')) { next(); return; }
    const rule = failures.find((f) => f.remaining > 0 && f.match({ method: req.method, path: req.path }));
    if (!rule) { next(); return; }
    rule.remaining--;
    if (rule.remaining === 0) failures.splice(failures.indexOf(rule), 1);
    if (rule.failure.when === 'after') {
      res.locals.failAfter = rule.failure;
      next(); return;
    }
    if ('hang' in rule.failure) return; // never answered; close() drops the connection
    sendError(res, new SimError(rule.failure.status), true);
  });

  const auth = (req: Request, res: Response, next: NextFunction) => {
    const h = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) { sendError(res, new SimError(401)); return; }
    const expiry = tokens.get(m[1]!);
    if (expiry === undefined) { oauthError(res, 401, 'invalid_token', 'Token signature verification failed'); return; }
    if (expiry <= Date.now()) { oauthError(res, 401, 'invalid_token', 'Access Token not found in cache'); return; }
    next();
  };

  /** Runs a handler; SimErrors become PayPal error answers. */
  const handle = (fn: (req: Request, res: Response) => void) => (req: Request, res: Response) => {
    try {
      fn(req, res);
    } catch (err) {
      if (err instanceof SimError) { sendError(res, err); return; }
      throw err;
    }
  };

  // OAuth 2.0 client credentials
  app.post('/v1/oauth2/token', (req, res) => {
    const m = /^Basic\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    const [id, secret] = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':', 2) : [];
    if (id !== clientId || secret !== clientSecret) { oauthError(res, 401, 'invalid_client', 'Client Authentication failed'); return; }
    const form = new URLSearchParams(rawBody(req).toString('utf8'));
    const grant = form.get('grant_type');
    if (!grant) { oauthError(res, 400, 'unsupported_grant_type', 'Grant Type is NULL'); return; }
    if (grant !== 'client_credentials') { oauthError(res, 400, 'unsupported_grant_type', `unsupported grant_type ${grant}`); return; }
    const token = `A21AA${randomBytes(60).toString('base64url')}`;
    tokens.set(token, Date.now() + ttl * 1000);
    tokensIssued++;
    reply(res, 200, {
      scope: 'https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/payments/payment/authcapture https://uri.paypal.com/services/checkout/one-click-with-merchant-issued-token https://uri.paypal.com/services/payments/orders/client_sdk_orders_api openid',
      access_token: token,
      token_type: 'Bearer',
      app_id: 'APP-80W284485P519543T',
      expires_in: ttl,
      nonce: `${isoSeconds()}${randomBytes(24).toString('base64url')}`,
    });
  });

  // Orders v2: create
  app.post(
    '/v2/checkout/orders',
    auth,
    handle((req, res) => {
      const rid = requestId(req, ORDERS_REQUEST_ID_MAX);
      const replay = rid ? replays.get(`create:${rid}`) : undefined;
      if (replay) {
        const o = ordersById.get(replay.id)!;
        reply(res, replay.status, wantsRepresentation(req) ? renderOrder(o) : { id: o.id, status: o.status, links: renderOrder(o).links }); return;
      }
      const body = jsonBody(req);
      if (!body) throw fail(400, 'MALFORMED_REQUEST_JSON', { location: 'body' });
      const issues: Issue[] = [];
      const bad = (status: 400 | 422, field: string, issue: string, value?: unknown) => issues.push({ status, field, issue, description: DESCRIPTIONS[issue] ?? issue, ...(value !== undefined ? { value: issueValue(value) } : {}) });
      if (body.intent === undefined) bad(400, '/intent', 'MISSING_REQUIRED_PARAMETER');
      else if (body.intent !== 'CAPTURE' && body.intent !== 'AUTHORIZE') bad(400, '/intent', 'INVALID_PARAMETER_VALUE', body.intent);
      const units: Obj[] = Array.isArray(body.purchase_units) ? body.purchase_units : [];
      if (body.purchase_units === undefined) bad(400, '/purchase_units', 'MISSING_REQUIRED_PARAMETER');
      else if (!Array.isArray(body.purchase_units) || units.length === 0) bad(400, '/purchase_units', 'INVALID_PARAMETER_SYNTAX');
      else if (units.length > 10) bad(400, '/purchase_units', 'INVALID_ARRAY_MAX_ITEMS');
      const parsed: SimUnit[] = [];
      const refs = new Set<string>();
      units.forEach((u, i) => {
        const at = `/purchase_units/${i}`;
        if (!u || typeof u !== 'object') return bad(400, at, 'INVALID_PARAMETER_SYNTAX');
        const amount = checkAmount(u.amount, `${at}/amount`);
        if ('issues' in amount) issues.push(...amount.issues);
        for (const [f, max] of [['reference_id', 256], ['custom_id', 127], ['invoice_id', 127], ['description', 127], ['soft_descriptor', 22]] as const) {
          if (u[f] === undefined) continue;
          if (!str(u[f])) bad(400, `${at}/${f}`, 'INVALID_PARAMETER_SYNTAX', u[f]);
          else if (u[f].length < 1 || u[f].length > max) bad(400, `${at}/${f}`, 'INVALID_STRING_LENGTH', u[f]);
        }
        const ref = str(u.reference_id) ? u.reference_id : 'default';
        if (units.length > 1 && u.reference_id === undefined) bad(422, `${at}/reference_id`, 'REFERENCE_ID_REQUIRED');
        else if (refs.has(ref)) bad(422, `${at}/reference_id`, 'DUPLICATE_REFERENCE_ID', ref);
        refs.add(ref);
        if (!('issues' in amount)) {
          parsed.push({ reference_id: ref, minor: amount.minor, currency: amount.currency, custom_id: u.custom_id, invoice_id: u.invoice_id, description: u.description, soft_descriptor: u.soft_descriptor, captures: [] });
        }
      });
      const ctx: Obj | undefined = body.payment_source?.paypal?.experience_context ?? body.application_context;
      const ctxField = body.payment_source?.paypal ? '/payment_source/paypal/experience_context' : '/application_context';
      for (const f of ['return_url', 'cancel_url']) if (ctx?.[f] !== undefined && !validUrl(ctx[f])) bad(400, `${ctxField}/${f}`, 'INVALID_PARAMETER_SYNTAX', ctx[f]);
      if (issues.length) throw fromIssues(issues);
      const now = isoSeconds();
      const paypalSource = Boolean(body.payment_source?.paypal);
      const order: SimOrder = {
        id: paypalId(),
        intent: body.intent,
        status: paypalSource ? 'PAYER_ACTION_REQUIRED' : 'CREATED',
        units: parsed.map((u) => Object.fromEntries(Object.entries(u).filter(([, v]) => v !== undefined)) as unknown as SimUnit),
        paypalSource,
        returnUrl: str(ctx?.return_url) ? ctx.return_url : null,
        cancelUrl: str(ctx?.cancel_url) ? ctx.cancel_url : null,
        payer: null,
        create_time: now,
        update_time: now,
      };
      ordersById.set(order.id, order);
      if (rid) replays.set(`create:${rid}`, { status: 201, id: order.id });
      const full = renderOrder(order);
      reply(res, 201, wantsRepresentation(req) ? full : { id: order.id, status: order.status, links: full.links });
    }),
  );

  function findOrder(id: string): SimOrder {
    const o = ordersById.get(id);
    if (!o) throw fail(404, 'INVALID_RESOURCE_ID', { field: 'order_id', value: id, location: 'path' });
    return o;
  }
  function findCapture(id: string): SimCapture {
    const c = capturesById.get(id);
    if (!c) throw fail(404, 'INVALID_RESOURCE_ID', { field: 'capture_id', value: id, location: 'path' });
    return c;
  }

  app.get(
    '/v2/checkout/orders/:id',
    auth,
    handle((req, res) => reply(res, 200, renderOrder(findOrder(String(req.params.id))))),
  );

  function captureMinimal(o: SimOrder): Obj {
    const full = renderOrder(o);
    return { id: full.id, status: full.status, ...(full.payment_source ? { payment_source: full.payment_source } : {}), purchase_units: full.purchase_units.map((u: Obj) => ({ reference_id: u.reference_id, payments: u.payments })), ...(full.payer ? { payer: full.payer } : {}), links: full.links };
  }

  // Orders v2: capture
  app.post(
    '/v2/checkout/orders/:id/capture',
    auth,
    handle((req, res) => {
      const order = findOrder(String(req.params.id));
      const rid = requestId(req, ORDERS_REQUEST_ID_MAX);
      const key = rid ? `capture:${order.id}:${rid}` : null;
      const replay = key ? replays.get(key) : undefined;
      if (replay) { reply(res, replay.status, wantsRepresentation(req) ? renderOrder(order) : captureMinimal(order)); return; }
      jsonBody(req); // payment_source etc. are accepted and ignored; the body must still be JSON
      if (order.intent !== 'CAPTURE') throw fail(422, 'ACTION_DOES_NOT_MATCH_INTENT');
      if (order.status === 'COMPLETED') throw fail(422, 'ORDER_ALREADY_CAPTURED');
      if (order.status !== 'APPROVED') throw fail(422, 'ORDER_NOT_APPROVED');
      for (const u of order.units) {
        if (u.invoice_id === undefined) continue;
        const dup = [...capturesById.values()].some((c) => c.orderId !== order.id && c.invoice_id === u.invoice_id && (c.status === 'COMPLETED' || c.status === 'PARTIALLY_REFUNDED' || c.status === 'REFUNDED' || c.status === 'PENDING'));
        if (dup) throw fail(422, 'DUPLICATE_INVOICE_ID', { field: '/purchase_units/@reference_id==\'' + u.reference_id + "'/invoice_id", value: u.invoice_id, location: 'body' });
      }
      const next = nextCaptures.shift();
      if (next?.kind === 'instrument_declined') throw fail(422, 'INSTRUMENT_DECLINED');
      const now = isoSeconds();
      order.units.forEach((u, i) => {
        const c: SimCapture = {
          id: paypalId(),
          orderId: order.id,
          unit: i,
          status: next?.kind === 'declined' ? 'DECLINED' : next?.kind === 'pending' ? 'PENDING' : 'COMPLETED',
          minor: u.minor,
          currency: u.currency,
          refunded: 0n,
          refunds: [],
          create_time: now,
          update_time: now,
        };
        if (u.custom_id !== undefined) c.custom_id = u.custom_id;
        if (u.invoice_id !== undefined) c.invoice_id = u.invoice_id;
        if (next?.kind === 'declined') c.processor_response = { avs_code: 'G', cvv_code: 'P', response_code: next.responseCode };
        if (next?.kind === 'pending') c.status_details = { reason: next.reason };
        capturesById.set(c.id, c);
        u.captures.push(c.id);
      });
      order.status = 'COMPLETED';
      order.update_time = now;
      if (key) replays.set(key, { status: 201, id: order.id });
      reply(res, 201, wantsRepresentation(req) ? renderOrder(order) : captureMinimal(order));
    }),
  );

  app.get(
    '/v2/payments/captures/:id',
    auth,
    handle((req, res) => reply(res, 200, renderCapture(findCapture(String(req.params.id)), true))),
  );

  app.get(
    '/v2/payments/refunds/:id',
    auth,
    handle((req, res) => {
      const r = refundsById.get(String(req.params.id));
      if (!r) throw fail(404, 'INVALID_RESOURCE_ID', { field: 'refund_id', value: String(req.params.id), location: 'path' });
      reply(res, 200, renderRefund(r));
    }),
  );

  // Payments v2: refund
  app.post(
    '/v2/payments/captures/:id/refund',
    auth,
    handle((req, res) => {
      const capture = findCapture(String(req.params.id));
      const rid = requestId(req);
      const key = rid ? `refund:${capture.id}:${rid}` : null;
      const replay = key ? replays.get(key) : undefined;
      if (replay) {
        const r = refundsById.get(replay.id)!;
        reply(res, replay.status, wantsRepresentation(req) ? renderRefund(r) : { id: r.id, status: 'COMPLETED', links: renderRefund(r).links }); return;
      }
      const body = jsonBody(req) ?? {};
      if (capture.status === 'DECLINED') throw fail(422, 'REFUND_NOT_ALLOWED');
      if (capture.status === 'PENDING') throw fail(422, 'PENDING_CAPTURE');
      if (capture.status === 'REFUNDED') throw fail(422, 'CAPTURE_FULLY_REFUNDED');
      const remaining = capture.minor - capture.refunded;
      let minor = remaining;
      if (body.amount !== undefined) {
        const a = checkAmount(body.amount, '/amount');
        if ('issues' in a) throw fromIssues(a.issues);
        if (a.currency !== capture.currency) throw fail(422, 'REFUND_CAPTURE_CURRENCY_MISMATCH', { field: '/amount/currency_code', value: a.currency, location: 'body' });
        if (a.minor > remaining) throw fail(422, 'REFUND_AMOUNT_EXCEEDED', { field: '/amount/value', value: String(body.amount.value), location: 'body' });
        minor = a.minor;
      }
      for (const f of ['note_to_payer', 'invoice_id', 'custom_id'] as const) {
        if (body[f] !== undefined && (!str(body[f]) || body[f].length > 255)) throw fail(400, 'INVALID_STRING_LENGTH', { field: `/${f}`, location: 'body' });
      }
      const now = isoSeconds();
      capture.refunded += minor;
      capture.status = capture.refunded === capture.minor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
      capture.update_time = now;
      const refund: SimRefund = { id: paypalId(), captureId: capture.id, minor, currency: capture.currency, totalRefunded: capture.refunded, create_time: now, update_time: now };
      if (str(body.note_to_payer)) refund.note_to_payer = body.note_to_payer;
      const invoiceId = str(body.invoice_id) ? body.invoice_id : capture.invoice_id;
      const customId = str(body.custom_id) ? body.custom_id : capture.custom_id;
      if (invoiceId !== undefined) refund.invoice_id = invoiceId;
      if (customId !== undefined) refund.custom_id = customId;
      refundsById.set(refund.id, refund);
      capture.refunds.push(refund.id);
      if (key) replays.set(key, { status: 201, id: refund.id });
      reply(res, 201, wantsRepresentation(req) ? renderRefund(refund) : { id: refund.id, status: 'COMPLETED', links: renderRefund(refund).links });
    }),
  );

  // Webhooks: the signing cert, and postback verification
  app.get('/v1/notifications/certs/:id', (req, res) => {
    if (req.params.id !== certId) { sendError(res, fail(404, 'INVALID_RESOURCE_ID', { field: 'cert_id', value: req.params.id, location: 'path' })); return; }
    reply(res, 200, identity.certPem, 'application/x-pem-file');
  });

  app.post(
    '/v1/notifications/verify-webhook-signature',
    auth,
    handle((req, res) => {
      const body = jsonBody(req);
      if (!body) throw fail(400, 'MALFORMED_REQUEST_JSON', { location: 'body' });
      const missing = ['auth_algo', 'cert_url', 'transmission_id', 'transmission_sig', 'transmission_time', 'webhook_id', 'webhook_event'].filter((f) => body[f] === undefined || body[f] === null || body[f] === '');
      if (missing.length) throw new SimError(400, missing.map((f) => ({ field: `/${f}`, location: 'body' as const, issue: 'MISSING_REQUIRED_PARAMETER', description: DESCRIPTIONS.MISSING_REQUIRED_PARAMETER })));
      let ok = body.auth_algo === 'SHA256withRSA' && body.cert_url === certUrl && str(body.transmission_sig) && typeof body.webhook_event === 'object';
      if (ok) {
        // PayPal computes the CRC over the event it re-serialises, not over the bytes first sent
        const crc = zlib.crc32(Buffer.from(JSON.stringify(body.webhook_event), 'utf8')) >>> 0;
        const signed = `${String(body.transmission_id)}|${String(body.transmission_time)}|${String(body.webhook_id)}|${crc}`;
        ok = cryptoVerify('sha256', Buffer.from(signed, 'utf8'), identity.cert.publicKey, Buffer.from(body.transmission_sig, 'base64'));
      }
      reply(res, 200, { verification_status: ok ? 'SUCCESS' : 'FAILURE' });
    }),
  );

  // Buyer approval: the approve / payer-action link, and a test hook path
  app.get(
    '/checkoutnow',
    handle((req, res) => {
      const token = req.query.token;
      const id = typeof token === 'string' ? token : '';
      const order = ordersById.get(id);
      if (!order) return void res.status(404).type('text/plain').send('unknown order');
      approve(order);
      if (!order.returnUrl) return void res.status(200).type('text/plain').send(`order ${id} approved`);
      const u = new URL(order.returnUrl);
      u.searchParams.set('token', id);
      u.searchParams.set('PayerID', String(order.payer?.payer_id));
      res.redirect(302, u.toString());
    }),
  );
  app.post(
    '/__sim/orders/:id/approve',
    handle((req, res) => {
      const order = findOrder(String(req.params.id));
      approve(order);
      res.status(200).json(renderOrder(order));
    }),
  );

  app.use((req: Request, res: Response) => sendError(res, fail(404, 'INVALID_RESOURCE_ID', { field: 'path', value: req.path, location: 'path' })));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    sendError(res, new SimError(500, [{ issue: 'INTERNAL_SERVICE_ERROR', description: err instanceof Error ? err.message : String(err) }]), true);
  });

  function approve(order: SimOrder, payer: { email?: string; givenName?: string; surname?: string; payerId?: string } = {}): void {
    if (order.status === 'APPROVED') return;
    if (order.status === 'COMPLETED') throw fail(422, 'ORDER_ALREADY_CAPTURED');
    order.payer = {
      name: { given_name: payer.givenName ?? 'John', surname: payer.surname ?? 'Doe' },
      email_address: payer.email ?? 'buyer@example.com',
      payer_id: payer.payerId ?? paypalId(13),
      address: { country_code: 'US' },
    };
    order.status = 'APPROVED';
    order.update_time = isoSeconds();
  }

  // ---- server

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const certUrl = `${base}/v1/notifications/certs/${certId}`;

  // ---- webhooks out

  function signWebhook(raw: string | Buffer, o: WebhookSignOptions = {}): Record<string, string> {
    const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8');
    const transmissionId = o.transmissionId ?? randomUUID();
    const transmissionTime = o.transmissionTime ?? isoSeconds();
    const crc = zlib.crc32(bytes) >>> 0;
    const signed = `${transmissionId}|${transmissionTime}|${o.webhookId ?? webhookId}|${crc}`;
    return {
      'PAYPAL-TRANSMISSION-ID': transmissionId,
      'PAYPAL-TRANSMISSION-TIME': transmissionTime,
      'PAYPAL-TRANSMISSION-SIG': cryptoSign('sha256', Buffer.from(signed, 'utf8'), o.privateKey ?? identity.privateKey).toString('base64'),
      'PAYPAL-CERT-URL': o.certUrl ?? certUrl,
      'PAYPAL-AUTH-ALGO': o.authAlgo ?? 'SHA256withRSA',
    };
  }

  async function sendWebhook(targetUrl: string, event: Obj | string | Buffer, o: WebhookSendOptions = {}): Promise<WebhookDelivery> {
    const raw = Buffer.isBuffer(event) ? event : Buffer.from(typeof event === 'string' ? event : JSON.stringify(event), 'utf8');
    let headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'PayPal/AUHD-214.0-58192429', ...signWebhook(raw, o) };
    for (const [k, v] of Object.entries(o.headers ?? {})) {
      headers = Object.fromEntries(Object.entries(headers).filter(([existing]) => existing.toLowerCase() !== k.toLowerCase()));
      if (v !== undefined) headers[k] = v;
    }
    const res = await fetch(targetUrl, { method: 'POST', headers, body: raw });
    return { status: res.status, body: await res.text(), headers, rawBody: raw.toString('utf8') };
  }

  const money = (minor: bigint, currency: string) => {
    const a = formatAmount(minor, currency);
    return `${a.value} ${currency}`;
  };

  function envelope(eventType: string, resourceType: string, resource: Obj, summary?: string): PayPalWebhookEvent {
    const id = `WH-${paypalId(17)}-${paypalId(17)}`;
    return {
      id,
      event_version: '1.0',
      create_time: new Date().toISOString(),
      resource_type: resourceType,
      resource_version: '2.0',
      event_type: eventType,
      summary: summary ?? eventType,
      resource,
      links: [link(`/v1/notifications/webhooks-events/${id}`, 'self'), link(`/v1/notifications/webhooks-events/${id}/resend`, 'resend', 'POST')],
    };
  }

  const mustOrder = (id: string) => {
    const o = ordersById.get(id);
    if (!o) throw new Error(`simulator: no order ${id}`);
    return o;
  };
  const mustCapture = (id: string) => {
    const c = capturesById.get(id);
    if (!c) throw new Error(`simulator: no capture ${id}`);
    return c;
  };

  const events: SimEvents = {
    orderApproved: (id) => envelope('CHECKOUT.ORDER.APPROVED', 'checkout-order', renderOrder(mustOrder(id)), 'An order has been approved by buyer'),
    orderCompleted: (id) => envelope('CHECKOUT.ORDER.COMPLETED', 'checkout-order', renderOrder(mustOrder(id)), 'Checkout Order Completed'),
    captureCompleted: (id) => {
      const c = mustCapture(id);
      return envelope('PAYMENT.CAPTURE.COMPLETED', 'capture', renderCapture(c, true), `Payment completed for ${money(c.minor, c.currency)}`);
    },
    captureDenied: (id) => {
      const c = mustCapture(id);
      return envelope('PAYMENT.CAPTURE.DENIED', 'capture', renderCapture(c, true), `A ${money(c.minor, c.currency)} capture payment was denied`);
    },
    capturePending: (id) => {
      const c = mustCapture(id);
      return envelope('PAYMENT.CAPTURE.PENDING', 'capture', renderCapture(c, true), `Payment pending for ${money(c.minor, c.currency)}`);
    },
    captureRefunded: (id) => {
      const r = refundsById.get(id);
      if (!r) throw new Error(`simulator: no refund ${id}`);
      return envelope('PAYMENT.CAPTURE.REFUNDED', 'refund', renderRefund(r), `A ${money(r.minor, r.currency)} capture payment was refunded`);
    },
    envelope,
  };

  return {
    url: base,
    webhookId,
    clientId,
    clientSecret,
    certUrl,
    certPem: identity.certPem,
    get tokensIssued() {
      return tokensIssued;
    },
    get captureCount() {
      return capturesById.size;
    },
    approveOrder(orderId, payer) {
      const order = ordersById.get(orderId);
      if (!order) throw new Error(`simulator: no order ${orderId}`);
      approve(order, payer);
    },
    declineNextCapture(o = {}) {
      nextCaptures.push(o.instrumentDeclined ? { kind: 'instrument_declined' } : { kind: 'declined', responseCode: o.responseCode ?? '5120' });
    },
    pendNextCapture(reason = 'PENDING_REVIEW') {
      nextCaptures.push({ kind: 'pending', reason });
    },
    failNext(count, failure, match = () => true) {
      if (count > 0) failures.push({ remaining: count, failure, match });
    },
    expireTokens() {
      tokens.clear();
    },
    requests(filter = {}) {
      return recorded.filter(
        (r) => (!filter.method || r.method === filter.method.toUpperCase()) && (!filter.path || (typeof filter.path === 'string' ? r.path === filter.path : filter.path.test(r.path))),
      );
    },
    clearRequests() {
      recorded.length = 0;
    },
    order: (id) => {
      const o = ordersById.get(id);
      return o ? renderOrder(o) : undefined;
    },
    capture: (id) => {
      const c = capturesById.get(id);
      return c ? renderCapture(c, true) : undefined;
    },
    refund: (id) => {
      const r = refundsById.get(id);
      return r ? renderRefund(r) : undefined;
    },
    events,
    signWebhook,
    sendWebhook,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
