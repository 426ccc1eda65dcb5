/**
 * Helpers for the hostile-input and fuzz suites (hostile.*.test.ts, fuzz.*.test.ts): the real
 * service on a fresh PostgreSQL schema with two tenants, a fingerprint of the event store, outbox,
 * inbox and every read model (taken only once the projections have caught up with the head of
 * the log), and exact problem+json assertions.
 */
import { randomBytes } from 'node:crypto';
import { comparePositions, type Position } from '../../domain/ports/eventStore';
import { ADMIN_KEY, client, type ApiResponse } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { RecordingBillingProvider } from '../support/recordingProvider';
import { startTestService, type TestService } from '../support/service';

export const SECRET = 'whsec_hostile_platform_secret';
export const CONNECT_SECRET = 'whsec_hostile_connect_secret';
export const PROBLEM = 'https://settle.dev/problems/';

export type Api = ReturnType<typeof client>;

export interface Harness {
  svc: TestService;
  schema: string;
  admin: Api;
  /** Tenant "alpha" and tenant "beta". */
  a: Api;
  b: Api;
  provider: RecordingBillingProvider;
  close(): Promise<void>;
}

export async function startHarness(prefix: string): Promise<Harness> {
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  const provider = new RecordingBillingProvider();
  const svc = await startTestService(
    {
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      LOG_LEVEL: 'warn',
      STRIPE_WEBHOOK_SECRET: SECRET,
      STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET,
      PAYER_LINK_SECRET: 'payer-link-secret-of-the-hostile-harness-0123',
    },
    async (rt) => {
      rt.provider = provider;
      // a payment page gateway that answers like a provider would, so invoice payment sessions are not 503 provider-unavailable
      rt.invoicePaymentGateways.stripe_connect = {
        start: async (req) => ({ provider: 'stripe', reference: `cs_test_${req.invoiceId}`, url: `https://checkout.stripe.com/c/pay/cs_test_${req.invoiceId}` }),
      };
    },
  );
  const admin = client(svc.url, ADMIN_KEY);
  const key = async (tenantId: string) => {
    const t = await admin.post('/v1/tenants', { tenantId, name: tenantId });
    if (t.status !== 201) throw new Error(`tenant ${tenantId}: ${t.status} ${JSON.stringify(t.body)}`);
    const k = await admin.post<{ apiKey: string }>(`/v1/tenants/${tenantId}/api-keys`, {});
    return client(svc.url, k.body.apiKey);
  };
  const a = await key('alpha');
  const b = await key('beta');
  return {
    svc,
    schema,
    admin,
    a,
    b,
    provider,
    async close() {
      await svc.shutdown('test end').catch(() => undefined);
      await dropSchema(schema);
    },
  };
}

/** The position of the last event in the log (null for an empty log). */
export async function head(svc: TestService): Promise<Position | null> {
  const { rows } = await svc.runtime.db.query<{ c: string; p: string }>(
    'SELECT transaction_id::text AS c, global_position::text AS p FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1',
  );
  return rows[0] ? { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) } : null;
}

/** Waits (≤ 10 s) until every projection has applied the head of the log; throws otherwise. */
export async function caughtUp(svc: TestService): Promise<void> {
  const h = await head(svc);
  if (!h) return;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const positions = await Promise.all(svc.runtime.projections.map((r) => r.position()));
    if (positions.every((p) => p !== null && comparePositions(p, h) >= 0)) return;
    if (Date.now() > deadline) throw new Error(`projections did not reach ${h.commit}/${h.prepare}: ${positions.map((p) => (p ? `${p.commit}/${p.prepare}` : 'null')).join(', ')}`);
    svc.runtime.projections.forEach((r) => r.wake());
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const READ_MODELS = ['invoices', 'invoice_history', 'payment_history', 'bookings', 'subscriptions'] as const;

export interface Snapshot {
  events: number;
  outbox: number;
  inbox: number;
  /** count and md5 over every row of each read-model view (a change to any column shows). */
  models: Record<string, string>;
}

export async function snapshot(svc: TestService): Promise<Snapshot> {
  await caughtUp(svc);
  const count = async (table: string) => Number((await svc.runtime.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]!.n);
  const models: Record<string, string> = {};
  for (const m of READ_MODELS) {
    const { rows } = await svc.runtime.db.query<{ n: string; h: string | null }>(`SELECT count(*)::text AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${m} t`);
    models[m] = `${rows[0]!.n}:${rows[0]!.h ?? '-'}`;
  }
  return { events: await count('events'), outbox: await count('outbox'), inbox: await count('webhook_inbox'), models };
}

export type Answer = { status: number; body: unknown; headers?: Headers };

/** Asserts an exact problem+json answer (status, content type, type URI, required members, field paths). */
export function expectProblem(r: ApiResponse<unknown> | Answer, status: number, slug: string, fieldPaths?: string[]): void {
  const seen = { status: r.status, type: (r.body as { type?: unknown } | null)?.type, body: r.body };
  expect({ status: seen.status, type: seen.type }).toEqual({ status, type: `${PROBLEM}${slug}` });
  if (r.headers) expect(r.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ type: `${PROBLEM}${slug}`, status, title: expect.any(String), detail: expect.any(String) });
  if (fieldPaths) {
    const paths = ((r.body as { errors?: Array<{ path: string }> }).errors ?? []).map((e) => e.path);
    for (const p of fieldPaths) expect(paths).toContain(p);
  }
}

/** Raw POST with full control over body bytes and headers. */
export async function rawPost(url: string, body: string | Buffer, headers: Record<string, string>): Promise<Answer & { headers: Headers }> {
  const r = await fetch(url, { method: 'POST', headers, body });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, body: parsed, headers: r.headers };
}
