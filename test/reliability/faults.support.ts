/**
 * Shared code for the fault tests (test/reliability/faults.*.test.ts): load generators (signed
 * Stripe webhooks, API commands), direct reads of the event store / outbox on the real
 * PostgreSQL, read-model dumps before/after a rebuild, and the own-service helpers
 * (scripts/services/postgres.sh, scripts/services/kafka.sh).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { Client } from 'pg';
import { projections } from '../../projections/index';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { spawnService, type ServiceProcess } from '../support/process';
import { sign, stripeEvent, type StripeEvent } from '../support/stripeEvents';

export const SECRET = 'whsec_reliability_platform_secret';
export const LONG = process.env.RELIABILITY_LONG === '1';
export type Api = ReturnType<typeof client>;

const ROOT = path.resolve(__dirname, '../..');
export const POSTGRES_SH = path.join(ROOT, 'scripts/services/postgres.sh');
export const KAFKA_SH = path.join(ROOT, 'scripts/services/kafka.sh');

export function sh(script: string, args: string[], timeout = 180_000): string {
  return execFileSync(script, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
}

/**
 * The same, without blocking this process: the load generators run in this event loop, and a
 * synchronous stop/restart of several seconds would freeze them mid-load (their idle keep-alive
 * connections then time out at the server and the next request meets a closed socket).
 */
export function shAsync(script: string, args: string[], timeout = 180_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(script, args, { encoding: 'utf8', timeout }, (err, stdout, stderr) => (err ? reject(new Error(`${path.basename(script)} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function note(name: string, data: unknown): void {
  process.stdout.write(`[reliability] ${name} ${JSON.stringify(data)}\n`);
}

/** A tenant with its API key on a running service. */
export async function tenant(url: string, tenantId: string): Promise<Api> {
  const admin = client(url, ADMIN_KEY);
  const t = await admin.post('/v1/tenants', { tenantId, name: tenantId });
  if (t.status !== 201 && t.status !== 200) throw new Error(`tenant: ${t.status} ${JSON.stringify(t.body)}`);
  const k = await admin.post<{ apiKey: string }>(`/v1/tenants/${tenantId}/api-keys`, {});
  return client(url, k.body.apiKey);
}

export interface Inv {
  readonly id: string;
  readonly amount: number;
}

export function invoiceBody(n: number) {
  return {
    customerId: `client-${n % 17}`,
    customer: { name: `Client ${n}`, email: `c${n}@example.com` },
    currency: 'USD',
    lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: 1000 + n }],
    dueDate: '2026-12-31',
    allowedPaymentMethods: ['stripe_connect'],
  };
}

export async function createInvoices(api: Api, n: number, concurrency = 8): Promise<Inv[]> {
  const out: Inv[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const r = await api.post<{ invoiceId: string }>('/v1/invoices', invoiceBody(i));
        if (r.status !== 201) throw new Error(`invoice ${i}: ${r.status} ${JSON.stringify(r.body)}`);
        out.push({ id: r.body.invoiceId, amount: 1000 + i });
      }
    }),
  );
  return out;
}

export type PaymentKind = 'failed' | 'succeeded';

/** The two Stripe payments of an invoice: a declined payment intent, then a successful one. */
export function paymentEvent(tenantId: string, inv: Inv, kind: PaymentKind): StripeEvent {
  const piId = `pi_${kind === 'failed' ? 'f' : 's'}_${inv.id}`;
  const ch = `ch_${kind === 'failed' ? 'f' : 's'}_${inv.id}`;
  return stripeEvent(kind === 'failed' ? 'payment_intent.payment_failed' : 'payment_intent.succeeded', (o) => {
    o.id = piId;
    o.metadata = { tenant_id: tenantId, invoice_id: inv.id };
    o.amount = inv.amount;
    o.amount_received = kind === 'succeeded' ? inv.amount : 0;
    o.currency = 'usd';
    o.latest_charge = ch;
    if (o.last_payment_error) o.last_payment_error.charge = ch;
  });
}

export interface Outcome {
  readonly what: string;
  readonly key: string;
  readonly status: number; // 0: no HTTP response
  readonly problem?: string;
  readonly error?: string;
  readonly body?: unknown;
  readonly at: number;
}

export async function send(url: string, method: string, headers: Record<string, string>, body: string, what: string, key: string): Promise<Outcome> {
  try {
    const r = await fetch(url, { method, headers, body });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    const type = parsed && typeof parsed === 'object' ? (parsed as { type?: unknown }).type : undefined;
    const problem = r.status >= 400 && parsed && typeof parsed === 'object' ? (typeof type === 'string' ? type : '').split('/').pop() : undefined;
    return { what, key, status: r.status, problem, body: parsed, at: Date.now() };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { what, key, status: 0, error: e.cause?.code ?? e.cause?.message ?? e.message, at: Date.now() };
  }
}

export function deliverWebhook(base: string, event: StripeEvent, what: string): Promise<Outcome> {
  const payload = JSON.stringify(event);
  return send(`${base}/webhooks/stripe`, 'POST', { 'content-type': 'application/json', 'stripe-signature': sign(payload, SECRET) }, payload, what, event.id);
}

export interface WebhookDelivery extends Outcome {
  readonly invoice: Inv;
  readonly kind: PaymentKind;
  readonly duplicate: boolean;
}

/**
 * Several concurrent senders: each takes the next invoice and delivers its declined payment, then
 * its successful one; every third delivery that got a 2xx is delivered again (same event id).
 * Runs until the invoices are used up or stop() says so.
 */
export async function webhookLoad(opts: {
  base: () => string;
  tenantId: string;
  invoices: readonly Inv[];
  senders: number;
  stop?: () => boolean;
  onOutcome?: (d: WebhookDelivery) => void;
  paceMs?: number;
}): Promise<WebhookDelivery[]> {
  const out: WebhookDelivery[] = [];
  let next = 0;
  let sent = 0;
  const one = async (inv: Inv, kind: PaymentKind, event: StripeEvent, duplicate: boolean) => {
    const o = await deliverWebhook(opts.base(), event, `webhook:${kind}`);
    const d: WebhookDelivery = { ...o, invoice: inv, kind, duplicate };
    out.push(d);
    opts.onOutcome?.(d);
    return d;
  };
  await Promise.all(
    Array.from({ length: opts.senders }, async () => {
      while (next < opts.invoices.length && !opts.stop?.()) {
        const inv = opts.invoices[next++]!;
        for (const kind of ['failed', 'succeeded'] as const) {
          if (opts.stop?.()) break;
          const e = paymentEvent(opts.tenantId, inv, kind);
          const d = await one(inv, kind, e, false);
          if (d.status >= 200 && d.status < 300 && ++sent % 3 === 0 && !opts.stop?.()) await one(inv, kind, e, true);
          if (opts.paceMs) await sleep(opts.paceMs);
        }
      }
    }),
  );
  return out;
}

export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k = o.status === 0 ? `error:${o.error}` : o.problem ? `${o.status}:${o.problem}` : String(o.status);
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

export const ok = (o: Outcome) => o.status >= 200 && o.status < 300;

/** A direct connection to the service's schema (for reading the event store and the outbox). */
export async function schemaClient(url: string, schema: string): Promise<Client> {
  const c = new Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  await c.query(`SET search_path TO ${schema}`);
  return c;
}

export async function rows<T>(c: Client, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await c.query(sql, params)).rows as T[];
}

/** Payment events per (invoice, type, provider payment id). */
export async function paymentEffects(c: Client): Promise<Map<string, number>> {
  const r = await rows<{ k: string; n: string }>(
    c,
    `SELECT split_part(stream_id, '.', 2) || '|' || event_type || '|' || (data->>'providerPaymentId') AS k, count(*) AS n
       FROM events WHERE event_type IN ('PaymentAttemptFailed', 'PaymentSucceeded') GROUP BY 1`,
  );
  return new Map(r.map((x) => [x.k, Number(x.n)]));
}

export const effectKey = (d: WebhookDelivery) => `${d.invoice.id}|${d.kind === 'failed' ? 'PaymentAttemptFailed' : 'PaymentSucceeded'}|pi_${d.kind === 'failed' ? 'f' : 's'}_${d.invoice.id}`;

/** Payment events without exactly one outbox message (its causationId is the event id). */
export async function outboxGaps(c: Client): Promise<Array<{ event_id: string; event_type: string; n: string }>> {
  return rows(
    c,
    `SELECT e.event_id::text, e.event_type, count(o.id) AS n
       FROM events e LEFT JOIN outbox o ON o.value->>'causationId' = e.event_id::text AND o.topic = 'settle.payments.v1'
      WHERE e.event_type IN ('PaymentAttemptFailed', 'PaymentSucceeded', 'BookingPaymentCompleted', 'BookingPaymentFailed', 'RefundRecorded')
      GROUP BY 1, 2 HAVING count(o.id) <> 1`,
  );
}

export async function headPosition(c: Client): Promise<string | null> {
  const r = await rows<{ p: string }>(c, `SELECT transaction_id::text || '/' || global_position AS p FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1`);
  return r[0]?.p ?? null;
}

interface ProjectionInfo {
  name: string;
  generation: number;
  position: string | null;
  caughtUp: boolean;
  rebuilding: boolean;
  leaderHere: boolean;
  deadLetters: number;
}

export async function projectionStates(base: string): Promise<ProjectionInfo[]> {
  const r = await client(base, ADMIN_KEY).get<{ data: ProjectionInfo[] }>('/v1/admin/projections');
  if (r.status !== 200) throw new Error(`admin/projections: ${r.status}`);
  return r.body.data;
}

export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, stepMs = 100): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      if (await check()) return Date.now() - t0;
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/** Every projection's checkpoint is at the head of the log (nothing left to apply). */
export async function projectionsAtHead(base: string, c: Client, timeoutMs = 30_000): Promise<void> {
  await until(
    async () => {
      const head = await headPosition(c);
      const ps = await projectionStates(base);
      return ps.every((p) => !p.rebuilding && p.position === head);
    },
    timeoutMs,
    'projections at the head of the log',
  );
}

/** Every read-model view, each row as JSON text, sorted. */
export async function dumpViews(c: Client): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const p of projections) {
    for (const t of p.tables) out[t] = (await rows<{ j: string }>(c, `SELECT row_to_json(v)::text AS j FROM ${t} v ORDER BY 1`)).map((r) => r.j);
  }
  return out;
}

/** POST …/rebuild for every projection, then wait until each swapped to a new generation at the head. */
export async function rebuildAll(base: string, c: Client, timeoutMs = 60_000): Promise<number> {
  const before = new Map((await projectionStates(base)).map((p) => [p.name, p.generation]));
  const admin = client(base, ADMIN_KEY);
  const t0 = Date.now();
  for (const p of projections) {
    const r = await admin.post(`/v1/admin/projections/${p.name}/rebuild`, {});
    if (r.status !== 202) throw new Error(`rebuild ${p.name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  await until(
    async () => {
      const head = await headPosition(c);
      return (await projectionStates(base)).every((p) => p.generation > before.get(p.name)! && !p.rebuilding && p.position === head);
    },
    timeoutMs,
    'rebuild of every projection',
  );
  return Date.now() - t0;
}

/** Compares the live read models with a fresh rebuild; returns the dumps for the caller's asserts. */
export async function liveEqualsRebuild(base: string, c: Client): Promise<{ live: Record<string, string[]>; rebuilt: Record<string, string[]>; rebuildMs: number }> {
  await projectionsAtHead(base, c);
  const live = await dumpViews(c);
  const rebuildMs = await rebuildAll(base, c);
  const rebuilt = await dumpViews(c);
  return { live, rebuilt, rebuildMs };
}

/** Webhook inbox rows still to be finished by the retrier. */
export async function inboxPending(c: Client): Promise<number> {
  return Number((await rows<{ n: string }>(c, `SELECT count(*) AS n FROM webhook_inbox WHERE status IN ('received', 'parked')`))[0]!.n);
}

/**
 * An HTTP request on its own connection (no keep-alive pool): resolves with the status, or the
 * socket error. The body is written in two halves, the second after `beforeRest` resolves, so the
 * request is provably in flight (accepted, not finished) meanwhile.
 */
export function slowRequest(base: string, pathname: string, headers: Record<string, string>, body: string, beforeRest: Promise<void>, onSent?: () => void): Promise<{ status: number; error?: string; body?: string }> {
  return new Promise((resolve) => {
    const u = new URL(base + pathname);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', (err) => resolve({ status: 0, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    });
    req.on('error', (err) => resolve({ status: 0, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half), () => onSent?.());
    void beforeRest.then(() => req.end(body.slice(half)));
  });
}

/**
 * Built services (child processes) on one fresh schema of the shared PostgreSQL (DATABASE_URL):
 * `start()` spawns one more on the same schema (a restart after a kill), `db()` is a client on
 * that schema, `cleanup()` kills whatever is still running, closes the client and drops the schema.
 */
export function schemaServices(prefix: string, extraEnv: Record<string, string> = {}) {
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  const started: ServiceProcess[] = [];
  let db: Client | undefined;
  return {
    schema,
    async start(): Promise<ServiceProcess> {
      const s = await spawnService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, STRIPE_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'error', ...extraEnv });
      started.push(s);
      return s;
    },
    async db(): Promise<Client> {
      db ??= await schemaClient(databaseUrl(), schema);
      return db;
    },
    async cleanup(): Promise<void> {
      await Promise.all(started.map((s) => s.kill('SIGKILL')));
      await db?.end().catch(() => undefined);
      await dropSchema(schema);
    },
  };
}
