/**
 * Plays one history against the running service through its public interfaces and compares
 * every read model, list and report with the reference model. Returns the differences (empty
 * when the service agrees), so a property can fail with all of them at once.
 */
import { createHash } from 'node:crypto';
import { expected, type ExpectedInvoice, type InvoiceFact } from '../model/invoices';
import type { History } from '../model/histories';
import { STRIPE_CONNECT_SECRET, STRIPE_PLATFORM_SECRET, until, type Api, type Settle } from './service';
import { deliver, deliverStripe, eventsFor, type StripeDelivery } from './stripeWorld';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

export interface Played {
  readonly keys: Map<string, Api>;
  /** history key -> what it is (its id in invoiceIds is an invoice id or a booking id) */
  readonly payables: Map<string, 'invoice' | 'booking'>;
  readonly invoiceIds: Map<string, { tenant: string; invoiceId: string }>;
  readonly accounts: Map<string, string>;
  /** PayPal: the history's order name -> the order id PayPal gave (driver/paypalWorld.ts fills it). */
  readonly paypalOrders: Map<string, string>;
}

/** Tenants, keys, connected accounts and invoices through the API, as a tenant's app would. */
export async function setUp(settle: Settle, h: History): Promise<Played> {
  const keys = new Map<string, Api>();
  const accounts = new Map<string, string>();
  for (const t of h.tenants) {
    const created = await settle.admin.post('/v1/tenants', { tenantId: t.id, name: `Coach ${t.id.slice(0, 20)}` });
    if (created.status !== 201) throw new Error(`create tenant ${t.id}: ${created.status} ${JSON.stringify(created.body)}`);
    const key = await settle.admin.post<{ apiKey: string }>(`/v1/tenants/${t.id}/api-keys`, {});
    if (key.status !== 201) throw new Error(`api key: ${key.status} ${JSON.stringify(key.body)}`);
    keys.set(t.id, settle.as(key.body.apiKey));
    const account = `acct_${createHash('sha256').update(t.id).digest('hex').slice(0, 16)}`;
    const linked = await settle.admin.post(`/v1/tenants/${t.id}/stripe-account`, { accountId: account });
    if (linked.status !== 200) throw new Error(`link account: ${linked.status} ${JSON.stringify(linked.body)}`);
    accounts.set(t.id, account);
  }
  const invoiceIds = new Map<string, { tenant: string; invoiceId: string }>();
  const departures = new Map<string, string>();
  for (const f of h.facts) {
    if (f.kind !== 'invoice') continue;
    if (f.payable === 'booking') {
      // one departure per tenant, with seats for every booking of the history (100-character id)
      let departureId = departures.get(f.tenant);
      if (!departureId) {
        departureId = `D${createHash('sha256').update(f.tenant).digest('hex')}`.padEnd(100, 'd');
        const d = await keys.get(f.tenant)!.post('/v1/departures', { departureId, name: 'Þórsmörk trek', paymentScheduleId: 'sched-1', capacity: 500 });
        if (d.status !== 201) throw new Error(`departure: ${d.status} ${JSON.stringify(d.body)}`);
        departures.set(f.tenant, departureId);
      }
      const b = await keys.get(f.tenant)!.post<{ bookingId: string; status: string }>('/v1/bookings', {
        departureId,
        contact: { firstName: 'Ada', lastName: 'Lovelace', email: `ada.${f.key}@example.com`, phone: '+44 20 7946 0000' },
        guests: [{ firstName: 'Ada', lastName: 'Lovelace' }, { firstName: 'Charles', lastName: 'Babbage' }],
        price: { amount: f.total, currency: f.currency },
      });
      if (b.status !== 201 || b.body.status !== 'requested') throw new Error(`booking: ${b.status} ${JSON.stringify(b.body)}`);
      invoiceIds.set(f.key, { tenant: f.tenant, invoiceId: b.body.bookingId });
      continue;
    }
    const r = await keys.get(f.tenant)!.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: f.customerId,
      customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
      currency: f.currency,
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: f.total }],
      dueDate: '2027-01-31',
      allowedPaymentMethods: [f.method === 'paypal' ? 'paypal' : 'stripe_connect'],
    });
    if (r.status !== 201) throw new Error(`issue invoice: ${r.status} ${JSON.stringify(r.body)}`);
    invoiceIds.set(f.key, { tenant: f.tenant, invoiceId: r.body.invoiceId });
    if (f.voided) {
      const v = await keys.get(f.tenant)!.post<{ status: string }>(`/v1/invoices/${r.body.invoiceId}/void`, { reason: 'Issued to the wrong customer; reissued' });
      if (v.status !== 200 || v.body.status !== 'void') throw new Error(`void invoice: ${v.status} ${JSON.stringify(v.body)}`);
    }
  }
  return { keys, invoiceIds, accounts, paypalOrders: new Map(), payables: new Map(h.facts.flatMap((f) => (f.kind === 'invoice' ? [[f.key, f.payable] as const] : []))) };
}

/**
 * Every provider event of the history, duplicated and shuffled as the history says, phase by
 * phase: a second succeeded payment for an invoice starts a new phase. A customer who pays twice
 * pays again after the first payment went through, and Stripe has sent the first one's events by
 * then; which of two payments pays the invoice is decided by arrival (see model/invoices.ts).
 * Within a phase everything is shuffled: refunds before their charge, dispute closings before
 * openings, duplicates anywhere.
 */
export function deliveries(h: History, p: Played): StripeDelivery[][] {
  const phases: StripeDelivery[][] = [[]];
  const paidInvoices = new Set<string>();
  for (const f of h.facts) {
    if (f.kind === 'charge' && f.outcome === 'succeeded') {
      if (paidInvoices.has(f.invoiceKey)) phases.push([]);
      paidInvoices.add(f.invoiceKey);
    }
    if (f.kind === 'paypalCapture' || f.kind === 'paypalRefund') continue; // driver/paypalWorld.ts plays these
    phases[phases.length - 1]!.push(...eventsFor(f, h.facts, { targetOf: (k) => invoiceTarget(p, k) }));
  }
  let i = 0;
  return phases.map((all) => {
    const slots: Array<{ d: StripeDelivery; key: number }> = [];
    for (const d of all) {
      slots.push({ d, key: h.shuffle[i % h.shuffle.length]! + i * 1e-9 });
      if (h.duplicate[i % h.duplicate.length]) slots.push({ d, key: h.shuffle[(i * 7 + 3) % h.shuffle.length]! + i * 1e-9 + 1e-12 });
      i += 1;
    }
    return slots.sort((a, b) => a.key - b.key).map((s) => s.d);
  });
}

/** Invoices are paid on the tenant's connected account (Connect endpoint), bookings on the platform. */
function invoiceTarget(p: Played, key: string): { metadata: Record<string, string>; account: string | null } {
  const { tenant, invoiceId } = p.invoiceIds.get(key)!;
  if (p.payables.get(key) === 'booking') return { metadata: { tenant_id: tenant, booking_id: invoiceId }, account: null };
  return { metadata: { tenant_id: tenant, invoice_id: invoiceId }, account: p.accounts.get(tenant)! };
}

/**
 * Delivers phase after phase: every delivery of a phase is answered before the next phase starts
 * (a chunk of concurrent deliveries never spans two phases, or a second payment could race the
 * first and the model could not say which one pays).
 */
export async function deliverAll(settle: Settle, phases: readonly (readonly StripeDelivery[])[], concurrency: number): Promise<string[]> {
  const problems: string[] = [];
  for (const list of phases) problems.push(...(await deliverPhase(settle, list, concurrency)));
  return problems;
}

async function deliverPhase(settle: Settle, list: readonly StripeDelivery[], concurrency: number): Promise<string[]> {
  const problems: string[] = [];
  for (let i = 0; i < list.length; i += concurrency) {
    const chunk = list.slice(i, i + concurrency);
    const results = await Promise.all(chunk.map((d) => deliver(settle.url, d)));
    results.forEach((r, j) => {
      if (r.status !== 200) problems.push(`delivery ${chunk[j]!.type} ${chunk[j]!.id}: ${r.status} ${r.body}`);
    });
  }
  return problems;
}

/** An event sent to the other endpoint (a Connect event to the platform one, or the reverse) is refused and changes nothing. */
export async function wrongEndpoint(settle: Settle, d: StripeDelivery): Promise<string[]> {
  const r = d.account ? await deliverStripe(`${settle.url}/webhooks/stripe`, d, STRIPE_PLATFORM_SECRET) : await deliverStripe(`${settle.url}/webhooks/stripe/connect`, d, STRIPE_CONNECT_SECRET);
  return r.status === 400 ? [] : [`${d.type} (${d.account ? 'Connect' : 'platform'}) on the other endpoint: expected 400, got ${r.status} ${r.body}`];
}

async function allPayments(api: Api): Promise<Obj[]> {
  const out: Obj[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const r: { status: number; body: Obj } = await api.get<Obj>(`/v1/payments?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (r.status !== 200) throw new Error(`GET /v1/payments: ${r.status} ${JSON.stringify(r.body)}`);
    out.push(...(r.body.data as Obj[]));
    cursor = r.body.nextCursor as string | null;
    if (!cursor) break;
  }
  return out;
}

const amountOf = (v: unknown): number => (typeof v === 'number' ? v : (v as { amount: number } | null)?.amount ?? 0);

function diffInvoice(e: ExpectedInvoice, got: Obj): string[] {
  const where = `invoice ${e.key} (${e.total} ${e.currency}, tenant ${e.tenant.slice(0, 12)}…)`;
  const seen = {
    status: got.status,
    amountPaid: amountOf(got.amountPaid),
    amountRefunded: amountOf(got.amountRefunded),
    amountDisputed: amountOf(got.amountDisputed),
    collected: amountOf(got.collected),
    needsAttention: Boolean(got.needsAttention),
  };
  const want = { status: e.status, amountPaid: e.amountPaid, amountRefunded: e.amountRefunded, amountDisputed: e.amountDisputed, collected: e.collected, needsAttention: e.needsAttention };
  return Object.entries(want)
    .filter(([k, v]) => (seen as Obj)[k] !== v)
    .map(([k, v]) => `${where}: ${k} is ${JSON.stringify((seen as Obj)[k])}, the provider says ${JSON.stringify(v)}`);
}

/** A booking shows the invoice model's status as requested / paid / refunded, and refunded.amount. */
function diffBooking(e: ExpectedInvoice, got: Obj): string[] {
  const where = `booking ${e.key} (${e.total} ${e.currency}, tenant ${e.tenant.slice(0, 12)}…)`;
  const want = { status: e.status === 'open' ? 'requested' : e.status, refunded: e.amountRefunded, needsAttention: e.needsAttention };
  const seen = { status: got.status, refunded: amountOf(got.refunded), needsAttention: Boolean(got.needsAttention) };
  return Object.entries(want)
    .filter(([k, v]) => (seen as Obj)[k] !== v)
    .map(([k, v]) => `${where}: ${k} is ${JSON.stringify((seen as Obj)[k])}, the provider says ${JSON.stringify(v)}`);
}

function today(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

/** Compares everything a user can read with the model. Finance is read until it agrees or 15 s pass (its consumer has no documented lag metric yet). */
export async function compare(settle: Settle, h: History, p: Played): Promise<string[]> {
  const model = expected(h.facts);
  const diffs: string[] = [];
  for (const e of model.invoices) {
    const { invoiceId } = p.invoiceIds.get(e.key)!;
    const r = await p.keys.get(e.tenant)!.get<Obj>(e.payable === 'booking' ? `/v1/bookings/${invoiceId}` : `/v1/invoices/${invoiceId}`);
    if (r.status !== 200) diffs.push(`GET ${e.payable} ${e.key}: ${r.status}`);
    else diffs.push(...(e.payable === 'booking' ? diffBooking(e, r.body) : diffInvoice(e, r.body)));
  }
  for (const t of h.tenants) {
    const api = p.keys.get(t.id)!;
    const mine = model.payments.filter((x) => x.tenant === t.id);
    const rows = await allPayments(api);
    // a PayPal payment's id is the order id PayPal chose for the history's order
    const idOf = (e: { provider: string; providerPaymentId: string }) => (e.provider === 'paypal' ? (p.paypalOrders.get(e.providerPaymentId) ?? `(never opened) ${e.providerPaymentId}`) : e.providerPaymentId);
    const row = (pi: string) => rows.filter((r) => r.providerPaymentId === pi);
    for (const e of mine) {
      const got = row(idOf(e));
      const label = `${e.provider} payment ${idOf(e)} (${e.amount} ${e.currency}, for ${e.invoiceKey})`;
      if (got.length !== 1) {
        diffs.push(`${label}: listed ${got.length} times in /v1/payments, the provider made one attempt`);
        continue;
      }
      const g = got[0]!;
      if (e.provider === 'paypal' && g.provider !== 'paypal') diffs.push(`${label}: provider ${JSON.stringify(g.provider)}, it was paid at PayPal`);
      if (g.status !== e.status) diffs.push(`${label}: status ${g.status}, the provider says ${e.status}`);
      if (amountOf(g.amount) !== e.amount) diffs.push(`${label}: amount ${amountOf(g.amount)}, the provider says ${e.amount}`);
      if (amountOf(g.refunded) !== e.refunded) diffs.push(`${label}: refunded ${amountOf(g.refunded)}, the provider says ${e.refunded}`);
      if (Boolean(g.needsAttention) !== e.needsAttention) diffs.push(`${label}: needsAttention ${JSON.stringify(g.needsAttention)}, expected ${e.needsAttention}`);
    }
    const extra = rows.filter((r) => !mine.some((e) => idOf(e) === r.providerPaymentId));
    for (const x of extra) diffs.push(`payment ${x.providerPaymentId} listed but the provider made no such attempt for tenant ${t.id.slice(0, 12)}…`);

    const want = model.finance.get(t.id) ?? new Map();
    const read = async () => (await api.get<Obj>(`/v1/reports/finance?from=${today(-2)}&to=${today(1)}`)).body;
    const agrees = (report: Obj) => financeDiffs(report, want).length === 0;
    const report = await until(read, agrees, 15_000);
    diffs.push(...financeDiffs(report, want).map((d) => `finance of tenant ${t.id.slice(0, 12)}…: ${d}`));
  }
  return diffs;
}

function financeDiffs(report: Obj, want: Map<string, Obj>): string[] {
  const out: string[] = [];
  const totals = new Map<string, Obj>(((report?.totals ?? []) as Obj[]).map((t) => [t.currency as string, t]));
  const keys = ['grossCollected', 'refunds', 'disputed', 'disputeLosses', 'net', 'succeededCount', 'failedCount'];
  for (const [cur, w] of want) {
    const g = totals.get(cur);
    if (!g) {
      out.push(`${cur} missing`);
      continue;
    }
    for (const k of keys) if (g[k] !== w[k]) out.push(`${cur} ${k} is ${g[k]}, the provider says ${w[k]}`);
  }
  for (const cur of totals.keys()) if (!want.has(cur)) out.push(`${cur} reported but no payment was made in it`);
  return out;
}

/** A replayable description of a history: what to paste into ACCEPTANCE_REPLAY. */
export function describe(h: History): string {
  const lines = h.facts.map((f) => {
    switch (f.kind) {
      case 'invoice':
        return `${f.payable} ${f.key}${f.method === 'paypal' ? ' (PayPal only)' : ''}${f.voided ? ' (voided at once)' : ''}: ${f.total} ${f.currency} to ${f.customerId.length}-char customer, tenant ${f.tenant.length}-char ${f.tenant.slice(0, 8)}…`;
      case 'charge':
        return `${(f).outcome} ${f.legacy ? 'legacy ' : ''}${f.pi}/${f.ch} ${f.amount} ${f.currency} for ${f.invoiceKey}${f.declineCode ? ` (${f.declineCode})` : ''}`;
      case 'refund':
        return `refund ${f.re} ${f.amount} of ${f.ch}`;
      case 'dispute':
        return `dispute ${f.dp} ${f.amount} on ${f.ch}: ${f.outcome}`;
      case 'paypalCapture':
        return `PayPal order ${f.order} ${f.amount} ${f.currency} for ${f.invoiceKey}: capture ${f.outcome}`;
      case 'paypalRefund':
        return `PayPal refund ${f.refund} ${f.amount} of ${f.order}`;
    }
  });
  return lines.join('\n');
}

export type { InvoiceFact };
