/**
 * Live status over server-sent events. A stream watches one object (a payment attempt, a booking,
 * an invoice, a subscription's checkout) of one tenant. It is fed by the projections: when a read
 * model the object lives in commits a change (ReadModelChanges: this process's runners, and
 * PostgreSQL NOTIFY from other instances) the stream re-reads the object and sends it if it
 * changed. On connect the current state is sent, unless the client's Last-Event-ID says it has
 * it already (the event id is a hash of the state). Heartbeat comments keep proxies from closing
 * idle streams; a closed connection is unsubscribed at once. Open streams: `settle_live_streams`.
 */
import { createHash } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import type { Metrics } from '../infrastructure/observability/metrics';
import type { ReadModelChanges } from '../infrastructure/sql/readModelChanges';
import type { ReadModels } from '../projections/queries';
import { Problem } from './problem';

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

export type LiveLoader = () => Promise<LiveView | null>;

interface Stream {
  readonly kind: LiveKind;
  readonly res: Response;
  readonly load: LiveLoader;
  lastId: string | null;
  pending: boolean;
  again: boolean;
}

const versionOf = (view: LiveView) => createHash('sha256').update(JSON.stringify(view.state)).digest('base64url').slice(0, 22);

export class LiveStatusHub {
  private readonly streams = new Set<Stream>();
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    changes: ReadModelChanges,
    private readonly metrics: Metrics,
    heartbeatMs: number,
  ) {
    this.unsubscribe = changes.subscribe((projection) => this.changed(projection));
    this.heartbeat = setInterval(() => {
      for (const s of this.streams) s.res.write(': heartbeat\n\n');
    }, heartbeatMs);
    this.heartbeat.unref();
  }

  get open(): number {
    return this.streams.size;
  }

  /** Serves one stream until the client goes away. The caller has checked access and existence. */
  async serve(req: Request, res: Response, kind: LiveKind, load: LiveLoader): Promise<void> {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write('retry: 2000\n\n');
    const lastEventId = req.get('last-event-id') ?? null;
    const s: Stream = { kind, res, load, lastId: lastEventId, pending: false, again: false };
    this.streams.add(s);
    this.metrics.liveStreams.inc({ kind });
    req.on('close', () => {
      if (this.streams.delete(s)) this.metrics.liveStreams.dec({ kind });
    });
    await this.refresh(s);
  }

  private changed(projection: string): void {
    for (const s of this.streams) if (SOURCES[s.kind].includes(projection)) void this.refresh(s);
  }

  /** Re-reads and sends when different; concurrent signals coalesce into one more read. */
  private async refresh(s: Stream): Promise<void> {
    if (s.pending) {
      s.again = true;
      return;
    }
    s.pending = true;
    try {
      do {
        s.again = false;
        const view = await s.load().catch(() => null);
        if (!view || !this.streams.has(s)) continue;
        const id = versionOf(view);
        if (id === s.lastId) continue;
        s.lastId = id;
        s.res.write(`event: status\nid: ${id}\ndata: ${JSON.stringify(view)}\n\n`);
      } while (s.again && this.streams.has(s));
    } finally {
      s.pending = false;
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.unsubscribe();
    for (const s of this.streams) {
      this.metrics.liveStreams.dec({ kind: s.kind });
      s.res.end();
    }
    this.streams.clear();
  }
}

/**
 * The same streams for API clients (bearer key, tenant-scoped; an app server relays them to its
 * own pages, e.g. a checkout status page): `GET /v1/payments/{attemptId}/live`,
 * `/v1/bookings/{bookingId}/live`, `/v1/invoices/{invoiceId}/live`,
 * `/v1/customers/{customerId}/subscription/live` (checkout and subscription status). State only (JSON).
 */
export function apiLiveRoutes(router: Router, hub: LiveStatusHub, models: ReadModels, tenantOf: (res: Response) => string): void {
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
      await hub.serve(req, res, kind, async () => {
        const state = await read(tenantId, id);
        return state ? { state } : null;
      });
    });
  }
}
