/**
 * The admin console (`/admin`): a thin edge over the same read-model queries (projections/queries.ts)
 * and command handlers (commands/) as the JSON API. Server-rendered; every action is a POST with
 * the session's CSRF token; tenant staff see only their tenant (another tenant's ids are 404).
 *
 * Sessions (infrastructure/sql/consoleSessions.ts): sign-in with the admin key or a tenant API key
 * opens a server-side session; the cookie is HttpOnly, SameSite=Strict, Secure behind TLS. The
 * sign-in form itself carries a pre-session CSRF token (double-submit cookie) and is rate-limited.
 */
import { createHash } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { CommandContext } from '../../commands/handle';
import { DomainRefusal } from '../../domain/shared/decider';
import { InvalidCursor } from '../../projections/queries';
import type { AppServices } from '../app';
import type { ConsoleSession } from '../../domain/ports/consoleSessions';
import { constantTimeEqual } from '../../domain/shared/constantTime';
import { isCalendarDate } from '../routes/schemas';
import type { LiveAccess, LiveStatusHub } from '../live';
import { payerLinkUrl } from '../payerLinks';
import { Problem } from '../problem';
import { byIp, rateLimit } from '../rateLimit';
import { retryMakesSense } from './declines';
import { html } from './html';
import { dashboardUrl, stripeConnectedAccountUrl } from './providerLinks';
import { docsUrl } from '../../projections/payments/paymentHistory';
import * as pages from './pages';
import { randomBytes } from 'node:crypto';
import { CONSOLE_CSS, CONSOLE_JS } from './assets';

const ID = /^[A-Za-z0-9_-]{1,100}$/;
const PAGE_SIZE = 50;

/** Content-Security-Policy of console pages: own script and styles, EventSource to self, forms to self. */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    try {
      out[k] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      /* a malformed cookie is ignored */
    }
  }
  return out;
}

/**
 * Console cookies. Over TLS (req.secure: directly, or X-Forwarded-Proto from a TRUST_PROXY peer)
 * they carry the `__Host-` prefix, so the browser only accepts them Secure, Path=/ and without a
 * Domain (no sibling subdomain or plain-http page can plant or shadow one), and only the prefixed
 * name is read. Over plain HTTP (local dev on localhost) a browser refuses `__Host-` cookies: the
 * plain name is used, scoped to its console path. Clearing repeats every attribute of the set.
 */
export interface CookieSpec {
  readonly name: string;
  /** Path over plain HTTP; `__Host-` cookies are always Path=/. */
  readonly path: string;
}
export const SESSION_COOKIE: CookieSpec = { name: 'settle_console', path: '/admin' };
export const SIGNIN_CSRF_COOKIE: CookieSpec = { name: 'settle_console_signin', path: '/admin/sign-in' };

export function cookieName(req: Request, spec: CookieSpec): string {
  return req.secure ? `__Host-${spec.name}` : spec.name;
}

export function setCookie(req: Request, spec: CookieSpec, value: string, maxAgeSeconds: number): string {
  const attrs = req.secure ? '; Path=/; HttpOnly; SameSite=Strict; Secure' : `; Path=${spec.path}; HttpOnly; SameSite=Strict`;
  return `${cookieName(req, spec)}=${encodeURIComponent(value)}${attrs}; Max-Age=${maxAgeSeconds}`;
}

export function clearCookie(req: Request, spec: CookieSpec): string {
  return setCookie(req, spec, '', 0);
}

export function readCookie(req: Request, spec: CookieSpec): string | undefined {
  return parseCookies(req.headers.cookie)[cookieName(req, spec)];
}

function sameToken(a: unknown, b: string): boolean {
  return typeof a === 'string' && constantTimeEqual(a, b);
}

interface Locals {
  session: ConsoleSession;
  token: string;
}

const wantsJson = (req: Request) => req.accepts(['html', 'json']) === 'json';

/** What the console uses of the application's services. */
export type ConsoleServices = Pick<AppServices, 'config' | 'clock' | 'db' | 'metrics' | 'tenants' | 'connectedAccounts' | 'commands' | 'readModels' | 'consoleSessions' | 'payerLinkSecret' | 'projections' | 'eventsBehind' | 'heldKeys' | 'outbox' | 'inbox' | 'consumerLag' | 'keyStages' | 'reconciliation'>;

export interface ConsoleDeps {
  readonly rt: ConsoleServices;
  readonly hub: LiveStatusHub;
}

export function consoleRoutes({ rt, hub }: ConsoleDeps): Router {
  const r = Router();
  const sessions = rt.consoleSessions;
  const models = rt.readModels;
  const bookings = rt.commands.bookings;
  const adminKey = () => rt.config.ADMIN_API_KEY;
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 });
  const signInLimit = rateLimit({ name: 'console-sign-in', capacity: rt.config.RATE_LIMIT_PUBLIC_BURST, refillPerSecond: rt.config.RATE_LIMIT_PUBLIC_PER_SECOND, key: byIp });

  r.get('/assets/console.css', (_req, res) => {
    res.type('text/css').setHeader('Cache-Control', 'public, max-age=300').send(CONSOLE_CSS);
  });
  r.get('/assets/console.js', (_req, res) => {
    res.type('text/javascript').setHeader('Cache-Control', 'public, max-age=300').send(CONSOLE_JS);
  });
  r.use('/admin', (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  // ------------------------------------------------------------------ sign-in / out
  const nextOf = (v: unknown) => (typeof v === 'string' && /^\/admin(\/[A-Za-z0-9_\-/?=&.%]*)?$/.test(v) && !v.startsWith('//') ? v : '/admin/overview');

  r.get('/admin/sign-in', (req, res) => {
    const csrf = randomBytes(24).toString('base64url');
    res.setHeader('Set-Cookie', setCookie(req, SIGNIN_CSRF_COOKIE, csrf, 3600));
    res.type('html').send(pages.signInPage({ csrfToken: csrf, next: nextOf(req.query.next) }));
  });

  r.post('/admin/sign-in', signInLimit, form, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const expected = readCookie(req, SIGNIN_CSRF_COOKIE);
    if (!expected || !sameToken(body._csrf, expected)) throw new Problem(403, 'csrf-failed', 'Forbidden', 'The sign-in form is stale or was not sent by this site; reload it.');
    const key = typeof body.key === 'string' ? body.key.trim() : '';
    const admin = adminKey();
    let opened: { token: string; session: ConsoleSession } | null = null;
    if (key && admin && constantTimeEqual(key, admin)) {
      opened = await sessions.open({ kind: 'admin', tenantId: null }, admin);
    } else if (key) {
      const found = await rt.tenants.authenticate(key);
      if (found) opened = await sessions.open({ kind: 'tenant', tenantId: found.tenantId, keyId: found.keyId });
    }
    if (!opened) {
      rt.metrics.consoleSignIns.inc({ outcome: 'refused' });
      res.status(401).type('html').send(pages.signInPage({ csrfToken: expected, next: nextOf(body.next), error: 'That key is unknown or revoked.' }));
      return;
    }
    rt.metrics.consoleSignIns.inc({ outcome: opened.session.principal.kind });
    res.setHeader('Set-Cookie', [setCookie(req, SESSION_COOKIE, opened.token, rt.config.CONSOLE_SESSION_TTL_SECONDS), clearCookie(req, SIGNIN_CSRF_COOKIE)]);
    // the overview is the first page (an admin's shows every tenant, with a tenant picker)
    res.redirect(303, nextOf(body.next));
  });

  // ------------------------------------------------------------------ session, CSRF, tenant
  const authed = async (req: Request, res: Response, next: NextFunction) => {
    const token = readCookie(req, SESSION_COOKIE);
    const session = token ? await sessions.find(token, adminKey()) : null;
    if (!session || !token) {
      if (req.method === 'GET' && !req.path.startsWith('/admin/live/')) {
        res.redirect(303, `/admin/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
        return;
      }
      throw new Problem(401, 'unauthorized', 'Unauthorized', 'Sign in to the console first (the session is missing, expired or its key was revoked).');
    }
    res.locals.console = { session, token } satisfies Locals;
    if (req.method === 'POST') {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!sameToken(body._csrf, session.csrfToken)) throw new Problem(403, 'csrf-failed', 'Forbidden', 'The form is missing its CSRF token or it does not match this session.');
    }
    next();
  };
  const L = (res: Response) => res.locals.console as Locals;
  const tenantOf = (res: Response): string | null => L(res).session.principal.tenantId;
  const chrome = (res: Response, title: string, section?: pages.Section, flash?: pages.Chrome['flash']): pages.Chrome => {
    const p = L(res).session.principal;
    return { title, section, csrfToken: L(res).session.csrfToken, who: { label: p.kind === 'admin' ? 'Admin' : 'Tenant staff', tenantId: p.tenantId, admin: p.kind === 'admin' }, flash };
  };
  /** The tenant the page acts for; an admin without one picks one first. */
  const needTenant = (req: Request, res: Response): string | null => {
    const t = tenantOf(res);
    if (!t) res.redirect(303, '/admin/tenants');
    return t;
  };
  const notFound = (what: string) => new Problem(404, 'not-found', 'Not Found', `No ${what} here`);

  r.post('/admin/sign-out', form, authed, async (req, res) => {
    await sessions.close(L(res).token);
    res.setHeader('Set-Cookie', clearCookie(req, SESSION_COOKIE));
    res.redirect(303, '/admin/sign-in');
  });

  r.get('/admin', authed, (_req, res) => res.redirect(303, '/admin/overview'));

  // ------------------------------------------------------------------ overview
  r.get('/admin/overview', authed, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const range = Number(choice('range', q.range, pages.OVERVIEW_RANGES.map(String)) ?? '30');
    const p = L(res).session.principal;
    const asked = q.tenant;
    if (asked !== undefined && (typeof asked !== 'string' || (asked !== '' && !ID.test(asked)))) throw new Problem(422, 'validation-error', 'Validation Failed', 'tenant must be a tenant id', [{ path: 'query.tenant', message: 'invalid value' }]);
    let tenantId: string | null = p.tenantId;
    let tenants: Array<{ tenantId: string; name: string }> | null = null;
    if (p.kind === 'admin') {
      const { rows } = await rt.db.query<{ tenant_id: string; name: string }>('SELECT tenant_id, name FROM tenants ORDER BY tenant_id LIMIT 1000');
      tenants = rows.map((t) => ({ tenantId: t.tenant_id, name: t.name }));
      if (asked !== undefined) tenantId = asked === '' ? null : asked;
      if (tenantId !== null && !tenants.some((t) => t.tenantId === tenantId)) throw new Problem(404, 'tenant-not-found', 'Not Found', 'No such tenant');
    } else if (asked !== undefined && asked !== tenantId) throw notFound('tenant');
    const to = new Date().toISOString().slice(0, 10);
    const from = new Date(Date.parse(`${to}T00:00:00Z`) - (range - 1) * 86_400_000).toISOString().slice(0, 10);
    const data = await models.overview(tenantId, from, to);
    // items open in the session's tenant; an admin looking at another one acts as it first
    res.type('html').send(pages.overviewPage(chrome(res, 'Overview', 'overview'), { data, range, tenantId, tenants, linkable: tenantId !== null && tenantId === p.tenantId }));
  });

  r.get('/admin/tenants', authed, async (_req, res) => {
    if (L(res).session.principal.kind !== 'admin') {
      res.redirect(303, '/admin/overview');
      return;
    }
    const { rows } = await rt.db.query<{ tenant_id: string; name: string }>('SELECT tenant_id, name FROM tenants ORDER BY tenant_id LIMIT 1000');
    res.type('html').send(pages.tenantPickerPage(chrome(res, 'Tenants'), rows.map((t) => ({ tenantId: t.tenant_id, name: t.name }))));
  });

  r.post('/admin/tenants', form, authed, async (req, res) => {
    if (L(res).session.principal.kind !== 'admin') throw new Problem(403, 'forbidden', 'Forbidden', 'Only the admin key can switch tenants');
    const submitted = (req.body as Record<string, unknown>).tenantId; // a form field: text, or anything a client sends
    const tenantId = typeof submitted === 'string' ? submitted : '';
    if (!ID.test(tenantId) || !(await rt.tenants.getTenant(tenantId))) throw new Problem(404, 'tenant-not-found', 'Not Found', 'No such tenant');
    await sessions.actAs(L(res).token, tenantId);
    res.redirect(303, '/admin/overview');
  });

  // ------------------------------------------------------------------ payments
  const linkOptions = async (tenantId: string) => ({
    stripeLivemode: rt.config.stripeLivemode,
    paypalSandbox: rt.config.PAYPAL_API_BASE.includes('sandbox') || !rt.config.PAYPAL_API_BASE.startsWith('https://api-m.paypal.com'),
    account: await rt.connectedAccounts.accountFor(tenantId),
  });
  type LinkOpts = Awaited<ReturnType<typeof linkOptions>>;
  const linksOf = (p: pages.Payment, o: LinkOpts): pages.PaymentLinks => {
    const payable = p.payable as { type: string };
    // invoices paid through Stripe are direct charges on the tenant's connected account (see providerLinks.ts)
    const connect = p.provider === 'stripe' && payable.type === 'invoice' && !(typeof p.providerPaymentId === 'string' && p.providerPaymentId.startsWith('in_')) ? o.account : null;
    return {
      dashboard: dashboardUrl({ provider: p.provider as string | null, providerPaymentId: p.providerPaymentId as string | null, providerChargeId: p.providerChargeId as string | null }, { stripeLivemode: o.stripeLivemode, paypalSandbox: o.paypalSandbox, connectedAccount: connect }),
      account: connect ? stripeConnectedAccountUrl(connect, o.stripeLivemode) : null,
      receipt: (p.receiptUrl as string | null) ?? null,
      docs: (p.docsUrl as string | null) ?? docsUrl(p.provider as string | null, p.errorCode as string | null, p.declineCode as string | null),
    };
  };

  function dateFilter(name: string, v: unknown): string | undefined {
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !isCalendarDate(v)) throw new Problem(422, 'validation-error', 'Validation Failed', `${name} must be a date (YYYY-MM-DD)`, [{ path: `query.${name}`, message: 'invalid date' }]);
    return v;
  }
  function choice(name: string, v: unknown, allowed: readonly string[]): string | undefined {
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !allowed.includes(v)) throw new Problem(422, 'validation-error', 'Validation Failed', `${name} must be one of ${allowed.join(', ')}`, [{ path: `query.${name}`, message: 'invalid value' }]);
    return v;
  }
  function text(name: string, v: unknown): string | undefined {
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || v.length > 200) throw new Problem(422, 'validation-error', 'Validation Failed', `${name} must be text up to 200 characters`, [{ path: `query.${name}`, message: 'invalid value' }]);
    return v.trim() || undefined;
  }
  const cursorOf = (v: unknown) => (typeof v === 'string' && v.length <= 400 ? v : undefined);
  const page = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof InvalidCursor) throw new Problem(422, 'validation-error', 'Validation Failed', err.message, [{ path: 'query.cursor', message: 'invalid cursor' }]);
      throw err;
    }
  };

  r.get('/admin/payments', authed, async (req, res) => {
    const tenantId = needTenant(req, res);
    if (!tenantId) return;
    const q = req.query as Record<string, unknown>;
    const f: pages.PaymentFilters = {
      customer: text('customer', q.customer),
      status: choice('status', q.status, pages.PAYMENT_STATUSES),
      provider: choice('provider', q.provider, pages.PROVIDERS),
      from: dateFilter('from', q.from),
      to: dateFilter('to', q.to),
    };
    const to = f.to ? new Date(Date.parse(`${f.to}T00:00:00Z`) + 86_400_000).toISOString() : undefined;
    const list = await page(() =>
      models.payments(tenantId, { customerId: f.customer, status: f.status, provider: f.provider, from: f.from ? `${f.from}T00:00:00Z` : undefined, to, limit: PAGE_SIZE, cursor: cursorOf(q.cursor) }),
    );
    const o = await linkOptions(tenantId);
    res.type('html').send(pages.paymentsPage(chrome(res, 'Payments', 'payments'), f, list.items.map((p) => ({ p, links: linksOf(p, o) })), list.nextCursor));
  });

  /** Retry of a payment: for an invoice still open, a new payer link the customer can pay with. */
  async function paymentRetry(tenantId: string, p: pages.Payment): Promise<boolean> {
    const payable = p.payable as { type: string; id: string };
    if (payable.type !== 'invoice' || (p.status !== 'failed' && p.status !== 'action_required') || !retryMakesSense(p.declineCode as string | null) || !rt.payerLinkSecret) return false;
    const inv = await models.invoice(tenantId, payable.id);
    return inv?.status === 'open';
  }
  /** What a payment page shows, the same for every session (live streams share it). */
  async function paymentData(tenantId: string, attemptId: string) {
    const p = await models.payment(tenantId, attemptId);
    if (!p) return null;
    return { p, links: linksOf(p, await linkOptions(tenantId)), retry: await paymentRetry(tenantId, p) };
  }
  const paymentFragment = (d: NonNullable<Awaited<ReturnType<typeof paymentData>>>, csrf: string) =>
    pages.paymentLive(d.p, d.links, d.retry ? pages.retryPaymentForm(csrf, (d.p.payable as { id: string }).id) : null);
  async function paymentView(tenantId: string, attemptId: string, csrf: string) {
    const d = await paymentData(tenantId, attemptId);
    return d ? { p: d.p, fragment: paymentFragment(d, csrf) } : null;
  }
  /** A live stream lasts as long as its console session (sign-out, expiry, a revoked key end it). */
  const sessionAccess = (token: string): LiveAccess => ({
    principal: `session:${createHash('sha256').update(token).digest('base64url').slice(0, 22)}`,
    stillAllowed: async () => (await sessions.find(token, adminKey())) !== null,
  });

  r.get('/admin/payments/:attemptId', authed, async (req, res) => {
    const tenantId = needTenant(req, res);
    if (!tenantId) return;
    const v = await paymentView(tenantId, String(req.params.attemptId), L(res).session.csrfToken);
    if (!v) throw notFound('payment attempt');
    res.type('html').send(pages.paymentPage(chrome(res, 'Payment attempt', 'payments'), v.p, v.fragment));
  });

  // ------------------------------------------------------------------ bookings
  r.get('/admin/bookings', authed, async (req, res) => {
    const tenantId = needTenant(req, res);
    if (!tenantId) return;
    const q = req.query as Record<string, unknown>;
    const stage = choice('stage', q.stage, pages.STAGE_ORDER);
    const [counts, list] = await Promise.all([models.bookingStageCounts(tenantId), page(() => models.bookings(tenantId, { stage, limit: PAGE_SIZE, cursor: cursorOf(q.cursor) }))]);
    res.type('html').send(pages.bookingsPage(chrome(res, 'Bookings', 'bookings'), counts, stage, list.items, list.nextCursor));
  });

  async function bookingPayments(tenantId: string, payableType: string, id: string) {
    const list = await models.payments(tenantId, { payableType, payableId: id, limit: 100 });
    const o = await linkOptions(tenantId);
    return list.items.map((p) => ({ p, links: linksOf(p, o) }));
  }

  r.get('/admin/bookings/:bookingId', authed, async (req, res) => {
    const tenantId = needTenant(req, res);
    if (!tenantId) return;
    const id = String(req.params.bookingId);
    const b = ID.test(id) ? await models.booking(tenantId, id) : null;
    if (!b) throw notFound('booking');
    const payments = await bookingPayments(tenantId, 'booking', id);
    res.type('html').send(pages.bookingPage(chrome(res, `Booking ${id}`, 'bookings'), b, pages.bookingLive(b, L(res).session.csrfToken), payments));
  });

  /** The same command as POST /v1/bookings/{id}/crm-retry (RetryCrmStage); the saga resumes from the failed stage. */
  r.post('/admin/bookings/:bookingId/crm-retry', form, authed, async (req, res) => {
    const tenantId = tenantOf(res);
    if (!tenantId) throw new Problem(400, 'tenant-required', 'Tenant Required', 'Choose a tenant first');
    const id = String(req.params.bookingId);
    if (!ID.test(id) || !(await models.booking(tenantId, id))) throw notFound('booking');
    const s = L(res).session;
    const ctx: CommandContext = {
      tenantId,
      correlationId: String(res.locals.correlationId),
      causationId: String(res.locals.requestId),
      actor: s.principal.kind === 'admin' ? { kind: 'admin', id: 'admin' } : { kind: 'api_key', id: s.principal.keyId },
      now: rt.clock.now(),
    };
    let message: string;
    let ok = true;
    try {
      const done = await bookings.retryCrmStage(id, s.principal.kind === 'admin' ? 'console:admin' : `console:${s.principal.keyId}`, ctx);
      message = `Retry requested: the CRM pipeline resumes from the failed stage (position ${done.position ? `${done.position.commit}/${done.position.prepare}` : 'unchanged'}).`;
    } catch (err) {
      if (!(err instanceof DomainRefusal)) throw err;
      ok = false;
      message = `Not retried: ${err.message}.`;
    }
    if (wantsJson(req)) {
      res.status(ok ? 202 : 409).json({ ok, message });
      return;
    }
    res.redirect(303, `/admin/bookings/${encodeURIComponent(id)}?${ok ? 'retried=1' : 'refused=1'}`);
  });

  // ------------------------------------------------------------------ invoices
  r.get('/admin/invoices', authed, async (req, res) => {
    const tenantId = needTenant(req, res);
    if (!tenantId) return;
    const q = req.query as Record<string, unknown>;
    const f = { customer: text('customer', q.customer), status: choice('status', q.status, ['draft', 'open', 'paid', 'void', 'refunded', 'uncollectible']) };
    const list = await page(() => models.invoices(tenantId, { customerId: f.customer, status: f.status, limit: PAGE_SIZE, cursor: cursorOf(q.cursor) }));
    res.type('html').send(pages.invoicesPage(chrome(res, 'Invoices', 'invoices'), f, list.items, list.nextCursor));
  });

  async function invoiceLiveView(tenantId: string, invoiceId: string) {
    const inv = await models.invoice(tenantId, invoiceId);
    if (!inv) return null;
    const latest = (await models.payments(tenantId, { payableType: 'invoice', payableId: invoiceId, limit: 1 })).items[0] ?? null;
    return { inv, latest, fragment: pages.invoiceLive(inv, latest) };
  }

  const payerLinkFor = (tenantId: string, invoiceId: string) =>
    rt.payerLinkSecret ? payerLinkUrl(rt.config.PUBLIC_BASE_URL, rt.payerLinkSecret, tenantId, invoiceId, rt.config.PAYER_LINK_TTL_SECONDS).url : null;

  async function renderInvoice(req: Request, res: Response, tenantId: string, invoiceId: string, payerLink: string | null, status = 200) {
    const v = ID.test(invoiceId) ? await invoiceLiveView(tenantId, invoiceId) : null;
    if (!v) throw notFound('invoice');
    const [history, payments] = await Promise.all([models.invoiceHistory(tenantId, invoiceId), bookingPayments(tenantId, 'invoice', invoiceId)]);
    const flash = payerLink ? { kind: 'notice' as const, text: 'Payer link created.' } : null;
    res
      .status(status)
      .type('html')
      .send(pages.invoicePage(chrome(res, `Invoice ${(v.inv.number as string | null) ?? invoiceId}`, 'invoices', flash), v.inv, v.fragment, history, payments, payerLink, v.inv.status === 'open' && rt.payerLinkSecret !== null));
  }

  r.get('/admin/invoices/:invoiceId', authed, async (req, res) => {
    const tenantId = needTenant(req, res);
    if (!tenantId) return;
    await renderInvoice(req, res, tenantId, String(req.params.invoiceId), null);
  });

  r.post('/admin/invoices/:invoiceId/payer-link', form, authed, async (req, res) => {
    const tenantId = tenantOf(res);
    if (!tenantId) throw new Problem(400, 'tenant-required', 'Tenant Required', 'Choose a tenant first');
    const invoiceId = String(req.params.invoiceId);
    const inv = ID.test(invoiceId) ? await models.invoice(tenantId, invoiceId) : null;
    if (!inv) throw notFound('invoice');
    if (inv.status !== 'open') throw new Problem(409, 'invoice-not-open', 'Conflict', `The invoice is ${String(inv.status)}; only open invoices can be paid`);
    const link = payerLinkFor(tenantId, invoiceId);
    if (!link) throw new Problem(503, 'payer-links-unavailable', 'Service Unavailable', 'Payer links need PAYER_LINK_SECRET');
    if (wantsJson(req)) {
      res.status(201).json({ url: link, message: 'Payer link created.' });
      return;
    }
    await renderInvoice(req, res, tenantId, invoiceId, link, 201);
  });

  // ------------------------------------------------------------------ subscriptions, system
  r.get('/admin/subscriptions', authed, async (req, res) => {
    const tenantId = needTenant(req, res);
    if (!tenantId) return;
    const q = req.query as Record<string, unknown>;
    const customer = text('customer', q.customer);
    const items = customer
      ? ([await models.subscription(tenantId, customer)].filter(Boolean) as pages.Subscription[])
      : await page(async () => models.subscriptions(tenantId, { limit: PAGE_SIZE, cursor: cursorOf(q.cursor) }));
    const list = Array.isArray(items) ? { items, nextCursor: null } : items;
    res.type('html').send(pages.subscriptionsPage(chrome(res, 'Subscriptions', 'subscriptions'), list.items, list.nextCursor));
  });

  r.get('/admin/system', authed, async (req, res) => {
    if (L(res).session.principal.kind !== 'admin') throw new Problem(403, 'forbidden', 'Forbidden', 'The system page shows every tenant: it needs the admin key');
    const done = (req.query as Record<string, unknown>).done;
    const notices: Record<string, string> = {
      released: 'Retrying the held message now.',
      skipped: 'Message skipped; the reason is recorded.',
      resumed: 'Projection resumed: the event that stopped it is tried again.',
      'skipped-event': 'Projection resumed past the event that stopped it (it stays dead-lettered).',
      rebuilding: 'Rebuild requested: the new generation replaces the old one when it has caught up.',
    };
    const flash = typeof done === 'string' && notices[done] ? { kind: 'notice' as const, text: notices[done] } : undefined;
    res.type('html').send(pages.systemPage(chrome(res, 'System', 'system', flash), await systemView(rt)));
  });

  /** Held message keys: the same operations as POST /v1/admin/outbox/parked/{key}/release and …/skip. */
  r.post('/admin/system/messages/:action', form, authed, async (req, res) => {
    if (L(res).session.principal.kind !== 'admin') throw new Problem(403, 'forbidden', 'Forbidden', 'Held messages span every tenant: they need the admin key');
    const action = String(req.params.action);
    const b = req.body as Record<string, unknown>;
    const key = typeof b.key === 'string' ? b.key : '';
    const stage = typeof b.stage === 'string' && /^(relay|consumer:[a-z0-9-]{1,100})$/.test(b.stage) ? b.stage : undefined;
    const reason = typeof b.reason === 'string' ? b.reason.trim().slice(0, 1000) : '';
    if (action !== 'release' && action !== 'skip') throw notFound('action');
    if (key.length < 1 || key.length > 500) throw new Problem(422, 'validation-error', 'Validation Failed', 'A message key is needed', [{ path: 'body.key', message: 'length 1..500' }]);
    if (action === 'skip' && !reason) throw new Problem(422, 'validation-error', 'Validation Failed', 'Skipping a message needs a reason', [{ path: 'body.reason', message: 'required' }]);
    const n = action === 'release' ? (await rt.heldKeys.release(key, stage)).length : (await rt.heldKeys.skip(key, reason, 'console:admin', stage)).length;
    if (n === 0) throw new Problem(404, 'message-key-not-held', 'Not Found', `No message of key ${key} is held`);
    if (wantsJson(req)) {
      res.json({ ok: true, action, key });
      return;
    }
    res.redirect(303, `/admin/system?done=${action === 'release' ? 'released' : 'skipped'}#held-messages`);
  });

  /** Projections: the same operations as POST /v1/admin/projections/{name}/resume and …/rebuild. */
  r.post('/admin/system/projections/:name/:action', form, authed, async (req, res) => {
    if (L(res).session.principal.kind !== 'admin') throw new Problem(403, 'forbidden', 'Forbidden', 'Projections serve every tenant: they need the admin key');
    const runner = rt.projections.find((p) => p.name === String(req.params.name));
    const action = String(req.params.action);
    if (!runner) throw notFound('projection');
    if (action === 'resume' || action === 'skip') await runner.resume(action === 'skip');
    else if (action === 'rebuild') await runner.requestRebuild();
    else throw notFound('action');
    res.redirect(303, `/admin/system?done=${action === 'resume' ? 'resumed' : action === 'skip' ? 'skipped-event' : 'rebuilding'}#projections`);
  });

  // ------------------------------------------------------------------ live status (SSE)
  r.get('/admin/live/payments/:attemptId', authed, async (req, res) => {
    const tenantId = tenantOf(res);
    const id = String(req.params.attemptId);
    const csrf = L(res).session.csrfToken;
    if (!tenantId || !(await models.payment(tenantId, id))) throw notFound('payment attempt');
    await hub.serve(
      req,
      res,
      { kind: 'payment', key: `console:payment:${tenantId}:${id}`, read: () => paymentData(tenantId, id) },
      (d) => ({ state: d.p, html: paymentFragment(d, csrf).value }),
      sessionAccess(L(res).token),
    );
  });
  r.get('/admin/live/bookings/:bookingId', authed, async (req, res) => {
    const tenantId = tenantOf(res);
    const id = String(req.params.bookingId);
    const csrf = L(res).session.csrfToken;
    if (!tenantId || !ID.test(id) || !(await models.booking(tenantId, id))) throw notFound('booking');
    await hub.serve(
      req,
      res,
      { kind: 'booking', key: `console:booking:${tenantId}:${id}`, read: () => models.booking(tenantId, id) },
      (b) => ({ state: b, html: pages.bookingLive(b, csrf).value }),
      sessionAccess(L(res).token),
    );
  });
  r.get('/admin/live/invoices/:invoiceId', authed, async (req, res) => {
    const tenantId = tenantOf(res);
    const id = String(req.params.invoiceId);
    if (!tenantId || !ID.test(id) || !(await models.invoice(tenantId, id))) throw notFound('invoice');
    await hub.serve(
      req,
      res,
      { kind: 'invoice', key: `console:invoice:${tenantId}:${id}`, read: () => invoiceLiveView(tenantId, id) },
      (v) => ({ state: { invoice: v.inv, latestPayment: v.latest }, html: v.fragment.value }),
      sessionAccess(L(res).token),
    );
  });

  // the flash after a non-JS retry
  r.use('/admin', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!(err instanceof Problem) || wantsJson(req) || req.path.startsWith('/live/') || res.headersSent) {
      next(err);
      return;
    }
    // pages answer problems as readable HTML with the same status
    res.status(err.status).type('html').send(pages.layout({ title: err.title, flash: { kind: 'error', text: err.detail } }, html`<p><a href="/admin">Back to the console</a></p>`));
  });
  return r;
}

async function systemView(rt: ConsoleServices): Promise<pages.SystemView> {
  const projections = await Promise.all(
    rt.projections.map(async (p) => ({
      ...(await p.overview()),
      eventsBehind: await rt.eventsBehind(p.name).catch(() => null),
    })),
  );
  const outbox = await rt.outbox.status();
  const stages = await rt.keyStages();
  const { rows: dl } = await rt.db.query<{ projection: string; event_type: string; error: string; created_at: Date }>(
    'SELECT projection, event_type, error, created_at FROM projection_dead_letters ORDER BY id DESC LIMIT 20',
  );
  const { rows: parked } = await rt.db.query<{ endpoint: string; event_id: string; event_type: string; last_error: string | null; received_at: Date }>(
    `SELECT endpoint, event_id, event_type, last_error, received_at FROM webhook_inbox WHERE status = 'parked' ORDER BY received_at DESC LIMIT 20`,
  );
  let kafka: pages.SystemView['kafka'] = 'In-process messaging: no Kafka consumers (messages are handled as they are published).';
  try {
    if (rt.consumerLag) kafka = await rt.consumerLag();
  } catch (err) {
    kafka = `Kafka unreachable: ${(err as Error).message}`;
  }
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    projections,
    outbox: { backlog: outbox.backlog, oldestAgeSeconds: outbox.oldestAgeSeconds, leader: outbox.leader, lastError: outbox.lastError, stuck: outbox.stuck, stuckAfterSeconds: rt.config.OUTBOX_STUCK_SECONDS },
    stages,
    reconciliations: (await rt.reconciliation.list({ limit: 10 })).map((r) => ({ runId: r.runId, tenantId: r.tenantId, dryRun: r.dryRun, status: r.status, startedAt: r.startedAt, examined: r.examined, found: r.found, repaired: r.repaired, unrepairable: r.unrepairable, error: r.error })),
    kafka,
    deadLetters: dl.map((d) => ({ projection: d.projection, eventType: d.event_type, error: d.error, at: iso(d.created_at) })),
    parked: parked.map((p) => ({ endpoint: p.endpoint, eventId: p.event_id, type: p.event_type, reason: p.last_error, at: iso(p.received_at) })),
    inbox: await rt.inbox.counts(),
    heldMessages: (await rt.heldKeys.list()).slice(0, 100).map((h) => ({ key: h.key, stage: h.stage, parked: h.parked, messageId: h.messageId, topic: h.topic, error: h.error, attempts: h.attempts, since: h.since.toISOString(), waiting: h.waiting })),
  };
}
