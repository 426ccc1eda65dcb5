/**
 * Property-based fuzzing (fast-check) of every command endpoint and of the Stripe webhook, on the
 * real service and PostgreSQL. For every POST/PATCH under /v1 listed in /openapi.json (tenant
 * routes), completely random JSON and near-valid mutations of a valid body (dropped fields, wrong
 * types, huge strings, unicode, nested junk, edge numbers) must never get a 5xx; a 4xx is always
 * problem+json and writes nothing (event count unchanged). Random and mutated Stripe events,
 * correctly signed, are either stored in the inbox (2xx) or a precise 4xx that stores nothing.
 *
 * Bounded: 150 runs per property by default (RELIABILITY_LONG=1: 2000), fixed seed
 * (RELIABILITY_SEED to override), printed by fast-check on failure. Strings exclude U+0000 and
 * lone surrogates: those are known 5xx (see hostile.input.test.ts), kept out so the fuzzer can
 * find anything else.
 */
import fc from 'fast-check';
import { deliver, stripeEvent, type StripeEvent } from '../support/stripeEvents';
import { PROBLEM, SECRET, startHarness, type Harness } from './hostile.support';

jest.setTimeout(120_000);

const LONG = process.env.RELIABILITY_LONG === '1';
const RUNS = LONG ? 2000 : 150;
const TOLERATE = process.env.RELIABILITY_TOLERATE_KNOWN === '1';
const SEED = Number(process.env.RELIABILITY_SEED ?? 20240611);

let h: Harness;
let ids: Record<string, string>;
interface Op {
  method: 'post' | 'patch';
  path: string;
  operationId: string;
}
const ops: Op[] = [];

const money = { amount: 1000, currency: 'USD' };
const VALID: Record<string, () => Record<string, unknown>> = {
  createDeparture: () => ({ departureId: `DEP_${Math.random().toString(36).slice(2, 8)}`, name: 'Trip', paymentScheduleId: 's', capacity: 10, inquireToBook: false }),
  updateDeparture: () => ({ name: 'Trip 2', capacity: 50 }),
  requestBooking: () => ({ departureId: 'DEP', contact: { firstName: 'A', lastName: 'B', email: 'a@example.com', phone: '+1 555' }, guests: [{ firstName: 'A', lastName: 'B' }], price: money, paymentScheduleId: null }),
  cancelBooking: () => ({ reason: 'r' }),
  refundBooking: () => ({ amount: money, reason: null }),
  retryBookingsCrmStages: () => ({ requestedBy: 'ops' }),
  retryBookingCrmStage: () => ({ requestedBy: 'ops' }),
  createPlan: () => ({ planId: `pl_${Math.random().toString(36).slice(2, 8)}`, name: 'P', amount: money, interval: 'month' }),
  changePlanPrice: () => ({ amount: { amount: 1000 + Math.floor(Math.random() * 1e6), currency: 'USD' }, interval: 'month' }),
  retirePlan: () => ({}),
  startCheckout: () => ({ planId: 'pl' }),
  changeSubscriptionPlan: () => ({ planId: 'pl' }),
  cancelSubscription: () => ({ at: 'period_end' }),
  issueInvoice: () => ({ customerId: 'c1', customer: { name: 'N', email: 'n@example.com' }, number: null, currency: 'USD', lineItems: [{ description: 'd', quantity: 1, unitAmount: 100 }], dueDate: '2026-12-31', allowedPaymentMethods: ['stripe_connect'] }),
  startInvoicePayment: () => ({ method: 'stripe_connect' }),
  createPayerLink: () => ({ ttlSeconds: 3600 }),
  voidInvoice: () => ({ reason: 'r' }),
  refundInvoice: () => ({ amount: money, reason: null }),
};

// ---- generators
const noNul = (s: string) => !/\u0000/.test(s) && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }).filter(noNul),
  fc.constantFrom('', ' ', 'USD', 'usd', 'XXX', 'DEP', 'pl', '2026-02-30', '<script>x</script>', "'; DROP TABLE events;--", 'period_end', 'now', 'stripe_connect', 'paypal', 'month'),
  fc.integer({ min: 1000, max: 300_000 }).map((n) => 'x'.repeat(n)),
);
const edgeNumber = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e15, 1e15 + 1, 1e308, -1e308, Number.MIN_VALUE, 100_000, 100_001, 1_000_000, 1_000_001),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const junk: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, text, edgeNumber, fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(text.filter((k) => k.length < 50), tie('v'), { maxKeys: 4 })),
})).v;

type Json = Record<string, unknown>;
/** Mutates a valid body at one random path. */
function mutate(base: Json, picks: { path: number; kind: number; value: unknown }): Json {
  const body = JSON.parse(JSON.stringify(base)) as Json;
  const paths: Array<[Json | unknown[], string | number]> = [];
  const walk = (o: unknown) => {
    if (Array.isArray(o)) {
      o.forEach((v, i) => {
        paths.push([o, i]);
        walk(v);
      });
    } else if (o && typeof o === 'object') {
      for (const [k, v] of Object.entries(o)) {
        paths.push([o as Json, k]);
        walk(v);
      }
    }
  };
  walk(body);
  if (paths.length === 0) return picks.kind % 2 ? { extra: picks.value } : body;
  const [parent, key] = paths[picks.path % paths.length]!;
  switch (picks.kind % 4) {
    case 0: // drop
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else Reflect.deleteProperty(parent, key); // a fuzzed body: the key is one of its own, found by the walk
      break;
    case 1: // replace with anything
    case 2:
      (parent as Json)[key as string] = picks.value;
      break;
    case 3: // extra unknown field next to it
      if (!Array.isArray(parent)) (parent)[`x_${String(key)}`] = picks.value;
      else parent.push(picks.value);
      break;
  }
  return body;
}

async function eventCount(): Promise<number> {
  return Number((await h.svc.runtime.db.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).rows[0]!.n);
}
async function maxPosition(): Promise<string> {
  return (await h.svc.runtime.db.query<{ p: string }>('SELECT coalesce(max(global_position), 0)::text AS p FROM events')).rows[0]!.p;
}
/** Events after a position that no stored webhook caused (a webhook's events correlate with its provider event id). */
async function eventsNotFromStoredWebhooks(after: string): Promise<number> {
  const { rows } = await h.svc.runtime.db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM events e WHERE e.global_position > $1::bigint
        AND NOT EXISTS (SELECT 1 FROM webhook_inbox i WHERE i.event_id = e.metadata->>'correlationId')`,
    [after],
  );
  return Number(rows[0]!.n);
}
async function inboxCount(): Promise<number> {
  return Number((await h.svc.runtime.db.query<{ n: string }>('SELECT count(*)::text AS n FROM webhook_inbox')).rows[0]!.n);
}

function url(op: Op): string {
  return op.path.replace(/\{(\w+)\}/g, (_m, p: string) => ids[p] ?? 'unknown');
}

/** The property for one request: no 5xx; a 4xx is problem+json and writes nothing. */
async function check(op: Op, body: unknown): Promise<void> {
  const before = await eventCount();
  const r = op.method === 'post' ? await h.a.post(url(op), body) : await h.a.patch(url(op), body);
  const after = await eventCount();
  const where = `${op.method.toUpperCase()} ${url(op)} ${JSON.stringify(body)?.slice(0, 300)} -> ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`;
  // The one 5xx a valid request may get here: the bulk CRM retry on a service with no CRM
  // configured (this harness has none, so CRM sagas cannot write behind the property's back).
  // It is the operator's configuration, not the request, and it must write nothing either.
  const crmNotConfigured = r.status === 503 && (r.body as { type?: unknown })?.type === `${PROBLEM}crm-not-configured` && op.operationId === 'retryBookingsCrmStages';
  if (crmNotConfigured && after !== before) throw new Error(`crm-not-configured wrote events: ${where}`);
  if (r.status >= 500 && !crmNotConfigured) throw new Error(`5xx: ${where}`);
  if (r.status >= 400) {
    if (!/^application\/problem\+json/.test(r.headers.get('content-type') ?? '')) throw new Error(`4xx without problem+json: ${where}`);
    const p = r.body as { type?: unknown; status?: unknown; title?: unknown; detail?: unknown };
    // RELIABILITY_TOLERATE_KNOWN=1 skips the known bug "refusal details overwrite problem.status" to let the fuzzer look further
    const statusOk = p.status === r.status || (TOLERATE && typeof (p as { code?: unknown }).code === 'string');
    if (typeof p.type !== 'string' || !p.type.startsWith(PROBLEM) || !statusOk || typeof p.title !== 'string' || typeof p.detail !== 'string') throw new Error(`malformed problem: ${where}`);
    if (after !== before) throw new Error(`partial write on a ${r.status}: events ${before} -> ${after}: ${where}`);
  }
}

beforeAll(async () => {
  h = await startHarness('rel_fuzz');
  await h.a.post('/v1/departures', { departureId: 'DEP', name: 'Trip', paymentScheduleId: 'sched', capacity: 100_000 });
  const bk = await h.a.post<{ bookingId: string }>('/v1/bookings', VALID.requestBooking!());
  await h.a.post('/v1/plans', { planId: 'pl', name: 'Plan', amount: money, interval: 'month' });
  await h.a.post('/v1/customers/cust-a/checkout', { planId: 'pl' });
  const inv = await h.a.post<{ invoiceId: string }>('/v1/invoices', VALID.issueInvoice!());
  ids = { departureId: 'DEP', bookingId: bk.body.bookingId, planId: 'pl', customerId: 'cust-a', invoiceId: inv.body.invoiceId };
  const doc = (await (await fetch(`${h.svc.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { operationId: string; requestBody?: unknown }>> };
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/') || path.startsWith('/v1/tenants') || path.startsWith('/v1/admin')) continue;
    for (const [method, op] of Object.entries(methods)) if (method === 'post' || method === 'patch') ops.push({ method, path, operationId: op.operationId });
  }
});
afterAll(async () => {
  await h?.close();
});

test('every tenant command endpoint in /openapi.json has a known valid body (the fuzzer covers them all)', () => {
  expect(ops.length).toBeGreaterThanOrEqual(17);
  expect(ops.filter((o) => !VALID[o.operationId]).map((o) => o.operationId)).toEqual([]);
});

test('random JSON bodies on every command endpoint: never 5xx, 4xx is problem+json, no partial write', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 10_000 }), junk, async (i, body) => {
      const op = ops[i % ops.length]!;
      await check(op, body === undefined ? {} : body);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
});

test('near-valid mutations on every command endpoint: never 5xx, 4xx is problem+json, no partial write', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 10_000 }), fc.array(fc.record({ path: fc.nat(), kind: fc.nat(), value: junk }), { minLength: 1, maxLength: 3 }), async (i, muts) => {
      const op = ops[i % ops.length]!;
      let body = VALID[op.operationId]!();
      for (const m of muts) body = mutate(body, m);
      await check(op, body);
    }),
    { numRuns: RUNS * 2, seed: SEED + 1, endOnFailure: true },
  );
});

const FIXTURES = ['payment_intent.succeeded', 'payment_intent.payment_failed', 'charge.succeeded', 'charge.refunded', 'charge.dispute.created', 'checkout.session.completed', 'customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted', 'invoice.paid', 'invoice.payment_failed', 'invoice.finalized', 'invoice.voided'];
let evtSeq = 0;

test('signed random and mutated Stripe events: never 5xx; stored in the inbox (2xx) or a precise 4xx that stores nothing', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...FIXTURES),
      fc.boolean(),
      fc.array(fc.record({ path: fc.nat(), kind: fc.nat(), value: junk }), { minLength: 0, maxLength: 4 }),
      fc.option(fc.oneof(fc.constantFrom(...FIXTURES), text), { nil: undefined }),
      junk,
      async (file, targeted, muts, type, randomBody) => {
        let event: Json;
        if (muts.length === 0 && type === undefined) {
          event = typeof randomBody === 'object' && randomBody && !Array.isArray(randomBody) ? { ...(randomBody as Json), livemode: false } : { body: randomBody };
        } else {
          const e: StripeEvent = stripeEvent(file, (o) => {
            o.metadata = targeted ? { tenant_id: 'alpha', invoice_id: ids.invoiceId!, booking_id: ids.bookingId!, customer_id: 'cust-a' } : {};
          });
          event = e;
          for (const m of muts) event = { ...event, data: { object: mutate((event.data as { object: Json }).object, m) } };
          if (type !== undefined) event.type = type;
          event.id = `evt_fuzz_${SEED}_${++evtSeq}_${Date.now()}`;
        }
        const before = await inboxCount();
        const lastPosition = await maxPosition();
        const r = await deliver(`${h.svc.url}/webhooks/stripe`, JSON.stringify(event), SECRET);
        const where = `${JSON.stringify(event).slice(0, 400)} -> ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`;
        if (r.status >= 500) throw new Error(`5xx: ${where}`);
        if (r.status >= 400) {
          const p = r.body as { type?: unknown; status?: unknown };
          if (typeof p.type !== 'string' || !p.type.startsWith(PROBLEM) || p.status !== r.status) throw new Error(`imprecise 4xx: ${where}`);
          // events appended meanwhile by the inbox retrier for webhooks stored earlier carry their
          // provider event id as correlation; anything else would come from this refused request
          if ((await inboxCount()) !== before || (await eventsNotFromStoredWebhooks(lastPosition)) > 0) throw new Error(`a refused webhook stored something: ${where}`);
        } else {
          const { rows } = await h.svc.runtime.db.query<{ status: string }>('SELECT status FROM webhook_inbox WHERE endpoint = $1 AND event_id = $2', ['stripe', String(event.id)]);
          if (rows.length !== 1) throw new Error(`2xx but not in the inbox: ${where}`);
          if (!['processed', 'parked', 'ignored', 'received'].includes(rows[0]!.status)) throw new Error(`unexpected inbox status ${rows[0]!.status}: ${where}`);
        }
      },
    ),
    { numRuns: RUNS, seed: SEED + 2, endOnFailure: true },
  );
});
