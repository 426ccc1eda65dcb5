/**
 * Live status over server-sent events. A stream watches one object (a payment attempt, a booking,
 * an invoice, a subscription's checkout) of one tenant. It is fed by the projections: when a read
 * model the object lives in commits a change (ReadModelChanges: this process's runners, and
 * PostgreSQL NOTIFY from other instances) the object is re-read and sent where it changed. On
 * connect the current state is sent, unless the client's Last-Event-ID says it has it already (the
 * event id is a hash of the state). Heartbeat comments keep proxies from closing idle streams; a
 * closed connection is unsubscribed at once. Open streams: `settle_live_streams`.
 *
 * Bounded work: streams watching the same subject (same object, same read) share one read per
 * change, coalesced while it runs; each stream only renders that state (e.g. with its session's
 * CSRF token). Bounded streams: at most LIVE_STREAMS_PER_PRINCIPAL per API key, console session
 * or payer link and LIVE_STREAMS_PER_IP per client address (beyond: 429 `too-many-streams`).
 * Authorization does not outlive the stream: it is re-checked before every push of a changed
 * state and at every heartbeat (one check per principal, shared by its streams); a revoked key,
 * an ended or expired console session or an expired payer link gets `event: end` and the stream
 * is closed (the browser's reconnect then meets the 401/403 of the route).
 */
import { createHash } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import type { HttpMetrics } from './services';
import type { ReadModelChanges } from '../domain/ports/readModelChanges';
import type { ReadModels } from '../projections/queries';
import type { Principal } from './auth';
import { Problem } from './problem';
import { byIp } from './rateLimit';

export type LiveKind = 'payment' | 'booking' | 'invoice' | 'subscription';

/** Which projections an object of each kind is read from. */
const SOURCES: Readonly<Record<LiveKind, readonly string[]>> = {
  payment: ['payment_history'],
  booking: ['bookings'],
  invoice: ['invoices', 'invoice_history', 'payment_history'],
  subscription: ['subscriptions'],
};

/** What a stream sends: the state (JSON) and, for pages, the same fragment the server rendered. */
export interface LiveView {
  readonly state: unknown;
  readonly html?: string;
}

/** What a stream watches: streams with the same `key` share `read` (the key must name the read). */
export interface LiveSubject<S> {
  readonly kind: LiveKind;
  readonly key: string;
  /** The object's current state; null: gone (nothing is sent). */
  readonly read: () => Promise<S | null>;
}

/** Who a stream is for. */
export interface LiveAccess {
  /** Counts against LIVE_STREAMS_PER_PRINCIPAL, e.g. `key:<id>`, `session:<hash>`, `link:<tenant>/<invoice>`. */
  readonly principal: string;
  /** Is the principal still allowed? Checked before each push and at each heartbeat; false ends the stream. */
  readonly stillAllowed: () => Promise<boolean>;
}

export interface LiveLimits {
  readonly heartbeatMs: number;
  readonly perPrincipal: number;
  readonly perIp: number;
}

interface Subject {
  readonly kind: LiveKind;
  readonly key: string;
  readonly read: () => Promise<unknown>;
  readonly streams: Set<Stream>;
  pending: boolean;
  again: boolean;
}

interface Stream {
  readonly subject: Subject;
  readonly res: Response;
  readonly render: (state: unknown) => LiveView | null;
  readonly access: LiveAccess;
  readonly ip: string;
  lastId: string | null;
}

const versionOf = (view: LiveView) => createHash('sha256').update(JSON.stringify(view.state)).digest('base64url').slice(0, 22);

export class LiveStatusHub {
  private readonly streams = new Set<Stream>();
  private readonly subjects = new Map<string, Subject>();
  private readonly byPrincipal = new Map<string, number>();
  private readonly byIp = new Map<string, number>();
  /** Authorization checks in flight, per principal (its streams share one). */
  private readonly checks = new Map<string, Promise<boolean>>();
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  /** Subject reads done (for tests and the curious). */
  reads = 0;

  constructor(
    changes: ReadModelChanges,
    private readonly metrics: HttpMetrics,
    private readonly limits: LiveLimits,
  ) {
    this.unsubscribe = changes.subscribe((projection) => this.changed(projection));
    this.heartbeat = setInterval(() => void this.beat(), limits.heartbeatMs);
    this.heartbeat.unref();
  }

  get open(): number {
    return this.streams.size;
  }

  /**
   * Serves one stream until the client goes away or loses access. The caller has checked access
   * and existence. Over the per-principal or per-address cap: 429 problem, nothing opened.
   */
  async serve<S>(req: Request, res: Response, subject: LiveSubject<S>, render: (state: S) => LiveView | null, access: LiveAccess): Promise<void> {
    const ip = byIp(req);
    if ((this.byPrincipal.get(access.principal) ?? 0) >= this.limits.perPrincipal || (this.byIp.get(ip) ?? 0) >= this.limits.perIp) {
      res.setHeader('Retry-After', '5');
      throw new Problem(429, 'too-many-streams', 'Too Many Requests', 'Too many live streams are open for this key, session, link or address; close one first', [], {
        limits: { perPrincipal: this.limits.perPrincipal, perAddress: this.limits.perIp },
      });
    }
    let sub = this.subjects.get(subject.key);
    if (!sub) {
      sub = { kind: subject.kind, key: subject.key, read: subject.read, streams: new Set(), pending: false, again: false };
      this.subjects.set(subject.key, sub);
    }
    const s: Stream = { subject: sub, res, render: render as (state: unknown) => LiveView | null, access, ip, lastId: req.get('last-event-id') ?? null };
    sub.streams.add(s);
    this.streams.add(s);
    this.byPrincipal.set(access.principal, (this.byPrincipal.get(access.principal) ?? 0) + 1);
    this.byIp.set(ip, (this.byIp.get(ip) ?? 0) + 1);
    this.metrics.liveStreams.inc({ kind: sub.kind });
    req.on('close', () => this.drop(s));
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write('retry: 2000\n\n');
    // the first state: access was checked by the route just now
    this.reads++;
    const state = await sub.read().catch(() => null);
    if (state !== null && state !== undefined && this.streams.has(s)) this.write(s, state);
  }

  private drop(s: Stream): boolean {
    if (!this.streams.delete(s)) return false;
    s.subject.streams.delete(s);
    if (s.subject.streams.size === 0) this.subjects.delete(s.subject.key);
    const dec = (m: Map<string, number>, k: string) => {
      const n = (m.get(k) ?? 1) - 1;
      if (n <= 0) m.delete(k);
      else m.set(k, n);
    };
    dec(this.byPrincipal, s.access.principal);
    dec(this.byIp, s.ip);
    this.metrics.liveStreams.dec({ kind: s.subject.kind });
    return true;
  }

  /** Ends a stream: a last `end` event naming the reason, then the response ends. */
  private end(s: Stream, reason: string): void {
    if (!this.drop(s)) return;
    s.res.write(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    s.res.end();
  }

  private allowed(access: LiveAccess): Promise<boolean> {
    let p = this.checks.get(access.principal);
    if (!p) {
      p = access.stillAllowed().catch(() => true); // a failed check (database restarting) does not end streams; the next one decides
      this.checks.set(access.principal, p);
      void p.finally(() => this.checks.delete(access.principal));
    }
    return p;
  }

  private async beat(): Promise<void> {
    const principals = new Map<string, LiveAccess>();
    for (const s of this.streams) principals.set(s.access.principal, s.access);
    const revoked = new Set<string>();
    await Promise.all(
      [...principals].map(async ([k, a]) => {
        if (!(await this.allowed(a))) revoked.add(k);
      }),
    );
    for (const s of [...this.streams]) {
      if (revoked.has(s.access.principal)) this.end(s, 'unauthorized');
      else s.res.write(': heartbeat\n\n');
    }
  }

  private changed(projection: string): void {
    for (const sub of this.subjects.values()) if (SOURCES[sub.kind].includes(projection)) void this.refresh(sub);
  }

  /** Re-reads a subject once for all its streams; concurrent signals coalesce into one more read. */
  private async refresh(sub: Subject): Promise<void> {
    if (sub.pending) {
      sub.again = true;
      return;
    }
    sub.pending = true;
    try {
      do {
        sub.again = false;
        this.reads++;
        const state = await sub.read().catch(() => null);
        if (state === null || state === undefined) continue;
        await Promise.all([...sub.streams].map((s) => this.push(s, state)));
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a concurrent refresh() sets sub.again during the awaits above; TypeScript's narrowing from `sub.again = false` cannot see that
      } while (sub.again && sub.streams.size > 0);
    } finally {
      sub.pending = false;
    }
  }

  /** Sends a changed state, after checking the stream's principal still has access. */
  private async push(s: Stream, state: unknown): Promise<void> {
    const view = s.render(state);
    if (!view || versionOf(view) === s.lastId) return;
    if (!(await this.allowed(s.access))) {
      this.end(s, 'unauthorized');
      return;
    }
    if (this.streams.has(s)) this.send(s, view);
  }

  private write(s: Stream, state: unknown): void {
    const view = s.render(state);
    if (view) this.send(s, view);
  }

  private send(s: Stream, view: LiveView): void {
    const id = versionOf(view);
    if (id === s.lastId) return;
    s.lastId = id;
    s.res.write(`event: status\nid: ${id}\ndata: ${JSON.stringify(view)}\n\n`);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.unsubscribe();
    for (const s of [...this.streams]) {
      this.drop(s);
      s.res.end();
    }
  }
}

/** The access of an API stream: the admin key (static), or a tenant key re-checked by id. */
export function apiAccess(principal: Principal, keyActive: (keyId: string) => Promise<boolean>): LiveAccess {
  if (principal.kind === 'admin') return { principal: 'admin', stillAllowed: () => Promise.resolve(true) };
  return { principal: `key:${principal.keyId}`, stillAllowed: () => keyActive(principal.keyId) };
}

/**
 * The same streams for API clients (bearer key, tenant-scoped; an app server relays them to its
 * own pages, e.g. a checkout status page): `GET /v1/payments/{attemptId}/live`,
 * `/v1/bookings/{bookingId}/live`, `/v1/invoices/{invoiceId}/live`,
 * `/v1/customers/{customerId}/subscription/live` (checkout and subscription status). State only (JSON).
 */
export function apiLiveRoutes(router: Router, hub: LiveStatusHub, models: ReadModels, tenantOf: (res: Response) => string, keyActive: (keyId: string) => Promise<boolean>): void {
  const SAFE = /^[A-Za-z0-9_-]{1,100}$/;
  const notFound = (what: string) => new Problem(404, `${what}-not-found`, 'Not Found', `No such ${what} for this tenant`);
  const streams: Array<[string, LiveKind, (tenantId: string, id: string) => Promise<unknown>]> = [
    ['/payments/:id/live', 'payment', (t, id) => models.payment(t, id)],
    ['/bookings/:id/live', 'booking', (t, id) => (SAFE.test(id) ? models.booking(t, id) : Promise.resolve(null))],
    ['/invoices/:id/live', 'invoice', (t, id) => (SAFE.test(id) ? models.invoice(t, id) : Promise.resolve(null))],
    ['/customers/:id/subscription/live', 'subscription', (t, id) => (SAFE.test(id) ? models.subscription(t, id) : Promise.resolve(null))],
  ];
  for (const [path, kind, read] of streams) {
    router.get(path, async (req: Request, res: Response) => {
      const tenantId = tenantOf(res);
      const id = String(req.params.id);
      if (!(await read(tenantId, id))) throw notFound(kind);
      await hub.serve(
        req,
        res,
        { kind, key: `api:${kind}:${tenantId}:${id}`, read: () => read(tenantId, id) },
        (state) => ({ state }),
        apiAccess(res.locals.principal as Principal, keyActive),
      );
    });
  }
}
