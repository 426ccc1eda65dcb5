/**
 * A fake Stripe API for reconciliation tests: it serves the list endpoints Settle reads
 * (GET /v1/payment_intents, /v1/charges, /v1/refunds, /v1/disputes, /v1/invoices,
 * /v1/subscriptions) over objects a test puts in, per account (the Stripe-Account header; none:
 * the platform), following Stripe's list API: `created[gte]`, `limit` (1..100, default 10),
 * `starting_after`, newest first, `{object: 'list', data, has_more, url}`; subscriptions leave
 * out canceled ones unless `status=all` (or `canceled`); `expand[]=data.latest_charge` expands a
 * payment intent's charge. stripe-mock answers list calls with canned fixtures, so exact
 * histories need this. Test hooks: `rateLimitNext(n, retryAfterSeconds)` answers the next n list
 * calls 429 with Retry-After; `requests` records every call (method, path, query, account).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

const RESOURCES: Record<string, string> = {
  payment_intents: 'payment_intent',
  charges: 'charge',
  refunds: 'refund',
  disputes: 'dispute',
  invoices: 'invoice',
  subscriptions: 'subscription',
};

export interface LedgerRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly account: string | null;
  readonly status: number;
  /** Date.now() when it was answered. */
  readonly at: number;
}

export class StripeLedgerServer {
  private readonly objects = new Map<string, Map<string, Obj[]>>();
  readonly requests: LedgerRequest[] = [];
  private limited: { remaining: number; retryAfter: number } = { remaining: 0, retryAfter: 0 };
  private server: http.Server | null = null;
  url = '';

  /** Adds (or replaces, by id) objects of one kind on an account (null: the platform). */
  put(kind: 'payment_intent' | 'charge' | 'refund' | 'dispute' | 'invoice' | 'subscription', account: string | null, ...objs: Obj[]): void {
    const byKind = this.objects.get(account ?? '') ?? new Map<string, Obj[]>();
    this.objects.set(account ?? '', byKind);
    const list = byKind.get(kind) ?? [];
    for (const o of objs) {
      const i = list.findIndex((x) => x.id === o.id);
      if (i >= 0) list[i] = o;
      else list.push(o);
    }
    byKind.set(kind, list);
  }

  rateLimitNext(n: number, retryAfterSeconds: number): void {
    this.limited = { remaining: n, retryAfter: retryAfterSeconds };
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stripe.test');
    const account = typeof req.headers['stripe-account'] === 'string' ? req.headers['stripe-account'] : null;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, account, status, at: Date.now() });
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${this.requests.length}`, ...headers });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, type: string, message: string, param?: string) => send(status, { error: { type, message, ...(param ? { param } : {}) } });
    if (!/^Bearer (sk|rk)_(test|live)_/.test(req.headers.authorization ?? '')) { error(401, 'invalid_request_error', 'Invalid API Key provided'); return; }
    const m = /^\/v1\/([a-z_]+)$/.exec(url.pathname);
    const kind = m ? RESOURCES[m[1]!] : undefined;
    if (req.method !== 'GET' || !kind) { error(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${url.pathname}). This fake serves list endpoints only.`); return; }
    if (this.limited.remaining > 0) {
      this.limited.remaining--;
      send(429, { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Request rate limit exceeded. You can make up to 25 requests per second in test mode.' } }, { 'retry-after': String(this.limited.retryAfter) }); return;
    }
    const q = url.searchParams;
    for (const key of q.keys()) {
      if (!['limit', 'starting_after', 'ending_before', 'created[gte]', 'created[gt]', 'created[lte]', 'created[lt]', 'status', 'expand[]', 'expand[0]'].includes(key)) { error(400, 'invalid_request_error', `Received unknown parameter: ${key}`, key); return; }
    }
    const limit = q.has('limit') ? Number(q.get('limit')) : 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) { error(400, 'invalid_request_error', 'Invalid integer: limit must be between 1 and 100', 'limit'); return; }
    const gte = q.has('created[gte]') ? Number(q.get('created[gte]')) : null;
    if (gte !== null && !Number.isInteger(gte)) { error(400, 'invalid_request_error', 'Invalid integer: created[gte]', 'created[gte]'); return; }
    const status = q.get('status');
    const byKind = this.objects.get(account ?? '');
    if (account !== null && !this.objects.has(account)) { error(403, 'invalid_request_error', `The provided key does not have access to account '${account}' (or that account does not exist).`); return; }
    let all = [...(byKind?.get(kind) ?? [])]
      .filter((o) => gte === null || Number(o.created) >= gte)
      .filter((o) => kind !== 'subscription' || (status === 'all' ? true : status ? o.status === status : o.status !== 'canceled'))
      .sort((a, b) => Number(b.created) - Number(a.created) || String(b.id).localeCompare(String(a.id)));
    const after = q.get('starting_after');
    if (after) {
      const i = all.findIndex((o) => o.id === after);
      if (i < 0) { error(400, 'invalid_request_error', `No such ${kind}: '${after}'`, 'starting_after'); return; }
      all = all.slice(i + 1);
    }
    const expandCharge = q.getAll('expand[]').concat(q.getAll('expand[0]')).includes('data.latest_charge');
    const charges = byKind?.get('charge') ?? [];
    const data = all.slice(0, limit).map((o) => (expandCharge && kind === 'payment_intent' && typeof o.latest_charge === 'string' ? { ...o, latest_charge: charges.find((c) => c.id === o.latest_charge) ?? o.latest_charge } : o));
    send(200, { object: 'list', url: url.pathname, has_more: all.length > limit, data });
  }
}
