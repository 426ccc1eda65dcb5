/**
 * Plays one random booking pipeline (model/histories.ts `bookingHistoryArb`) against the running
 * service through its public interfaces, step by step: API commands (requests with their party and
 * schedule, cancellations, capacity changes, operator CRM retries single and bulk), Stripe's facts
 * as signed platform webhooks (each event possibly twice, shuffled, sent concurrently), the CRM
 * simulator armed per booking as the history says. After each step it waits until the service has
 * applied everything (the documented backlog metrics) and the CRM calls the model expects were
 * made; every command's answer is checked at once. At the end every booking, departure, payment
 * row, the finance report, the CRM's records and calls, and the needs-attention list are compared
 * with the model (model/bookings.ts). Nothing here imports product code.
 */
import { PipelineModel, depositOf, type BookingStep, type ExpectedPipeline } from '../model/bookings';
import { BOOKING_CRM_MAX_ATTEMPTS, type BookingHistory } from '../model/histories';
import type { ChargeFact, DisputeFact, MoneyFact, RefundFact } from '../model/invoices';
import type { CrmSimulator } from '../../simulators/crm';
import { until, type Settle } from './service';
import { deliver, eventsFor, type StripeDelivery } from './stripeWorld';
import { idOfLength, newTenant, type Tenant } from './tenant';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

interface Played {
  readonly tenant: Tenant;
  readonly departureIds: Map<string, string>;
  readonly bookingIds: Map<string, string>;
  readonly requestedAt: Map<string, number>;
  readonly capacity: Map<string, number>;
}

const contact = (key: string) => ({ firstName: 'Ada', lastName: 'Lovelace', email: `ada.${key}@example.com`, phone: '+44 20 7946 0000' });
const guests = (n: number) => [
  { firstName: 'Ada', lastName: 'Lovelace' },
  { firstName: 'Charles', lastName: 'Babbage', email: 'charles@example.com' },
  { firstName: 'Mary', lastName: 'Somerville' },
].slice(0, n);

let departureCounter = 0;

/** Plays the history; returns every difference from the model (empty: the service agrees). */
export async function playBookings(settle: Settle, crm: CrmSimulator, h: BookingHistory): Promise<string[]> {
  crm.reset();
  crm.configure({ latencyMs: h.crmLatencyMs });
  const tenant = await newTenant(settle, h.tenant);
  const p: Played = { tenant, departureIds: new Map(), bookingIds: new Map(), requestedAt: new Map(), capacity: new Map() };
  for (const d of h.departures) {
    const departureId = idOfLength(`D${(departureCounter++).toString(36)}x`);
    const r = await tenant.api.post<any>('/v1/departures', { departureId, name: `Laugavegur ${d.key}`, paymentScheduleId: `sched-${d.key}`, capacity: d.capacity, inquireToBook: d.inquireToBook });
    if (r.status !== 201) throw new Error(`create departure: ${r.status} ${JSON.stringify(r.body)}`);
    p.departureIds.set(d.key, departureId);
    p.capacity.set(d.key, d.capacity);
  }
  const model = new PipelineModel(h.departures, BOOKING_CRM_MAX_ATTEMPTS);
  const facts: MoneyFact[] = [];
  const problems: string[] = [];
  let slot = 0;
  for (const [i, step] of h.steps.entries()) {
    const answer = model.apply(step);
    const got = await act(settle, crm, p, step, facts, h, () => slot++);
    if (answer && got && (got.status !== answer.status || (answer.bookings !== undefined && got.bookings !== answer.bookings))) {
      problems.push(`step ${i} (${describeStep(step)}): the API answered ${got.status}${got.bookings !== undefined ? ` for ${got.bookings} bookings` : ''}, expected ${answer.status}${answer.bookings !== undefined ? ` for ${answer.bookings} bookings` : ''}`);
    }
    if (step.kind === 'request') {
      const want = model.expected(Date.now(), () => Date.now()).bookings.find((b) => b.key === step.booking.key)!;
      if (got?.bookingStatus !== want.status) problems.push(`step ${i} (${describeStep(step)}): booked as ${got?.bookingStatus}, expected ${want.status}`);
    }
    await quiet(settle, crm, p, model.expected(Date.now(), (k) => p.requestedAt.get(k) ?? 0));
    if (process.env.ACCEPTANCE_TRACE === '1') {
      const list = ((await p.tenant.api.get<any>('/v1/bookings?limit=100')).body?.data ?? []) as Obj[];
      const keyOf = (id: string) => [...p.bookingIds].find(([, v]) => v === id)?.[0] ?? id;
      process.stderr.write(`after step ${i} (${describeStep(step)}): ${list.map((x) => `${keyOf(x.bookingId)} ${x.status}/${x.stage} crm creates ${createsOf(crm, x.bookingId)}`).join('; ')}\n`);
    }
  }
  problems.push(...(await compareBookings(settle, crm, p, model.expected(Date.now(), (k) => p.requestedAt.get(k) ?? 0))));
  return problems;
}

type Got = { status: number; bookings?: number; bookingStatus?: string } | null;

async function act(settle: Settle, crm: CrmSimulator, p: Played, step: BookingStep, facts: MoneyFact[], h: BookingHistory, nextSlot: () => number): Promise<Got> {
  const api = p.tenant.api;
  const bookingId = (key: string) => p.bookingIds.get(key)!;
  switch (step.kind) {
    case 'request': {
      const f = step.booking;
      const r = await api.post<any>('/v1/bookings', {
        departureId: p.departureIds.get(f.departure),
        contact: contact(f.key),
        guests: guests(f.guests),
        price: { amount: f.price, currency: f.currency },
        ...(f.schedule ? { schedule: { deposit: { percent: f.schedule.percent }, balanceDueDays: f.schedule.dueDays } } : {}),
      });
      if (r.status !== 201) throw new Error(`request booking ${f.key}: ${r.status} ${JSON.stringify(r.body)}`);
      const id = r.body.bookingId as string;
      p.bookingIds.set(f.key, id);
      p.requestedAt.set(f.key, Date.now());
      // the CRM's behaviour towards this booking
      const c = f.crm;
      const create = { operation: 'createContactBooking' as const, externalReference: id };
      if (c.kind === 'flaky') crm.failNext(c.failures, c.failure, create);
      if (c.kind === 'down') crm.failNext(c.rounds * BOOKING_CRM_MAX_ATTEMPTS, c.failure, create);
      if (c.kind === 'reject') crm.failNext(c.rounds, c.failure, create);
      if (c.kind === 'lostCreate') crm.failNext(1, 503, { ...create, when: 'after' });
      if (c.kind === 'lostAssociate') crm.failNext(1, 503, { operation: 'associatePayment', externalReference: id, when: 'after' });
      return { status: r.status, bookingStatus: r.body.status as string };
    }
    case 'pay':
    case 'refund':
    case 'dispute': {
      const now = Math.floor(Date.now() / 1000);
      const fact: MoneyFact =
        step.kind === 'pay'
          ? ({ kind: 'charge', invoiceKey: step.booking, pi: step.pi, ch: step.ch, amount: step.amount, currency: currencyOf(facts, step, h), created: now, outcome: step.succeeded ? 'succeeded' : 'failed', ...(step.succeeded ? {} : { errorCode: 'card_declined', declineCode: 'insufficient_funds' }) } satisfies ChargeFact)
          : step.kind === 'refund'
            ? ({ kind: 'refund', ch: step.ch, re: step.re, amount: step.amount, created: now } satisfies RefundFact)
            : ({ kind: 'dispute', ch: step.ch, dp: step.dp, amount: step.amount, created: now, outcome: step.outcome, closed: step.outcome === 'open' ? null : now + 1 } satisfies DisputeFact);
      facts.push(fact);
      const events = eventsFor(fact, facts, { targetOf: (key) => ({ metadata: { tenant_id: p.tenant.id, booking_id: bookingId(key) }, account: null }) });
      await deliverShuffled(settle, events, h, nextSlot);
      return null;
    }
    case 'cancel': {
      const r = await api.post<any>(`/v1/bookings/${bookingId(step.booking)}/cancel`, { reason: 'The customer changed plans' });
      return { status: r.status };
    }
    case 'raiseCapacity': {
      const capacity = p.capacity.get(step.departure)! + step.by;
      p.capacity.set(step.departure, capacity);
      const r = await api.patch<any>(`/v1/departures/${p.departureIds.get(step.departure)}`, { capacity });
      return { status: r.status };
    }
    case 'inquiriesOff': {
      const r = await api.patch<any>(`/v1/departures/${p.departureIds.get(step.departure)}`, { inquireToBook: false });
      return { status: r.status };
    }
    case 'crmRetry': {
      const r = await api.post<any>(`/v1/bookings/${bookingId(step.booking)}/crm-retry`, { requestedBy: 'ops.oncall@example.com' });
      return { status: r.status };
    }
    case 'bulkCrmRetry': {
      const r = await api.post<any>('/v1/bookings/crm-retry', { requestedBy: 'ops.oncall@example.com' });
      return { status: r.status, bookings: r.body?.bookings as number };
    }
  }
}

function currencyOf(_facts: readonly MoneyFact[], step: { booking: string }, h: BookingHistory): string {
  const req = h.steps.find((s): s is Extract<BookingStep, { kind: 'request' }> => s.kind === 'request' && s.booking.key === step.booking);
  return req!.booking.currency;
}

/** A step's events, each possibly twice, in a shuffled order, all at once. */
async function deliverShuffled(settle: Settle, events: readonly StripeDelivery[], h: BookingHistory, nextSlot: () => number): Promise<void> {
  const slots: Array<{ d: StripeDelivery; key: number }> = [];
  for (const d of events) {
    const i = nextSlot();
    slots.push({ d, key: h.shuffle[i % h.shuffle.length]! + i * 1e-9 });
    if (h.duplicate[i % h.duplicate.length]) slots.push({ d, key: h.shuffle[(i * 7 + 3) % h.shuffle.length]! + i * 1e-9 + 1e-12 });
  }
  const list = slots.sort((a, b) => a.key - b.key).map((s) => s.d);
  const results = await Promise.all(list.map((d) => deliver(settle.url, d)));
  results.forEach((r, j) => {
    if (r.status !== 200) throw new Error(`delivery ${list[j]!.type} ${list[j]!.id}: ${r.status} ${r.body}`);
  });
}

const createsOf = (crm: CrmSimulator, bookingId: string) => crm.requests('createContactBooking').filter((r) => r.body?.external_reference === bookingId).length;

/**
 * Waits until the service applied everything it accepted (backlog metrics) and the CRM saw the
 * calls the model expects (or 20 s passed: the comparison then says what differs); when it had to
 * wait for the CRM, once more for the backlog (the saga's outcomes are appended after the call).
 */
async function quiet(settle: Settle, crm: CrmSimulator, p: Played, want: ExpectedPipeline): Promise<void> {
  await settle.settled({ timeoutMs: 30_000 });
  const crmDone = async () => {
    const list = (await p.tenant.api.get<any>('/v1/bookings?limit=100')).body?.data as Obj[] | undefined;
    return want.bookings.every((b) => {
      const id = p.bookingIds.get(b.key)!;
      const row = list?.find((x) => x.bookingId === id);
      const inCrm = crm.booking(id);
      return createsOf(crm, id) === b.crm.createCalls && (inCrm?.payments.length ?? 0) === b.crm.associated.length && row?.needsAttention === b.needsAttention && Boolean(row?.crm?.bookingId) === b.crm.inCrm;
    });
  };
  if (!(await crmDone())) {
    await until(crmDone, (ok) => ok, 20_000);
    await settle.settled({ timeoutMs: 30_000 });
  }
}

function today(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

async function compareBookings(settle: Settle, crm: CrmSimulator, p: Played, want: ExpectedPipeline): Promise<string[]> {
  const api = p.tenant.api;
  const diffs: string[] = [];
  for (const b of want.bookings) {
    const id = p.bookingIds.get(b.key)!;
    const where = `booking ${b.key} (${b.guests} guests, ${b.currency})`;
    const r = await api.get<any>(`/v1/bookings/${id}`);
    if (r.status !== 200) {
      diffs.push(`${where}: GET answered ${r.status}`);
      continue;
    }
    const g = r.body;
    const seen = { status: g.status, stage: g.stage, needsAttention: g.needsAttention, refunded: g.refunded?.amount ?? 0, guests: g.guests?.length, inCrm: Boolean(g.crm?.bookingId) };
    const exp = { status: b.status, stage: b.stage, needsAttention: b.needsAttention, refunded: b.refunded, guests: b.guests, inCrm: b.crm.inCrm };
    for (const [k, v] of Object.entries(exp)) if ((seen as Obj)[k] !== v) diffs.push(`${where}: ${k} is ${JSON.stringify((seen as Obj)[k])}, expected ${JSON.stringify(v)}${k === 'needsAttention' || k === 'stage' ? ` (attention: ${JSON.stringify(g.attention)})` : ''}`);
    // the CRM's own records and the calls it received
    const atCrm = crm.booking(id);
    if (Boolean(atCrm) !== b.crm.inCrm) diffs.push(`${where}: in the CRM ${Boolean(atCrm)}, expected ${b.crm.inCrm} (the booking: ${JSON.stringify({ status: g.status, waitlist: g.waitlist, payments: g.payments?.map((x: Obj) => [x.providerPaymentId, x.kept, x.refunded?.amount]) })})`);
    if (atCrm) {
      const paid = atCrm.payments.map((x) => x.paymentId);
      if (JSON.stringify(paid) !== JSON.stringify(b.crm.associated)) diffs.push(`${where}: CRM payments ${JSON.stringify(paid)}, expected ${JSON.stringify(b.crm.associated)}`);
      if (atCrm.waitlisted) diffs.push(`${where}: sent to the CRM as waitlisted`);
      if (atCrm.guests.length !== b.guests) diffs.push(`${where}: ${atCrm.guests.length} guests in the CRM, expected ${b.guests}`);
    }
    const creates = createsOf(crm, id);
    if (creates !== b.crm.createCalls) diffs.push(`${where}: ${creates} CRM create calls, expected ${b.crm.createCalls}`);
  }
  for (const [key, seats] of want.seats) {
    const r = await api.get<any>(`/v1/departures/${p.departureIds.get(key)}`);
    if (r.body?.seatsTaken !== seats) diffs.push(`departure ${key} (capacity ${p.capacity.get(key)}): seatsTaken ${r.body?.seatsTaken}, expected ${seats}`);
  }
  // payments list
  const rows = ((await api.get<any>('/v1/payments?limit=100')).body?.data ?? []) as Obj[];
  for (const e of want.payments) {
    const got = rows.filter((x) => x.providerPaymentId === e.pi);
    const where = `payment ${e.pi} (${e.amount} ${e.currency}, booking ${e.booking})`;
    if (got.length !== 1) {
      diffs.push(`${where}: listed ${got.length} times`);
      continue;
    }
    const g = got[0]!;
    if (g.status !== e.status) diffs.push(`${where}: status ${g.status}, expected ${e.status}`);
    if ((g.refunded?.amount ?? 0) !== e.refunded) diffs.push(`${where}: refunded ${g.refunded?.amount}, expected ${e.refunded}`);
    if (Boolean(g.needsAttention) !== e.needsAttention) diffs.push(`${where}: needsAttention ${JSON.stringify(g.needsAttention)}, expected ${e.needsAttention}`);
  }
  for (const x of rows) if (!want.payments.some((e) => e.pi === x.providerPaymentId)) diffs.push(`payment ${x.providerPaymentId} listed but Stripe made no such attempt`);
  // finance
  const read = async () => (await api.get<Obj>(`/v1/reports/finance?from=${today(-2)}&to=${today(1)}`)).body;
  const financeDiffs = (report: Obj) => {
    const out: string[] = [];
    const totals = new Map<string, Obj>(((report?.totals ?? []) as Obj[]).map((t) => [t.currency as string, t]));
    for (const [cur, w] of want.finance) {
      const g = totals.get(cur);
      if (!g) out.push(`finance: ${cur} missing`);
      else for (const k of ['grossCollected', 'refunds', 'disputed', 'disputeLosses', 'net', 'succeededCount', 'failedCount'] as const) if (g[k] !== w[k]) out.push(`finance ${cur} ${k} is ${g[k]}, expected ${w[k]}`);
    }
    for (const cur of totals.keys()) if (!want.finance.has(cur)) out.push(`finance: ${cur} reported but nothing was paid in it`);
    return out;
  };
  diffs.push(...financeDiffs(await until(read, (x) => financeDiffs(x).length === 0, 15_000)));
  // the needs-attention list
  const listed = ((await api.get<any>('/v1/bookings?stage=needs_attention&limit=100')).body?.data ?? []).map((x: Obj) => x.bookingId as string);
  const expectedIds = want.needingAttention.map((k) => p.bookingIds.get(k)!);
  const keyOf = (id: string) => [...p.bookingIds].find(([, v]) => v === id)?.[0] ?? id;
  for (const id of expectedIds) if (!listed.includes(id)) diffs.push(`needs_attention list misses booking ${keyOf(id)}`);
  for (const id of listed) if (!expectedIds.includes(id)) diffs.push(`needs_attention list has booking ${keyOf(id)}, which needs nothing`);
  // nothing stuck
  await settle.settled({ timeoutMs: 30_000 }).catch((err: unknown) => diffs.push(err instanceof Error ? err.message : String(err)));
  return diffs;
}

export function describeStep(s: BookingStep): string {
  switch (s.kind) {
    case 'request': {
      const b = s.booking;
      return `request ${b.key} on ${b.departure}: ${b.guests} guests, ${b.price} ${b.currency}${b.schedule ? `, deposit ${b.schedule.percent}% = ${depositOf(b.price, b.schedule.percent)}, balance due in ${b.schedule.dueDays} days` : ''}; CRM ${JSON.stringify(b.crm)}`;
    }
    case 'pay':
      return `${s.succeeded ? 'payment' : 'declined payment'} ${s.pi} of ${s.amount} for ${s.booking}`;
    case 'refund':
      return `Stripe refund ${s.re} of ${s.amount} on ${s.pi} (${s.booking})`;
    case 'dispute':
      return `Stripe dispute ${s.dp} of ${s.amount} on ${s.pi} (${s.booking}), ${s.outcome}`;
    case 'cancel':
      return `cancel ${s.booking}`;
    case 'raiseCapacity':
      return `capacity of ${s.departure} +${s.by}`;
    case 'inquiriesOff':
      return `${s.departure} takes bookings instead of inquiries`;
    case 'crmRetry':
      return `operator CRM retry of ${s.booking}`;
    case 'bulkCrmRetry':
      return 'operator bulk CRM retry';
  }
}

/** The history as readable lines (departures first). */
export function describeBookingHistory(h: BookingHistory): string {
  return [
    `tenant ${h.tenant.length}-char ${h.tenant.slice(0, 8)}…; CRM latency ${h.crmLatencyMs} ms`,
    ...h.departures.map((d) => `departure ${d.key}: ${d.capacity} seats${d.inquireToBook ? ', inquiries' : ''}`),
    ...h.steps.map((s, i) => `${i}. ${describeStep(s)}`),
  ].join('\n');
}
