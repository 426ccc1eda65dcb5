/**
 * The console's pages as template functions of read-model data. Everything interpolated is
 * escaped (html.ts); links go through safeUrl. Status is always words (badge text), never colour
 * alone. Fragments marked "live" are also what the live status stream sends to update a page.
 */
import type { bookingOut, invoiceOut, Overview, paymentOut, subscriptionOut } from '../../projections/queries';
import { barChart, columnChart, daysBetween } from './charts';
import { failureSentence, payerFailureSentence } from './declines';
import { formatInstant, formatMoney, humanize } from './format';
import { html, raw, safeUrl, type Html } from './html';

export type Payment = ReturnType<typeof paymentOut>;
export type Booking = ReturnType<typeof bookingOut>;
export type Invoice = ReturnType<typeof invoiceOut>;
export type Subscription = ReturnType<typeof subscriptionOut>;

export type Section = 'overview' | 'payments' | 'bookings' | 'invoices' | 'subscriptions' | 'system';

export interface Chrome {
  readonly title: string;
  readonly section?: Section;
  readonly csrfToken?: string;
  /** Who is signed in and for which tenant. */
  readonly who?: { label: string; tenantId: string | null; admin: boolean };
  readonly flash?: { kind: 'notice' | 'error'; text: string } | null;
}

const SECTIONS: ReadonlyArray<[Section, string]> = [
  ['overview', 'Overview'],
  ['payments', 'Payments'],
  ['bookings', 'Bookings'],
  ['invoices', 'Invoices'],
  ['subscriptions', 'Subscriptions'],
  ['system', 'System'],
];

export function layout(c: Chrome, body: Html): string {
  const nav = c.who
    ? html`<nav aria-label="Console"><ul>${SECTIONS.map(([s, label]) => html`<li><a href="/admin/${s}" ${c.section === s ? raw('aria-current="page"') : ''}>${label}</a></li>`)}</ul></nav>
        <div class="who"><span>${c.who.label}${c.who.tenantId ? html` · tenant <strong>${c.who.tenantId}</strong>` : ''}</span>
          ${c.who.admin ? html`<a href="/admin/tenants">Switch tenant</a>` : ''}
          <form method="post" action="/admin/sign-out"><input type="hidden" name="_csrf" value="${c.csrfToken ?? ''}"><button type="submit" class="secondary">Sign out</button></form></div>`
    : '';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${c.title} · Settle console</title><link rel="stylesheet" href="/assets/console.css"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="top"><strong>Settle</strong>${nav}</header>
<main id="main"><h1>${c.title}</h1>
<div id="action-result" role="status" aria-live="polite" ${c.flash ? raw(`class="${c.flash.kind}"`) : ''}>${c.flash?.text ?? ''}</div>
${body}</main>
<script src="/assets/console.js" defer></script></body></html>`.value;
}

export function badge(status: string | null | undefined): Html {
  const s = status ?? 'unknown';
  return html`<span class="badge ${s.replace(/[^a-z_]/g, '')}">${humanize(s)}</span>`;
}

const csrfField = (token: string) => html`<input type="hidden" name="_csrf" value="${token}">`;

// ---------------------------------------------------------------- sign-in, tenants

export function signInPage(o: { csrfToken: string; next: string; error?: string }): string {
  return layout(
    { title: 'Sign in', flash: o.error ? { kind: 'error', text: o.error } : null },
    html`<form method="post" action="/admin/sign-in">
  ${csrfField(o.csrfToken)}<input type="hidden" name="next" value="${o.next}">
  <p><label for="key">Admin key or tenant API key</label><br>
  <input id="key" name="key" type="password" autocomplete="off" required size="48" aria-describedby="key-help"></p>
  <p id="key-help" class="muted">Tenant staff sign in with one of their tenant's API keys and see only that tenant.</p>
  <p><button type="submit">Sign in</button></p></form>`,
  );
}

export function tenantPickerPage(c: Chrome, tenants: ReadonlyArray<{ tenantId: string; name: string }>): string {
  return layout(
    c,
    html`<p>Choose the tenant to look at.</p>
<form method="post" action="/admin/tenants">${csrfField(c.csrfToken ?? '')}
<p><label for="tenant">Tenant</label><br><select id="tenant" name="tenantId">${tenants.map((t) => html`<option value="${t.tenantId}">${t.name} (${t.tenantId})</option>`)}</select></p>
<p><button type="submit">Open</button></p></form>`,
  );
}

// ---------------------------------------------------------------- overview

/** Day ranges the overview offers. */
export const OVERVIEW_RANGES = [7, 30, 90] as const;

export interface OverviewView {
  readonly data: Overview;
  readonly range: number;
  /** The tenant shown, or null for every tenant (admin). */
  readonly tenantId: string | null;
  /** Tenants an admin may pick (null for tenant staff: their own tenant only). */
  readonly tenants: ReadonlyArray<{ tenantId: string; name: string }> | null;
  /** Whether the items' pages open in this session (the tenant shown is the session's). */
  readonly linkable: boolean;
}

const INVOICE_STATUSES = ['draft', 'open', 'paid', 'void', 'uncollectible', 'refunded'];

/** A chart and its numbers: the figure, then the same figures as a table (read without the image). */
function figure(id: string, caption: string, chart: Html, table: Html): Html {
  return html`<figure id="${id}" aria-labelledby="${id}-caption"><figcaption id="${id}-caption">${caption}</figcaption>${chart}${table}</figure>`;
}

function numbersTable(caption: string, head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | Html>>, numeric: readonly boolean[]): Html {
  return html`<table class="numbers"><caption class="muted">${caption}</caption><thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${
    rows.length === 0 ? html`<tr><td colspan="${head.length}">None in this range.</td></tr>` : rows.map((r) => html`<tr>${r.map((cell, i) => (i === 0 ? html`<th scope="row">${cell}</th>` : numeric[i] ? html`<td class="num">${cell}</td>` : html`<td>${cell}</td>`))}</tr>`)
  }</tbody></table>`;
}

function attentionHref(a: Overview['attention'][number]): string {
  const id = encodeURIComponent(a.id);
  return a.kind === 'booking' ? `/admin/bookings/${id}` : a.kind === 'invoice' ? `/admin/invoices/${id}` : `/admin/payments/${id}`;
}

export function overviewPage(c: Chrome, v: OverviewView): string {
  const d = v.data;
  const days = daysBetween(d.from, d.to);
  const perDay = new Map(d.paymentsPerDay.map((p) => [p.day, p]));
  const currencies = [...new Set([...d.amountsPerDay.map((a) => a.currency), ...d.financePerDay.map((f) => f.currency)])].sort();
  const money = (currency: string) => (n: number) => formatMoney({ amount: n, currency });
  const amountOn = new Map(d.amountsPerDay.map((a) => [`${a.currency}|${a.day}`, a.amount]));
  const financeOn = new Map(d.financePerDay.map((f) => [`${f.currency}|${f.day}`, f]));
  const stages = STAGE_ORDER.map((s) => ({ label: humanize(s), value: d.bookingsByStage[s] ?? 0, code: s }));
  const statuses = [...INVOICE_STATUSES, ...Object.keys(d.invoicesByStatus).filter((s) => !INVOICE_STATUSES.includes(s))].map((s) => ({ label: humanize(s), value: d.invoicesByStatus[s] ?? 0, code: s }));
  const declines = d.declineReasons.map((r) => ({ code: r.declineCode ?? r.errorCode ?? 'unknown', words: failureSentence(r.errorCode, r.declineCode, null) ?? 'No reason was given.', count: r.count }));
  const scope = v.tenantId === null ? 'every tenant' : `tenant ${v.tenantId}`;
  const selector = html`<form class="filters" method="get" action="/admin/overview" aria-label="Overview range">
<label for="o-range">Range<select id="o-range" name="range">${OVERVIEW_RANGES.map((r) => html`<option value="${r}" ${r === v.range ? raw('selected') : ''}>Last ${r} days</option>`)}</select></label>
${v.tenants ? html`<label for="o-tenant">Tenant<select id="o-tenant" name="tenant"><option value="" ${v.tenantId === null ? raw('selected') : ''}>All tenants</option>${v.tenants.map((t) => html`<option value="${t.tenantId}" ${t.tenantId === v.tenantId ? raw('selected') : ''}>${t.name} (${t.tenantId})</option>`)}</select></label>` : ''}
<button type="submit">Show</button></form>
<p class="muted">${scope} · ${d.from} to ${d.to} (UTC days) · ${OVERVIEW_RANGES.map((r, i) => html`${i > 0 ? ' · ' : ''}<a href="/admin/overview?${new URLSearchParams({ range: String(r), ...(v.tenants ? { tenant: v.tenantId ?? '' } : {}) }).toString()}" ${r === v.range ? raw('aria-current="true"') : ''}>${r} days</a>`)}</p>`;
  const attention = d.attention.length === 0
    ? html`<p>Nothing needs a human.</p>`
    : html`<table id="attention-list"><caption class="muted">Bookings, invoices and payments flagged by their read models, oldest first</caption><thead><tr><th scope="col">What</th>${v.tenantId === null ? html`<th scope="col">Tenant</th>` : ''}<th scope="col">Why</th><th scope="col">Since</th></tr></thead><tbody>${d.attention.map(
        (a) => html`<tr><td>${v.linkable ? html`<a href="${attentionHref(a)}">${humanize(a.kind)} ${a.id}</a>` : html`${humanize(a.kind)} ${a.id}`}</td>${v.tenantId === null ? html`<td>${a.tenantId}</td>` : ''}<td>${a.reasons.map((r) => humanize(r)).join(', ')}</td><td>${formatInstant(a.since)}</td></tr>`,
      )}</tbody></table>${
        v.linkable
          ? ''
          : v.tenantId === null
            ? html`<p class="muted">Pick a tenant above to see its items with links.</p>`
            : html`<form method="post" action="/admin/tenants">${csrfField(c.csrfToken ?? '')}<input type="hidden" name="tenantId" value="${v.tenantId}"><button type="submit" class="secondary">Act as tenant ${v.tenantId} to open these</button></form>`
      }`;
  return layout(
    c,
    html`${selector}
<h2 id="attention">Needs attention (${d.attention.length})</h2>${attention}
<h2>Payments</h2><div class="charts">
${figure(
  'payments-per-day',
  'Payments per day: succeeded and failed',
  columnChart({ title: 'Payments per day', categories: days, series: [{ name: 'Succeeded', values: days.map((x) => perDay.get(x)?.succeeded ?? 0) }, { name: 'Failed', values: days.map((x) => perDay.get(x)?.failed ?? 0) }] }),
  numbersTable('Payment attempts per day (days without any are left out)', ['Day', 'Succeeded', 'Failed'], d.paymentsPerDay.map((p) => [p.day, p.succeeded, p.failed]), [false, true, true]),
)}
${currencies.filter((cur) => d.amountsPerDay.some((a) => a.currency === cur)).map((cur) =>
  figure(
    `amounts-${cur.toLowerCase()}`,
    `Amounts paid per day in ${cur}`,
    columnChart({ title: `Amounts paid per day in ${cur}`, categories: days, series: [{ name: `Paid (${cur})`, values: days.map((x) => amountOn.get(`${cur}|${x}`) ?? 0) }], format: money(cur) }),
    numbersTable(`Succeeded payments in ${cur} per day`, ['Day', 'Amount'], d.amountsPerDay.filter((a) => a.currency === cur).map((a) => [a.day, formatMoney({ amount: a.amount, currency: cur })]), [false, true]),
  ),
)}
${figure(
  'decline-reasons',
  'Why payments failed (top reasons)',
  barChart({ title: 'Decline reasons', bars: declines.map((r) => ({ label: humanize(r.code), value: r.count })) }),
  numbersTable('Failed payments by reason', ['Reason', 'In plain words', 'Payments'], declines.map((r) => [humanize(r.code), r.words, r.count]), [false, false, true]),
)}
</div>
<h2>Money collected (finance ledger)</h2><div class="charts">
${
  currencies.filter((cur) => d.financePerDay.some((f) => f.currency === cur)).length === 0
    ? html`<p>No money moved in this range.</p>`
    : currencies.filter((cur) => d.financePerDay.some((f) => f.currency === cur)).map((cur) =>
        figure(
          `finance-${cur.toLowerCase()}`,
          `Collected, refunded and disputed per day in ${cur}`,
          columnChart({
            title: `Collected, refunded and disputed per day in ${cur}`,
            categories: days,
            series: [
              { name: 'Collected', values: days.map((x) => financeOn.get(`${cur}|${x}`)?.collected ?? 0) },
              { name: 'Refunded', values: days.map((x) => financeOn.get(`${cur}|${x}`)?.refunded ?? 0) },
              { name: 'Disputed', values: days.map((x) => financeOn.get(`${cur}|${x}`)?.disputed ?? 0) },
            ],
            format: money(cur),
          }),
          numbersTable(
            `Finance ledger in ${cur} per day (disputed: disputes opened minus closed that day)`,
            ['Day', 'Collected', 'Refunded', 'Disputed'],
            d.financePerDay.filter((f) => f.currency === cur).map((f) => [f.day, formatMoney({ amount: f.collected, currency: cur }), formatMoney({ amount: f.refunded, currency: cur }), formatMoney({ amount: f.disputed, currency: cur })]),
            [false, true, true, true],
          ),
        ),
      )
}
</div>
<h2>Now</h2><div class="charts">
${figure(
  'bookings-by-stage',
  'Bookings by pipeline stage',
  barChart({ title: 'Bookings by pipeline stage', bars: stages }),
  numbersTable('Bookings per stage, as they stand now', ['Stage', 'Bookings'], stages.map((s) => [v.linkable ? html`<a href="/admin/bookings?stage=${s.code}">${s.label}</a>` : s.label, s.value]), [false, true]),
)}
${figure(
  'invoices-by-status',
  'Invoices by status',
  barChart({ title: 'Invoices by status', bars: statuses }),
  numbersTable('Invoices per status, as they stand now', ['Status', 'Invoices'], statuses.map((s) => [v.linkable ? html`<a href="/admin/invoices?status=${s.code}">${s.label}</a>` : s.label, s.value]), [false, true]),
)}
</div>`,
  );
}

// ---------------------------------------------------------------- payments

export interface PaymentLinks {
  dashboard: string | null;
  /** Connect payments: the connected account's page in the platform dashboard. */
  account?: string | null;
  receipt: string | null;
  docs: string | null;
}

export const PAYMENT_STATUSES = ['succeeded', 'failed', 'pending', 'action_required', 'refunded', 'disputed'] as const;
export const PROVIDERS = ['stripe', 'paypal'] as const;

export interface PaymentFilters {
  customer?: string;
  status?: string;
  provider?: string;
  from?: string;
  to?: string;
}

function filterQuery(f: Record<string, string | undefined>, cursor: string): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  q.set('cursor', cursor);
  return `?${q.toString()}`;
}

function paidFor(p: Payment): Html {
  const { type, id } = p.payable as { type: string; id: string };
  const href = type === 'invoice' ? `/admin/invoices/${encodeURIComponent(id)}` : type === 'booking' ? `/admin/bookings/${encodeURIComponent(id)}` : `/admin/subscriptions?customer=${encodeURIComponent(id)}`;
  return html`<a href="${href}">${humanize(type)} ${id}</a>`;
}

function paymentLinks(l: PaymentLinks): Html {
  return html`${l.dashboard ? html`<a href="${safeUrl(l.dashboard)}" rel="noreferrer" target="_blank">Provider dashboard</a> ` : ''}${l.account ? html`<a href="${safeUrl(l.account)}" rel="noreferrer" target="_blank">Connected account</a> ` : ''}${l.receipt ? html`<a href="${safeUrl(l.receipt)}" rel="noreferrer" target="_blank">Receipt</a> ` : ''}${l.docs ? html`<a href="${safeUrl(l.docs)}" rel="noreferrer" target="_blank">About this error</a>` : ''}`;
}

export function failureOf(p: Payment): string | null {
  if (p.status !== 'failed' && p.status !== 'action_required' && !p.errorCode && !p.declineCode) return typeof p.needsAttention === 'string' && p.needsAttention ? p.needsAttention : null;
  return failureSentence(p.errorCode as string | null, p.declineCode as string | null, p.message as string | null);
}

export function paymentsPage(c: Chrome, f: PaymentFilters, rows: ReadonlyArray<{ p: Payment; links: PaymentLinks }>, nextCursor: string | null): string {
  const opt = (v: string, current: string | undefined, label: string) => html`<option value="${v}" ${v === (current ?? '') ? raw('selected') : ''}>${label}</option>`;
  return layout(
    c,
    html`<form class="filters" method="get" action="/admin/payments" role="search" aria-label="Filter payments">
  <label for="f-customer">Customer<input id="f-customer" name="customer" value="${f.customer ?? ''}"></label>
  <label for="f-status">Status<select id="f-status" name="status">${opt('', f.status, 'Any')}${PAYMENT_STATUSES.map((s) => opt(s, f.status, humanize(s)))}</select></label>
  <label for="f-provider">Provider<select id="f-provider" name="provider">${opt('', f.provider, 'Any')}${PROVIDERS.map((s) => opt(s, f.provider, humanize(s)))}</select></label>
  <label for="f-from">From<input id="f-from" name="from" type="date" value="${f.from ?? ''}"></label>
  <label for="f-to">To (inclusive)<input id="f-to" name="to" type="date" value="${f.to ?? ''}"></label>
  <button type="submit">Filter</button> <a href="/admin/payments">Clear</a>
</form>
${
  rows.length === 0
    ? html`<p>No payment attempts match.</p>`
    : html`<table><caption class="muted">Every payment attempt, newest first</caption>
<thead><tr><th scope="col">When</th><th scope="col">Customer</th><th scope="col">Paid for</th><th scope="col">Amount</th><th scope="col">Status</th><th scope="col">Failure</th><th scope="col">Links</th></tr></thead>
<tbody>${rows.map(
        ({ p, links }) => html`<tr data-attempt="${p.attemptId as string}">
<td><a href="/admin/payments/${p.attemptId as string}">${formatInstant(p.occurredAt)}</a></td>
<td>${(p.customerId as string | null) ?? '—'}</td><td>${paidFor(p)}</td>
<td class="num">${formatMoney(p.amount)}</td><td>${badge(p.status as string)}</td>
<td class="failure">${failureOf(p) ?? ''}</td><td>${paymentLinks(links)}</td></tr>`,
      )}</tbody></table>`
}
${nextCursor ? html`<p><a href="/admin/payments${filterQuery(f as Record<string, string | undefined>, nextCursor)}">Older attempts</a></p>` : ''}`,
  );
}

/** The live part of a payment's page. */
export function paymentLive(p: Payment, links: PaymentLinks, retry: Html | null): Html {
  return html`<dl class="facts">
<dt>Status</dt><dd>${badge(p.status as string)}</dd>
<dt>Amount</dt><dd>${formatMoney(p.amount)}${p.refunded && (p.refunded as { amount: number }).amount > 0 ? html` (refunded ${formatMoney(p.refunded)})` : ''}</dd>
<dt>Failure</dt><dd class="failure">${failureOf(p) ?? '—'}</dd>
${p.declineCode || p.errorCode ? html`<dt>Provider code</dt><dd><code>${(p.declineCode as string | null) ?? (p.errorCode as string)}</code>${p.message ? html` — ${p.message as string}` : ''}</dd>` : ''}
<dt>Card</dt><dd>${p.card ? `${humanize(p.card.brand as string)} ending ${p.card.last4 as string}` : '—'}</dd>
<dt>When</dt><dd>${formatInstant(p.occurredAt)}</dd>
<dt>Links</dt><dd>${paymentLinks(links)}</dd>
</dl>${retry ?? ''}`;
}

export function paymentPage(c: Chrome, p: Payment, live: Html): string {
  return layout(
    c,
    html`<p>Attempt <code>${p.attemptId as string}</code> for ${paidFor(p)} by ${(p.customerId as string | null) ?? 'an unknown customer'} through ${humanize(p.provider as string)}
${p.providerPaymentId ? html` (<code>${p.providerPaymentId as string}</code>)` : ''}.</p>
<section aria-label="Payment status" data-live="/admin/live/payments/${p.attemptId as string}">${live}</section>`,
  );
}

export function retryPaymentForm(csrf: string, invoiceId: string): Html {
  return html`<form method="post" action="/admin/invoices/${invoiceId}/payer-link">${csrfField(csrf)}
<p><button type="submit">Retry: send the customer a new payment link</button></p></form>`;
}

// ---------------------------------------------------------------- bookings

export const STAGE_ORDER = ['needs_attention', 'requested', 'inquiry', 'waitlisted', 'deposit_paid', 'balance_overdue', 'paid', 'in_crm', 'payment_associated', 'cancelled', 'refunded'] as const;

type CrmStages = Record<string, { attempts: number; lastError: string | null; failed: boolean }>;

/** The booking's CRM stages (a JSON column: `{}` when absent). */
function crmStages(b: Booking): CrmStages {
  const stages = b.crm.stages;
  return typeof stages === 'object' && stages !== null ? (stages as CrmStages) : {};
}

/** A text field of a JSON object from a read model ('' when absent or not text). */
function textOf(o: unknown, key: string): string {
  if (typeof o !== 'object' || o === null) return '';
  const v = (o as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : '';
}

const CRM_STAGE_ORDER = ['create_contact_booking', 'associate_payment'];

function crmTable(b: Booking): Html {
  const stages = crmStages(b);
  const done: Record<string, boolean> = { create_contact_booking: !!b.crm.bookingId, associate_payment: !!b.crm.paymentAssociated };
  // the known stages in pipeline order, then any others in their stored order
  const rank = (name: string) => (CRM_STAGE_ORDER.includes(name) ? CRM_STAGE_ORDER.indexOf(name) : CRM_STAGE_ORDER.length);
  const entries = Object.entries(stages).sort(([x], [y]) => rank(x) - rank(y));
  return html`<table><caption class="muted">CRM pipeline</caption><thead><tr><th scope="col">CRM stage</th><th scope="col">State</th><th scope="col">Failed attempts</th><th scope="col">Last error</th></tr></thead>
<tbody>${entries.map(([name, s]) => {
    const state = s.failed ? badge('failed') : done[name] ? badge('succeeded') : s.attempts > 0 ? badge('pending') : html`<span class="muted">Not started</span>`;
    return html`<tr data-crm-stage="${name}"><td>${humanize(name)}</td><td>${state}</td><td class="num">${s.attempts}</td><td>${s.lastError ?? ''}</td></tr>`;
  })}</tbody></table>`;
}

export function bookingCanRetry(b: Booking): boolean {
  const stages = crmStages(b);
  return Object.values(stages).some((s) => s.failed);
}

export function bookingRetryForm(csrf: string, bookingId: string): Html {
  return html`<form method="post" action="/admin/bookings/${bookingId}/crm-retry" data-enhance>${csrfField(csrf)}
<button type="submit">Retry from the failed stage</button></form>`;
}

/** The live part of a booking's page. */
export function bookingLive(b: Booking, csrf: string): Html {
  const attention = (Array.isArray(b.attention) ? (b.attention as unknown[]) : []).filter((a): a is string => typeof a === 'string');
  return html`<dl class="facts">
<dt>Stage</dt><dd class="stage" data-stage="${b.stage as string}">${badge(b.stage as string)}</dd>
<dt>Status</dt><dd>${humanize(b.status as string)}</dd>
<dt>Needs attention</dt><dd>${attention.length > 0 ? attention.map((a) => humanize(a)).join(', ') : 'No'}</dd>
<dt>Price</dt><dd>${formatMoney(b.price)}</dd>
<dt>CRM booking</dt><dd>${(b.crm as { bookingId: string | null }).bookingId ?? '—'}</dd>
<dt>Failed payment attempts</dt><dd>${typeof b.failedPaymentAttempts === 'number' ? b.failedPaymentAttempts : 0}</dd>
</dl>${crmTable(b)}${bookingCanRetry(b) ? bookingRetryForm(csrf, b.bookingId as string) : ''}`;
}

export function bookingsPage(c: Chrome, counts: Record<string, number>, stage: string | undefined, items: readonly Booking[], nextCursor: string | null): string {
  return layout(
    c,
    html`<nav aria-label="Pipeline stages"><ul class="pipeline">
<li><a href="/admin/bookings" ${!stage ? raw('aria-current="true"') : ''}>All (${Object.values(counts).reduce((a, b) => a + b, 0)})</a></li>
${STAGE_ORDER.map((s) => html`<li><a href="/admin/bookings?stage=${s}" ${stage === s ? raw('aria-current="true"') : ''}>${humanize(s)} (${counts[s] ?? 0})</a></li>`)}
</ul></nav>
${
  items.length === 0
    ? html`<p>No bookings${stage ? html` at stage ${humanize(stage)}` : ''}.</p>`
    : html`<table><caption class="muted">Bookings that need attention first, then the most recently changed</caption>
<thead><tr><th scope="col">Booking</th><th scope="col">Client</th><th scope="col">Departure</th><th scope="col">Price</th><th scope="col">Stage</th><th scope="col">Errors</th><th scope="col">Action</th></tr></thead>
<tbody>${items.map((b) => {
        const stages = crmStages(b);
        const errors = Object.entries(stages).filter(([, s]) => s.lastError).map(([n, s]) => `${humanize(n)}: ${s.lastError} (${s.attempts} attempt${s.attempts === 1 ? '' : 's'})`);
        const contact = b.contact;
        return html`<tr data-booking="${b.bookingId as string}"><td><a href="/admin/bookings/${b.bookingId as string}">${b.bookingId as string}</a></td>
<td>${contact ? `${textOf(contact, 'firstName')} ${textOf(contact, 'lastName')}` : '—'}</td><td>${(b.departureId as string | null) ?? '—'}</td>
<td class="num">${formatMoney(b.price)}</td><td>${badge(b.stage as string)}</td><td>${errors.join('; ')}</td>
<td>${bookingCanRetry(b) ? bookingRetryForm(c.csrfToken ?? '', b.bookingId as string) : ''}</td></tr>`;
      })}</tbody></table>`
}
${nextCursor ? html`<p><a href="/admin/bookings?${new URLSearchParams({ ...(stage ? { stage } : {}), cursor: nextCursor }).toString()}">More bookings</a></p>` : ''}`,
  );
}

export function bookingPage(c: Chrome, b: Booking, live: Html, payments: ReadonlyArray<{ p: Payment; links: PaymentLinks }>): string {
  const contact = b.contact;
  return layout(
    c,
    html`<p>${contact ? `${textOf(contact, 'firstName')} ${textOf(contact, 'lastName')} <${textOf(contact, 'email')}>` : ''} · departure ${(b.departureId as string | null) ?? '—'} · created ${formatInstant(b.createdAt)}</p>
<section aria-label="Booking status" data-live="/admin/live/bookings/${b.bookingId as string}">${live}</section>
<h2>Payment attempts</h2>${paymentRows(payments)}`,
  );
}

function paymentRows(payments: ReadonlyArray<{ p: Payment; links: PaymentLinks }>): Html {
  if (payments.length === 0) return html`<p>No payment attempts yet.</p>`;
  return html`<table><thead><tr><th scope="col">When</th><th scope="col">Amount</th><th scope="col">Status</th><th scope="col">Failure</th><th scope="col">Links</th></tr></thead><tbody>${payments.map(
    ({ p, links }) => html`<tr><td><a href="/admin/payments/${p.attemptId as string}">${formatInstant(p.occurredAt)}</a></td><td class="num">${formatMoney(p.amount)}</td><td>${badge(p.status as string)}</td><td>${failureOf(p) ?? ''}</td><td>${paymentLinks(links)}</td></tr>`,
  )}</tbody></table>`;
}

// ---------------------------------------------------------------- invoices

export interface TimelineEntry {
  type: unknown;
  recordedAt: string | null;
  actor: unknown;
  causationId: unknown;
  data: unknown;
}

function causedBy(e: TimelineEntry): Html {
  const actor = e.actor as { kind?: string; id?: string } | null;
  const cause = typeof e.causationId === 'string' ? e.causationId : '';
  const provider = /^(evt_|WH-|paypal-return:)/.test(cause) ? html`provider event <code>${cause}</code>` : html`command (request <code>${cause}</code>)`;
  return html`${provider}${actor?.kind ? html` by ${humanize(actor.kind)}${actor.id ? html` <code>${actor.id}</code>` : ''}` : ''}`;
}

function eventSummary(e: TimelineEntry): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  if (d.amount && typeof d.amount === 'object') parts.push(formatMoney(d.amount as { amount: number; currency: string }));
  if (d.total && typeof d.total === 'object') parts.push(`total ${formatMoney(d.total as { amount: number; currency: string })}`);
  const failure = failureSentence(d.errorCode as string | null, d.declineCode as string | null, d.message as string | null);
  if (failure && (d.errorCode || d.declineCode)) parts.push(failure);
  if (typeof d.reason === 'string') parts.push(`reason: ${d.reason}`);
  if (typeof d.provider === 'string') parts.push(`via ${humanize(d.provider)}`);
  return parts.join(' · ');
}

export function invoicesPage(c: Chrome, f: { customer?: string; status?: string }, items: readonly Invoice[], nextCursor: string | null): string {
  return layout(
    c,
    html`<form class="filters" method="get" action="/admin/invoices" role="search" aria-label="Filter invoices">
<label for="i-customer">Customer<input id="i-customer" name="customer" value="${f.customer ?? ''}"></label>
<label for="i-status">Status<select id="i-status" name="status">${['', 'draft', 'open', 'paid', 'void', 'refunded', 'uncollectible'].map((s) => html`<option value="${s}" ${s === (f.status ?? '') ? raw('selected') : ''}>${s ? humanize(s) : 'Any'}</option>`)}</select></label>
<button type="submit">Filter</button></form>
${
  items.length === 0
    ? html`<p>No invoices match.</p>`
    : html`<table><thead><tr><th scope="col">Invoice</th><th scope="col">Customer</th><th scope="col">Total</th><th scope="col">Paid</th><th scope="col">Status</th><th scope="col">Due</th><th scope="col">Created</th></tr></thead><tbody>${items.map(
        (i) => html`<tr><td><a href="/admin/invoices/${i.invoiceId as string}">${(i.number as string | null) ?? (i.invoiceId as string)}</a></td><td>${(i.customerId as string | null) ?? '—'}</td><td class="num">${formatMoney(i.total)}</td><td class="num">${formatMoney(i.amountPaid)}</td><td>${badge(i.status as string)}</td><td>${(i.dueDate as string | null) ?? '—'}</td><td>${formatInstant(i.createdAt)}</td></tr>`,
      )}</tbody></table>`
}
${nextCursor ? html`<p><a href="/admin/invoices?${new URLSearchParams({ ...(f.customer ? { customer: f.customer } : {}), ...(f.status ? { status: f.status } : {}), cursor: nextCursor }).toString()}">Older invoices</a></p>` : ''}`,
  );
}

function lineItems(i: Invoice): Html {
  const lines = (i.lineItems as Array<{ description: string; quantity: number; unitAmount: number }> | null) ?? [];
  return html`<table><caption class="muted">Line items</caption><thead><tr><th scope="col">Item</th><th scope="col">Quantity</th><th scope="col">Unit price</th></tr></thead><tbody>${lines.map(
    (l) => html`<tr><td>${l.description}</td><td class="num">${l.quantity}</td><td class="num">${formatMoney({ amount: l.unitAmount, currency: i.currency as string })}</td></tr>`,
  )}</tbody></table>`;
}

/** The live part of an invoice's page (console and payer page). */
/** The payer's view of a failure (payer page): generic for fraud and risk declines, see payerFailureSentence. */
export function payerFailureOf(p: Payment): string | null {
  if (p.status !== 'failed' && p.status !== 'action_required' && !p.errorCode && !p.declineCode) return null;
  return payerFailureSentence(p.errorCode as string | null, p.declineCode as string | null);
}

/** The invoice's status block; `audience: 'payer'` (the payer page) says failures generically. */
export function invoiceLive(i: Invoice, latest: Payment | null, audience: 'staff' | 'payer' = 'staff'): Html {
  const failure = latest ? (audience === 'payer' ? payerFailureOf(latest) : failureOf(latest)) : null;
  return html`<dl class="facts"><dt>Status</dt><dd class="invoice-status">${badge(i.status as string)}</dd>
<dt>Total</dt><dd>${formatMoney(i.total)}</dd><dt>Paid</dt><dd>${formatMoney(i.amountPaid)}</dd>
<dt>Latest payment</dt><dd class="latest-payment">${latest ? html`${badge(latest.status as string)} ${formatMoney(latest.amount)} ${failure ?? ''}` : 'None yet'}</dd></dl>`;
}

export function invoicePage(c: Chrome, i: Invoice, live: Html, timeline: readonly TimelineEntry[], payments: ReadonlyArray<{ p: Payment; links: PaymentLinks }>, payerLink: string | null, canLink: boolean): string {
  const customer = i.customer;
  return layout(
    c,
    html`<p>Invoice <code>${i.invoiceId as string}</code>${customer ? html` for ${textOf(customer, 'name')} (${textOf(customer, 'email')})` : ''}, due ${(i.dueDate as string | null) ?? '—'}.</p>
${lineItems(i)}
<section aria-label="Invoice status" data-live="/admin/live/invoices/${i.invoiceId as string}">${live}</section>
${payerLink ? html`<p class="notice">Payer link (valid until it expires): <a href="${safeUrl(payerLink)}" class="payer-link">${payerLink}</a></p>` : ''}
${canLink ? html`<form method="post" action="/admin/invoices/${i.invoiceId as string}/payer-link">${csrfField(c.csrfToken ?? '')}<button type="submit">Create a payer link</button></form>` : ''}
<h2>Payment attempts</h2>${paymentRows(payments)}
<h2 id="timeline">Timeline</h2>
<ol class="timeline" aria-labelledby="timeline">${timeline.map(
      (e) => html`<li><strong>${humanize(String(e.type).replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase())}</strong> <span class="muted">${formatInstant(e.recordedAt)}</span><br>
${eventSummary(e) ? html`${eventSummary(e)}<br>` : ''}<span class="muted">Caused by ${causedBy(e)}</span></li>`,
    )}</ol>`,
  );
}

// ---------------------------------------------------------------- subscriptions

/** An instant from a read-model column: a Date (timestamptz) or its text; null otherwise. */
function instantText(v: unknown): string | null {
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' ? v : null;
}

export function subscriptionsPage(c: Chrome, items: readonly Subscription[], nextCursor: string | null): string {
  const dunning = (s: Subscription) => (s.status === 'past_due' ? 'Retrying payment' : s.status === 'unpaid' || s.status === 'suspended' ? 'Retries exhausted' : 'None');
  return layout(
    c,
    items.length === 0
      ? html`<p>No subscriptions yet.</p>`
      : html`<table><thead><tr><th scope="col">Customer</th><th scope="col">Plan</th><th scope="col">Status</th><th scope="col">Access</th><th scope="col">Dunning</th><th scope="col">Next retry</th><th scope="col">Period ends</th></tr></thead><tbody>${items.map(
          (s) => html`<tr><td>${s.customerId as string}</td><td>${(s.planId as string | null) ?? '—'}${s.interval ? html` <span class="muted">(${s.interval as string})</span>` : ''}</td><td>${badge(s.status as string)}</td><td>${s.accessActive ? 'Yes' : 'No'}</td><td>${dunning(s)}</td><td>${formatInstant(instantText(s.nextPaymentAttempt))}</td><td>${formatInstant(instantText(s.currentPeriodEnd))}</td></tr>`,
        )}</tbody></table>
${nextCursor ? html`<p><a href="/admin/subscriptions?cursor=${nextCursor}">More</a></p>` : ''}`,
  );
}

// ---------------------------------------------------------------- system

export interface SystemView {
  projections: ReadonlyArray<{ name: string; generation: number; position: string | null; leader: boolean; lagSeconds: number; eventsBehind: number | null; halted: string | null; deadLetters: number; rebuilding: boolean }>;
  outbox: { backlog: number; oldestAgeSeconds: number; leader: boolean; lastError: string | null; stuck: boolean; stuckAfterSeconds: number };
  /** Held and parked keys per stage (`relay`, `consumer:<group>`). */
  stages: ReadonlyArray<{ stage: string; held: number; parked: number }>;
  kafka: ReadonlyArray<{ group: string; topic: string; lag: number }> | string;
  deadLetters: ReadonlyArray<{ projection: string; eventType: string; error: string; at: string | null }>;
  parked: ReadonlyArray<{ endpoint: string; eventId: string; type: string; reason: string | null; at: string | null }>;
  inbox: Record<string, number>;
  /** Message keys held by the outbox relay or a consumer group (parked ones first). */
  heldMessages: ReadonlyArray<{ key: string; stage: string; parked: boolean; messageId: string; topic: string; error: string | null; attempts: number; since: string; waiting: number }>;
  /** The latest reconciliation runs, newest first. */
  reconciliations: ReadonlyArray<{ runId: string; tenantId: string | null; dryRun: boolean; status: string; startedAt: string; examined: number; found: number; repaired: number; unrepairable: number; error: string | null }>;
}

/** What an operator does about a section of the System page (docs/operations.md has the whole runbook). */
function action(text: Html | string, anchor: string): Html {
  return html`<p class="notice operator-action" data-runbook="${anchor}"><strong>Operator action:</strong> ${text} <span class="muted">Runbook: docs/operations.md#${anchor}</span></p>`;
}

function projectionActions(csrf: string, p: SystemView['projections'][number]): Html {
  const button = (act: string, label: string) => html`<form method="post" action="/admin/system/projections/${p.name}/${act}">${csrfField(csrf)}<button type="submit" class="secondary">${label}</button></form>`;
  return html`${p.halted ? html`${button('resume', 'Resume')}${button('skip', 'Skip the event and resume')}` : ''}${p.rebuilding ? '' : button('rebuild', 'Rebuild')}`;
}

export function systemPage(c: Chrome, v: SystemView): string {
  const csrf = c.csrfToken ?? '';
  const parkedWebhooks = v.inbox.parked ?? 0;
  return layout(
    c,
    html`<nav aria-label="System sections"><ul class="pipeline">${[
      ['projections', 'Projections'],
      ['outbox', 'Outbox'],
      ['held-messages', 'Held messages'],
      ['consumer-lag', 'Consumer lag'],
      ['dead-letters', 'Dead letters'],
      ['webhooks', 'Webhooks'],
      ['reconciliation', 'Reconciliation runs'],
    ].map(([id, label]) => html`<li><a href="#${id}">${label}</a></li>`)}</ul></nav>
<h2 id="projections">Projections</h2><table><thead><tr><th scope="col">Projection</th><th scope="col">Generation</th><th scope="col">Position</th><th scope="col">Leader here</th><th scope="col">Lag (s)</th><th scope="col">Events behind</th><th scope="col">Dead letters</th><th scope="col">State</th><th scope="col">Action</th></tr></thead><tbody>${v.projections.map(
      (p) => html`<tr data-projection="${p.name}"><td>${p.name}</td><td class="num">${p.generation}</td><td><code>${p.position ?? '—'}</code></td><td>${p.leader ? 'Yes' : 'No'}</td><td class="num">${p.lagSeconds.toFixed(1)}</td><td class="num">${p.eventsBehind ?? '—'}</td><td class="num">${p.deadLetters}</td><td>${p.halted ? html`<span class="badge failed">Halted</span> ${p.halted}` : p.rebuilding ? 'Rebuilding' : 'Running'}</td><td>${projectionActions(csrf, p)}</td></tr>`,
    )}</tbody></table>
${action('a lag that keeps growing: resume a halted projection here, or find the long write transaction holding every reader back (pg_stat_activity). Alerts: SettleProjectionLagging, SettleProjectionHalted.', 'projection-lag')}
<h2 id="outbox">Outbox</h2><dl class="facts"><dt>Backlog</dt><dd data-outbox="backlog">${v.outbox.backlog} message(s)</dd><dt>Oldest waiting</dt><dd>${v.outbox.oldestAgeSeconds.toFixed(1)} s</dd><dt>Relay</dt><dd data-outbox="stuck">${v.outbox.stuck ? html`<span class="badge failed">Stuck</span> the oldest due message has not moved for ${v.outbox.stuckAfterSeconds} s` : 'Moving'}</dd><dt>Relay leader here</dt><dd>${v.outbox.leader ? 'Yes' : 'No'}</dd><dt>Last error</dt><dd>${v.outbox.lastError ?? 'None'}</dd></dl>
<table><caption class="muted">Message keys held per stage: retrying, or parked after their attempts</caption><thead><tr><th scope="col">Stage</th><th scope="col">Held keys</th><th scope="col">Parked keys</th></tr></thead><tbody>${v.stages.map((s) => html`<tr data-stage="${s.stage}"><td>${s.stage}</td><td class="num">${s.held}</td><td class="num">${s.parked}</td></tr>`)}</tbody></table>
${action('a stuck relay or an old backlog: check the bus (/readyz messaging) and the last error above; a parked key: Retry now or Skip message below. Alerts: SettleOutboxRelayStuck, SettleOutboxBacklogOld, SettleMessageKeyParked.', 'outbox-backlog-or-parked-key')}
<h2 id="held-messages">Held messages</h2>${
      v.heldMessages.length === 0
        ? html`<p>None: every message key flows.</p>`
        : html`<table><caption class="muted">Keys whose head message could not be published or handled; their later messages wait behind it, other keys flow. Parked keys need an operator.</caption><thead><tr><th scope="col">Key</th><th scope="col">Stage</th><th scope="col">State</th><th scope="col">Message</th><th scope="col">Topic</th><th scope="col">Error</th><th scope="col">Attempts</th><th scope="col">Since</th><th scope="col">Waiting</th><th scope="col">Action</th></tr></thead><tbody>${v.heldMessages.map(
            (h) =>
              html`<tr><td><code>${h.key}</code></td><td>${h.stage}</td><td>${h.parked ? html`<span class="badge failed">Parked</span>` : 'Retrying'}</td><td><code>${h.messageId}</code></td><td>${h.topic}</td><td>${h.error ?? ''}</td><td class="num">${h.attempts}</td><td>${formatInstant(h.since)}</td><td class="num">${h.waiting}</td><td><form method="post" action="/admin/system/messages/release">${csrfField(csrf)}<input type="hidden" name="key" value="${h.key}"><input type="hidden" name="stage" value="${h.stage}"><button type="submit" class="secondary">Retry now</button></form><form method="post" action="/admin/system/messages/skip">${csrfField(csrf)}<input type="hidden" name="key" value="${h.key}"><input type="hidden" name="stage" value="${h.stage}"><label>Reason <input name="reason" required maxlength="1000"></label><button type="submit" class="secondary">Skip message</button></form></td></tr>`,
          )}</tbody></table>`
    }
<h2 id="consumer-lag">Kafka consumer lag</h2>${
      typeof v.kafka === 'string'
        ? html`<p>${v.kafka}</p>`
        : html`<table><thead><tr><th scope="col">Group</th><th scope="col">Topic</th><th scope="col">Lag (messages)</th></tr></thead><tbody>${v.kafka.map((k) => html`<tr><td>${k.group}</td><td>${k.topic}</td><td class="num">${k.lag}</td></tr>`)}</tbody></table>`
    }
${action('a growing lag: check that the consumer instances run and the CRM answers (crm-sync waits on it); a parked key is not lag (Held messages). Alert: SettleConsumerLagging.', 'consumer-lag')}
<h2 id="dead-letters">Dead letters</h2>${
      v.deadLetters.length === 0
        ? html`<p>None.</p>`
        : html`<table><thead><tr><th scope="col">Projection</th><th scope="col">Event</th><th scope="col">Error</th><th scope="col">When</th></tr></thead><tbody>${v.deadLetters.map((d) => html`<tr><td>${d.projection}</td><td>${d.eventType}</td><td>${d.error}</td><td>${formatInstant(d.at)}</td></tr>`)}</tbody></table>`
    }
${action('fix the cause (usually a release), then Rebuild the projection (Projections above) so the skipped events are applied. Alerts: SettleProjectionDeadLetters, SettleFinanceMessagesRejected.', 'dead-lettered-event')}
<h2 id="webhooks">Webhooks</h2><table><caption class="muted">Webhook inbox by status</caption><thead><tr><th scope="col">Status</th><th scope="col">Webhooks</th></tr></thead><tbody>${Object.entries(v.inbox).map(([k, n]) => html`<tr data-inbox="${k}"><td>${humanize(k)}</td><td class="num">${n}</td></tr>`)}</tbody></table>${
      v.parked.length === 0
        ? html`<p>No parked webhooks.</p>`
        : html`<table><caption class="muted">Parked webhooks (waiting for their target; retried automatically)</caption><thead><tr><th scope="col">Endpoint</th><th scope="col">Event</th><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Received</th></tr></thead><tbody>${v.parked.map((p) => html`<tr><td>${p.endpoint}</td><td><code>${p.eventId}</code></td><td>${p.type}</td><td>${p.reason ?? ''}</td><td>${formatInstant(p.at)}</td></tr>`)}</tbody></table>`
    }
${action(html`${parkedWebhooks > 0 ? `${parkedWebhooks} parked: ` : ''}read each reason; link the tenant's Stripe account or create the missing object, and the retrier applies them. Ignored webhooks are event types Settle does not act on: nothing to do. Alerts: SettleWebhooksParkedGrowing, SettleWebhookSignatureFailures.`, 'parked-webhook')}
<h2 id="reconciliation">Reconciliation runs</h2>${
      v.reconciliations.length === 0
        ? html`<p>No runs yet.</p>`
        : html`<table><thead><tr><th scope="col">Run</th><th scope="col">Tenant</th><th scope="col">Started</th><th scope="col">Status</th><th scope="col">Examined</th><th scope="col">Differences</th><th scope="col">Repaired</th><th scope="col">Unrepairable</th><th scope="col">Error</th></tr></thead><tbody>${v.reconciliations.map(
            (r) => html`<tr data-run="${r.runId}"><td><code>${r.runId}</code>${r.dryRun ? ' (dry run)' : ''}</td><td>${r.tenantId ?? 'All'}</td><td>${formatInstant(r.startedAt)}</td><td>${badge(r.status)}</td><td class="num">${r.examined}</td><td class="num">${r.found}</td><td class="num">${r.repaired}</td><td class="num">${r.unrepairable}</td><td>${r.error ?? ''}</td></tr>`,
          )}</tbody></table>`
    }
${action('unrepairable differences: read them (GET /v1/admin/reconciliations/{id}) and attribute or refund the money by hand; a failed run: read its error and start it again (POST /v1/admin/reconciliations). Alerts: SettleReconciliationDifferences, SettleReconciliationRunFailed.', 'reconciliation-differences')}`,
  );
}

// ---------------------------------------------------------------- payer page

export function payerPage(i: Invoice, live: Html, liveUrl: string, pay: { methods: string[]; action: string } | null, notice?: string): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Invoice ${(i.number as string | null) ?? (i.invoiceId as string)}</title><link rel="stylesheet" href="/assets/console.css"></head>
<body><main id="main"><h1>Invoice ${(i.number as string | null) ?? (i.invoiceId as string)}</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
${lineItems(i)}
<section aria-label="Payment status" aria-live="polite" data-live="${liveUrl}">${live}</section>
${
  pay && i.status === 'open'
    ? html`${pay.methods.map((m) => html`<form method="post" action="${pay.action}"><input type="hidden" name="method" value="${m}"><button type="submit">Pay with ${m === 'paypal' ? 'PayPal' : 'card'}</button></form>`)}`
    : ''
}
</main><script src="/assets/console.js" defer></script></body></html>`.value;
}
