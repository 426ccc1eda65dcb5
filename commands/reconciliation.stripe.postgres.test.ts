/**
 * Reconciliation with Stripe, through HTTP, against a real PostgreSQL and a fake Stripe API that
 * lists exact histories (test/simulators/stripe/ledgerServer.ts; stripe-mock only has canned
 * lists). Two tenants live the same history on their own connected accounts and on the platform:
 * `full` gets every webhook, `lossy` loses most of them. After `POST /v1/admin/reconciliations`
 * for `lossy`, its invoices, payments, subscription and finance ledger equal `full`'s; a second
 * run repairs nothing; a dry run writes nothing; a 429 is waited out as Retry-After asks.
 */
import { randomBytes } from 'node:crypto';
import { invoiceDecider, type InvoiceEvent, type InvoiceState } from '../domain/invoice/invoice';
import { fold } from '../domain/shared/decider';
import { subscriptionDecider, type SubscriptionEvent } from '../domain/subscription/subscription';
import { ADMIN_KEY, client } from '../test/support/api';
import { databaseUrl, dropSchema } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { startTestService, type TestService } from '../test/support/service';
import { deliver } from '../test/support/stripeEvents';
import { StripeLedgerServer } from '../test/simulators/stripe/ledgerServer';
import { reconcileCli } from '../main/reconcile';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

const SECRET = 'whsec_recon_platform_secret';
const CONNECT_SECRET = 'whsec_recon_connect_secret';
const TENANTS = ['full', 'lossy'] as const;
type Tenant = (typeof TENANTS)[number];
const ACCOUNT: Record<Tenant, string> = { full: 'acct_1ReconFull', lossy: 'acct_1ReconLossy' };

describe('reconciliation with Stripe (fake Stripe lists + PostgreSQL)', () => {
  const stripe = new StripeLedgerServer();
  const schema = `recon_s_${randomBytes(5).toString('hex')}`;
  let svc: TestService;
  const apis = {} as Record<Tenant, ReturnType<typeof client>>;
  const invoices = {} as Record<Tenant, string[]>;
  const admin = () => client(svc.url, ADMIN_KEY);
  const t0 = Math.floor(Date.now() / 1000) - 3 * 86_400; // three days ago
  const since = new Date((t0 - 3600) * 1000).toISOString();
  const day = new Date(t0 * 1000).toISOString().slice(0, 10);
  const today = new Date().toISOString().slice(0, 10);
  let seq = 0;

  /** Every object of a tenant's history, and the webhook event that reported each (the ones `lossy` loses are marked). */
  const history: Record<Tenant, Array<{ kind: Parameters<StripeLedgerServer['put']>[0]; account: string | null; object: Obj; type: string; created: number; lost: boolean }>> = { full: [], lossy: [] };

  function record(tenant: Tenant, kind: Parameters<StripeLedgerServer['put']>[0], account: string | null, object: Obj, type: string | null, created: number, lostForLossy = true): void {
    stripe.put(kind, account, object);
    if (type) history[tenant].push({ kind, account, object, type, created, lost: tenant === 'lossy' && lostForLossy });
  }

  function buildHistory(t: Tenant): void {
    const acct = ACCOUNT[t];
    const [i1, i2, i3, i4] = invoices[t];
    const md = (invoiceId: string) => ({ tenant_id: t, invoice_id: invoiceId });
    const charge = (id: string, pi: string, amount: number, at: number, status = 'succeeded', extra: Obj = {}) => ({
      id, object: 'charge', amount, amount_captured: status === 'succeeded' ? amount : 0, currency: 'eur', created: at, livemode: false, status, paid: status === 'succeeded', payment_intent: pi, metadata: {},
      receipt_url: `https://pay.stripe.com/receipts/${id}`, payment_method_details: { type: 'card', card: { brand: 'visa', last4: '4242' } }, ...extra,
    });
    const pi = (id: string, invoiceId: string | null, amount: number, at: number, latestCharge: string, status = 'succeeded', extra: Obj = {}) => ({
      id, object: 'payment_intent', amount, amount_received: status === 'succeeded' ? amount : 0, currency: 'eur', created: at - 60, livemode: false, status, latest_charge: latestCharge,
      metadata: invoiceId ? md(invoiceId) : {}, application_fee_amount: 250, last_payment_error: null, ...extra,
    });
    // 1: paid (the only webhook `lossy` got)
    const c1 = charge(`ch_${t}_1`, `pi_${t}_1`, 10000, t0 + 100);
    record(t, 'charge', acct, c1, null, t0 + 100);
    record(t, 'payment_intent', acct, pi(`pi_${t}_1`, i1!, 10000, t0 + 100, c1.id), 'payment_intent.succeeded', t0 + 100, false);
    // 2: paid, then partly refunded
    const c2 = charge(`ch_${t}_2`, `pi_${t}_2`, 5000, t0 + 200);
    record(t, 'charge', acct, c2, null, t0 + 200);
    record(t, 'payment_intent', acct, pi(`pi_${t}_2`, i2!, 5000, t0 + 200, c2.id), 'payment_intent.succeeded', t0 + 200);
    record(t, 'refund', acct, { id: `re_${t}_2`, object: 'refund', amount: 1500, currency: 'eur', created: t0 + 300, status: 'succeeded', charge: c2.id, payment_intent: `pi_${t}_2`, reason: 'requested_by_customer', metadata: {} }, 'refund.updated', t0 + 300);
    // 3: paid, then disputed and lost
    const c3 = charge(`ch_${t}_3`, `pi_${t}_3`, 7000, t0 + 400);
    record(t, 'charge', acct, c3, null, t0 + 400);
    record(t, 'payment_intent', acct, pi(`pi_${t}_3`, i3!, 7000, t0 + 400, c3.id), 'payment_intent.succeeded', t0 + 400);
    const dispute = { id: `dp_${t}_3`, object: 'dispute', amount: 7000, currency: 'eur', created: t0 + 500, status: 'lost', reason: 'fraudulent', charge: c3.id, payment_intent: `pi_${t}_3`, metadata: {} };
    record(t, 'dispute', acct, dispute, 'charge.dispute.created', t0 + 500);
    history[t].push({ kind: 'dispute', account: acct, object: dispute, type: 'charge.dispute.closed', created: t0 + 500, lost: t === 'lossy' });
    // 4: declined
    const c4 = charge(`ch_${t}_4f`, `pi_${t}_4`, 3000, t0 + 600, 'failed', { failure_code: 'card_declined', outcome: { reason: 'insufficient_funds' } });
    record(t, 'charge', acct, c4, null, t0 + 600);
    const err = { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.', charge: c4.id };
    record(t, 'payment_intent', acct, pi(`pi_${t}_4`, i4!, 3000, t0 + 600, c4.id, 'requires_payment_method', { last_payment_error: err }), 'payment_intent.payment_failed', t0 + 600);
    // money on the tenant's account that names no invoice: nobody can attribute it
    const cx = charge(`ch_${t}_x`, `pi_${t}_x`, 999, t0 + 700);
    record(t, 'charge', acct, cx, null, t0 + 700);
    record(t, 'payment_intent', acct, pi(`pi_${t}_x`, null, 999, t0 + 700, cx.id), null, t0 + 700);
    // platform: a subscription and its first invoice
    const smd = { tenant_id: t, customer_id: `cust-${t}`, plan_id: 'pro' };
    const period = { start: t0, end: t0 + 30 * 86_400 };
    const sub = {
      id: `sub_${t}`, object: 'subscription', customer: `cus_${t}`, status: 'active', created: t0 + 800, livemode: false, metadata: smd,
      items: { object: 'list', data: [{ id: `si_${t}`, price: { id: `price_${t}`, recurring: { interval: 'month' } }, current_period_start: period.start, current_period_end: period.end }] },
    };
    record(t, 'subscription', null, sub, 'customer.subscription.updated', t0 + 800);
    const inv = {
      id: `in_${t}_1`, object: 'invoice', customer: `cus_${t}`, status: 'paid', billing_reason: 'subscription_create', currency: 'eur', total: 2900, amount_due: 2900, amount_paid: 2900, created: t0 + 810, livemode: false,
      due_date: null, hosted_invoice_url: `https://invoice.stripe.com/i/${t}`, invoice_pdf: null, status_transitions: { finalized_at: t0 + 810, paid_at: t0 + 820 },
      parent: { type: 'subscription_details', subscription_details: { subscription: sub.id, metadata: smd } },
      lines: { object: 'list', data: [{ amount: 2900, quantity: 1, description: 'Pro', period }] },
      payments: { object: 'list', data: [{ payment: { type: 'payment_intent', payment_intent: `pi_${t}_sub` } }] },
    };
    record(t, 'invoice', null, inv, 'invoice.paid', t0 + 820);
  }

  beforeAll(async () => {
    await stripe.start();
    svc = await startTestService({
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: schema,
      ADMIN_API_KEY: ADMIN_KEY,
      KAFKA_BROKERS: undefined,
      STRIPE_SECRET_KEY: 'sk_test_recon',
      STRIPE_API_BASE: stripe.url,
      STRIPE_WEBHOOK_SECRET: SECRET,
      STRIPE_CONNECT_WEBHOOK_SECRET: CONNECT_SECRET,
      RECONCILE_PAGE_SIZE: '2',
      RECONCILE_PAGE_DELAY_MS: '5',
      RECONCILE_MAX_RETRY_AFTER_MS: '5000',
      LOG_LEVEL: 'info',
    });
    for (const t of TENANTS) {
      expect((await admin().post('/v1/tenants', { tenantId: t, name: t })).status).toBe(201);
      apis[t] = client(svc.url, (await admin().post<{ apiKey: string }>(`/v1/tenants/${t}/api-keys`, {})).body.apiKey);
      expect((await admin().post(`/v1/tenants/${t}/stripe-account`, { accountId: ACCOUNT[t] })).status).toBe(200);
      invoices[t] = [];
      for (const amount of [10000, 5000, 7000, 3000]) {
        const r = await apis[t].post<{ invoiceId: string }>('/v1/invoices', {
          customerId: `client-${amount}`, customer: { name: 'Client', email: 'client@example.com' }, currency: 'EUR',
          lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: amount }], dueDate: '2026-12-31', allowedPaymentMethods: ['stripe_connect'],
        });
        expect(r.status).toBe(201);
        invoices[t].push(r.body.invoiceId);
      }
      buildHistory(t);
      // the webhooks that did arrive
      for (const h of history[t].filter((x) => !x.lost)) {
        const e = { id: `evt_recon_${++seq}`, object: 'event', type: h.type, created: h.created, livemode: false, ...(h.account ? { account: h.account } : {}), data: { object: h.object } };
        const r = await deliver(`${svc.url}/webhooks/stripe${h.account ? '/connect' : ''}`, e as never, h.account ? CONNECT_SECRET : SECRET);
        expect(r.status).toBe(200);
      }
    }
    // stored on each 200 and applied by the applier right after: every delivery applied (or parked) first
    await eventually(async () => (await svc.runtime.inboxApplier.status()).backlog === 0, 30_000);
    for (let i = 0; i < 3; i++) await svc.runtime.inboxRetrier.runOnce(true);
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await stripe.stop();
    await dropSchema(schema);
  });

  const invoiceState = async (t: Tenant, id: string) => fold(invoiceDecider, (await svc.runtime.eventStore.readStream(`invoice-${t}.${id}`)).map((e) => ({ type: e.type, data: e.data })) as InvoiceEvent[]);
  const invoiceStateOf = async (t: string, id: string) => fold(invoiceDecider, (await svc.runtime.eventStore.readStream(`invoice-${t}.${id}`)).map((e) => ({ type: e.type, data: e.data })) as InvoiceEvent[]);
  const comparableInvoice = (s: InvoiceState) => ({
    status: s.status,
    amountPaid: s.amountPaid,
    amountRefunded: s.amountRefunded,
    amountLost: s.amountLost,
    collected: s.collected,
    attempts: s.attempts.map((a) => ({ outcome: a.outcome, amount: a.amount, errorCode: (a as Obj).errorCode ?? null, declineCode: (a as Obj).declineCode ?? null, occurredAt: a.occurredAt })),
    refunds: s.refunds.map((r) => ({ amount: r.amount })),
    disputes: s.disputes.map((d) => ({ status: d.status, amount: d.amount })),
  });
  const stripped = (t: Tenant, v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(`_${t}`, '_T').replaceAll(`-${t}`, '-T').replaceAll(ACCOUNT[t], 'acct_T'));

  async function everything(t: Tenant) {
    const inv = [];
    for (const id of invoices[t]) inv.push(comparableInvoice(await invoiceState(t, id)));
    const subscriptionInvoice = comparableInvoice(await invoiceState(t, `in_${t}_1`));
    const sub = fold(subscriptionDecider, (await svc.runtime.eventStore.readStream(`subscription-${t}.cust-${t}`)).map((e) => ({ type: e.type, data: e.data })) as SubscriptionEvent[]);
    return stripped(t, { inv, subscriptionInvoice, sub: { status: sub.status, accessActive: sub.accessActive, providerSubscriptionId: sub.providerSubscriptionId, currentPeriodEnd: sub.currentPeriodEnd } });
  }

  async function readModels(t: Tenant) {
    const payments = await apis[t].get<{ data: Obj[] }>('/v1/payments?limit=100');
    const invoiceList = await apis[t].get<{ data: Obj[] }>('/v1/invoices?limit=100');
    const finance = await apis[t].get<{ rows: Obj[] }>(`/v1/reports/finance?from=${day}&to=${today}`);
    const pay = payments.body.data
      .map((p) => ({ status: p.status, amount: p.amount, provider: p.provider, providerPaymentId: p.providerPaymentId, refunded: p.refundedAmount ?? p.refunded, errorCode: p.errorCode ?? null, declineCode: p.declineCode ?? null }))
      .sort((a, b) => String(a.providerPaymentId).localeCompare(String(b.providerPaymentId)));
    const invs = invoiceList.body.data.map((i) => ({ status: i.status, total: i.total, amountPaid: i.amountPaid, amountRefunded: i.amountRefunded })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const fin = finance.body.rows.map(({ tenantId: _t, ...r }) => r).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return stripped(t, { pay, invs, fin });
  }

  async function reconcile(body: Obj): Promise<Obj> {
    const started = await admin().post<{ runId: string; status: string }>('/v1/admin/reconciliations', body);
    expect(started.status).toBe(202);
    let run: Obj = {};
    await eventually(async () => {
      run = (await admin().get<Obj>(`/v1/admin/reconciliations/${started.body.runId}`)).body;
      return run.status !== 'running';
    }, 30_000);
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    return run;
  }

  const storeCounts = async () => {
    const q = async (sql: string) => (await svc.runtime.db.query<{ n: string }>(sql)).rows[0]!.n;
    return { events: await q('SELECT count(*)::text AS n FROM events'), inbox: await q('SELECT count(*)::text AS n FROM webhook_inbox'), refs: await q('SELECT count(*)::text AS n FROM provider_refs'), outbox: await q('SELECT count(*)::text AS n FROM outbox') };
  };

  test('before: the lossy tenant is behind', async () => {
    expect(await everything('lossy')).not.toEqual(await everything('full'));
  });

  test('a dry run reports what is missing and writes nothing', async () => {
    const before = await storeCounts();
    const run = await reconcile({ tenantId: 'lossy', since, dryRun: true });
    expect(run).toMatchObject({ tenantId: 'lossy', dryRun: true, repaired: 0 });
    const missing = run.differences.filter((d: Obj) => d.kind === 'missing');
    expect(missing.every((d: Obj) => d.outcome === 'would_repair')).toBe(true);
    expect(missing.map((d: Obj) => d.objectId).sort()).toEqual(['dp_lossy_3', 'dp_lossy_3', 'in_lossy_1', 'pi_lossy_2', 'pi_lossy_3', 'pi_lossy_4', 're_lossy_2', 'sub_lossy'].sort());
    expect(missing.find((d: Obj) => d.objectId === 'pi_lossy_2')).toMatchObject({ account: ACCOUNT.lossy, facts: ['PaymentSucceeded', 'InvoicePaid'] });
    expect(await storeCounts()).toEqual(before);
    expect(await everything('lossy')).not.toEqual(await everything('full'));
  });

  test('a run repairs the lost webhooks through the webhook path: invoices, payments, subscription and finance equal the tenant that got them all', async () => {
    stripe.rateLimitNext(1, 1);
    const requestsBefore = stripe.requests.length;
    const run = await reconcile({ tenantId: 'lossy', since, dryRun: false });
    const after = await everything('lossy');
    expect(after).toEqual(await everything('full'));
    expect(after.inv.map((i: Obj) => [i.status, i.amountPaid, i.amountRefunded, i.amountLost, i.attempts.map((a: Obj) => a.outcome).join()])).toEqual([
      ['paid', 10000, 0, 0, 'succeeded'],
      ['paid', 5000, 1500, 0, 'succeeded'],
      ['paid', 7000, 0, 7000, 'succeeded'],
      ['open', 0, 0, 0, 'failed'],
    ]);
    expect(after.inv[3].attempts[0]).toMatchObject({ errorCode: 'card_declined', declineCode: 'insufficient_funds' });
    expect(after.sub).toMatchObject({ status: 'active', accessActive: true, providerSubscriptionId: 'sub_T' });
    expect(after.subscriptionInvoice).toMatchObject({ status: 'paid', amountPaid: 2900 });
    const repaired = run.differences.filter((d: Obj) => d.outcome === 'repaired');
    expect(run.repaired).toBe(repaired.length);
    expect(repaired.length).toBe(8);
    // what cannot be repaired automatically is listed: money on the account that names no invoice
    expect(run.differences.filter((d: Obj) => d.outcome === 'unrepairable')).toEqual([
      expect.objectContaining({ kind: 'unattributable', objectId: 'pi_lossy_x', account: ACCOUNT.lossy, tenantId: 'lossy' }),
      expect.objectContaining({ kind: 'unattributable', objectId: 'ch_lossy_x', account: ACCOUNT.lossy, tenantId: 'lossy' }),
    ]);
    expect(run.unrepairable).toBe(2);
    // applied through the inbox, under recon_ ids
    const { rows } = await svc.runtime.db.query<{ event_id: string; status: string }>(`SELECT event_id, status FROM webhook_inbox WHERE event_id LIKE 'recon_%' ORDER BY event_id`);
    expect(rows.map((r) => r.status)).toEqual(rows.map(() => 'processed'));
    expect(rows.map((r) => r.event_id)).toContain('recon_pi_lossy_2_succeeded');
    // the read models and the finance ledger follow
    await eventually(async () => JSON.stringify(await readModels('lossy')) === JSON.stringify(await readModels('full')), 20_000);
    const models = await readModels('lossy');
    expect(models).toEqual(await readModels('full'));
    expect(models.pay.length).toBeGreaterThanOrEqual(5);
    expect(models.fin.length).toBeGreaterThanOrEqual(1);
    expect(models.fin.reduce((n: number, r: Obj) => n + Number(r.platformFees ?? 0), 0)).toBe(750);
    // staggered pages with starting_after on the tenant's account and the platform; the 429 was waited out
    const calls = stripe.requests.slice(requestsBefore);
    expect(calls.some((c) => c.account === ACCOUNT.lossy && c.path === '/v1/payment_intents' && c.query.get('starting_after'))).toBe(true);
    expect(calls.some((c) => c.account === null && c.path === '/v1/subscriptions' && c.query.get('status') === 'all')).toBe(true);
    expect(calls.every((c) => c.account === null || c.account === ACCOUNT.lossy)).toBe(true);
    expect(calls.every((c) => c.query.get('limit') === '2' && c.query.get('created[gte]') === String(Math.floor(Date.parse(since) / 1000)))).toBe(true);
    const limited = calls.findIndex((c) => c.status === 429);
    expect(limited).toBe(0);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    // one log line per page, counted runs and differences
    expect(svc.logs.filter((l) => l.msg === 'reconciliation page' && l.runId === run.runId).length).toBe(calls.filter((c) => c.status === 200).length);
    const metrics = await svc.runtime.metrics.registry.getMetricsAsJSON();
    const runs = metrics.find((m) => m.name === 'settle_reconciliation_runs_total')!.values;
    expect(runs.find((v) => v.labels.status === 'succeeded' && v.labels.dry_run === 'false')?.value).toBeGreaterThanOrEqual(1);
    const diffs = metrics.find((m) => m.name === 'settle_reconciliation_differences_total')!.values;
    expect(diffs.find((v) => v.labels.kind === 'missing' && v.labels.outcome === 'repaired')?.value).toBe(8);
  });

  test('a second run repairs nothing (idempotent), and the tenant that got every webhook has nothing missing', async () => {
    const before = await storeCounts();
    const again = await reconcile({ tenantId: 'lossy', since, dryRun: false });
    expect({ repaired: again.repaired, differences: again.differences.map((d: Obj) => `${d.kind} ${d.objectId}`).sort() }).toEqual({ repaired: 0, differences: ['unattributable ch_lossy_x', 'unattributable pi_lossy_x'] });
    const full = await reconcile({ tenantId: 'full', since, dryRun: false });
    expect(full.differences.map((d: Obj) => `${d.kind} ${d.objectId}`).sort()).toEqual(['unattributable ch_full_x', 'unattributable pi_full_x']);
    expect(await storeCounts()).toEqual(before);
  });

  test('npm run reconcile: the same run from the command line (dry run, JSON), recorded with the others; bad arguments exit 2', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, STRIPE_SECRET_KEY: 'sk_test_recon', STRIPE_API_BASE: stripe.url, RECONCILE_PAGE_DELAY_MS: '0', LOG_LEVEL: 'silent' };
    const sink = (a: string[]) => ({ write: (s: string) => a.push(s) });
    const before = await storeCounts();
    const code = await reconcileCli(['--tenant', 'full', '--since', since.slice(0, 10), '--dry-run', '--json'], env, sink(out), sink(err));
    const printed = JSON.parse(out.join(''));
    expect({ code, status: printed.status, missing: printed.differences.filter((d: Obj) => d.kind === 'missing') }).toEqual({ code: 3, status: 'succeeded', missing: [] }); // 3: money nobody can attribute needs a human
    expect(printed.differences.map((d: Obj) => d.objectId).sort()).toEqual(['ch_full_x', 'pi_full_x']);
    expect(await storeCounts()).toEqual(before);
    expect((await admin().get<Obj>(`/v1/admin/reconciliations/${printed.runId}`)).body).toMatchObject({ tenantId: 'full', dryRun: true, status: 'succeeded', unrepairable: 2 });
    expect(await reconcileCli(['--tenant'], env, sink(out), sink(err))).toBe(2);
    expect(await reconcileCli(['--since', 'soon'], env, sink(out), sink(err))).toBe(2);
    expect(await reconcileCli(['--bogus'], env, sink(out), sink(err))).toBe(2);
    expect(err.join('')).toContain('usage: npm run reconcile');
  });

  test("money on an account the tenant was re-linked away from is listed for a human, never applied", async () => {
    expect((await admin().post('/v1/tenants', { tenantId: 'moved', name: 'moved' })).status).toBe(201);
    const moved = client(svc.url, (await admin().post<{ apiKey: string }>('/v1/tenants/moved/api-keys', {})).body.apiKey);
    await admin().post('/v1/tenants/moved/stripe-account', { accountId: 'acct_1ReconMovedOld' });
    expect((await admin().post('/v1/tenants/moved/stripe-account', { accountId: 'acct_1ReconMovedNew' })).body).toMatchObject({ previousAccountId: 'acct_1ReconMovedOld' });
    const inv = await moved.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: 'client-m', customer: { name: 'Client', email: 'client@example.com' }, currency: 'EUR',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: 4000 }], dueDate: '2026-12-31', allowedPaymentMethods: ['stripe_connect'],
    });
    stripe.put('charge', 'acct_1ReconMovedOld', { id: 'ch_moved_old', object: 'charge', amount: 4000, amount_captured: 4000, currency: 'eur', created: t0 + 900, status: 'succeeded', payment_intent: 'pi_moved_old', metadata: {} });
    stripe.put('payment_intent', 'acct_1ReconMovedOld', { id: 'pi_moved_old', object: 'payment_intent', amount: 4000, amount_received: 4000, currency: 'eur', created: t0 + 900, status: 'succeeded', latest_charge: 'ch_moved_old', metadata: { tenant_id: 'moved', invoice_id: inv.body.invoiceId } });
    stripe.put('charge', 'acct_1ReconMovedNew', { id: 'ch_moved_pending', object: 'charge', amount: 1, currency: 'eur', created: t0 + 900, status: 'pending', metadata: {} });
    const before = await storeCounts();
    const run = await reconcile({ tenantId: 'moved', since, dryRun: false });
    expect(run.differences.map((d: Obj) => [d.kind, d.objectId, d.account, d.outcome])).toEqual([
      ['previous_account', 'pi_moved_old', 'acct_1ReconMovedOld', 'unrepairable'],
      ['previous_account', 'ch_moved_old', 'acct_1ReconMovedOld', 'unrepairable'],
    ]);
    expect(await storeCounts()).toEqual(before);
    expect((await invoiceStateOf('moved', inv.body.invoiceId)).status).toBe('open');
  });

  test('runs are listed newest first; bad requests are precise 4xx problems', async () => {
    const list = await admin().get<{ data: Obj[] }>('/v1/admin/reconciliations?tenant_id=lossy');
    expect(list.body.data.map((r) => [r.dryRun, r.status])).toEqual([
      [false, 'succeeded'],
      [false, 'succeeded'],
      [true, 'succeeded'],
    ]);
    expect(list.body.data[0]!.differences).toBeUndefined();
    expect((await admin().post('/v1/admin/reconciliations', { since: 'yesterday' })).status).toBe(422);
    expect((await admin().post('/v1/admin/reconciliations', { since: '2999-01-01' })).status).toBe(422);
    expect((await admin().post('/v1/admin/reconciliations', { tenantId: 'nobody', since })).status).toBe(404);
    expect((await admin().get('/v1/admin/reconciliations/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await apis.full.post('/v1/admin/reconciliations', { since })).status).toBe(403);
  });
});
