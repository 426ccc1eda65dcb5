/**
 * Named regression (issue #16, lost webhooks): when Stripe's webhooks were lost (endpoint down
 * longer than Stripe retries, a misconfigured secret), Settle had no way back: invoices stayed
 * open though paid, refunds and lost disputes were missing from payments and the finance
 * ledger, a subscription never activated. Now POST /v1/admin/reconciliations lists what Stripe
 * has (the tenant's connected account and the platform) and applies what is missing through the
 * webhook path. Story: two tenants live the same history on their own connected accounts and on
 * the platform; `full` gets every webhook, `lossy` only one. A dry run reports what is missing
 * and changes nothing visible; a real run makes lossy's invoices, payments, subscription and
 * finance report equal full's; a second run repairs nothing; money that names no invoice is
 * listed for a human, never applied.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging; its Stripe API base (STRIPE_API_BASE) is the fake Stripe list server
 * (test/simulators/stripe/ledgerServer.ts: stripe-mock answers lists with canned fixtures);
 * signed Connect and platform webhooks.
 */
import { deliver } from '../../support/stripeEvents';
import { StripeLedgerServer } from '../../simulators/stripe/ledgerServer';
import { STRIPE_CONNECT_SECRET, STRIPE_PLATFORM_SECRET, startSettle, until, type Settle } from '../driver/service';
import { newTenant, type Tenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;
type Kind = Parameters<StripeLedgerServer['put']>[0];
const NAMES = ['full', 'lossy'] as const;
type Name = (typeof NAMES)[number];
const ACCOUNT: Record<Name, string> = { full: 'acct_1AccReconFull', lossy: 'acct_1AccReconLossy' };

describe('reconciliation of lost webhooks (PostgreSQL, fake Stripe lists)', () => {
  const stripe = new StripeLedgerServer();
  let settle: Settle;
  const tenants = {} as Record<Name, Tenant>;
  const invoices = {} as Record<Name, string[]>;
  const tenantId = (n: Name) => `acc-recon-${n}`;
  const t0 = Math.floor(Date.now() / 1000) - 3 * 86_400;
  const since = new Date((t0 - 3600) * 1000).toISOString();
  const day = new Date(t0 * 1000).toISOString().slice(0, 10);
  const today = new Date().toISOString().slice(0, 10);
  let seq = 0;

  /** The webhooks Stripe sent for a tenant's history (those `lossy` never got are marked). */
  const webhooks: Record<Name, Array<{ account: string | null; object: Obj; type: string; created: number; lost: boolean }>> = { full: [], lossy: [] };

  function record(n: Name, kind: Kind, account: string | null, object: Obj, type: string | null, created: number, lostForLossy = true): void {
    stripe.put(kind, account, object);
    if (type) webhooks[n].push({ account, object, type, created, lost: n === 'lossy' && lostForLossy });
  }

  /** One history: four Connect invoices (paid; paid then partly refunded; paid then disputed and lost; declined), unattributable money, and a platform subscription with its first invoice. */
  function history(n: Name): void {
    const t = tenantId(n);
    const acct = ACCOUNT[n];
    const [i1, i2, i3, i4] = invoices[n];
    const md = (invoiceId: string) => ({ tenant_id: t, invoice_id: invoiceId });
    const charge = (id: string, pi: string, amount: number, at: number, status = 'succeeded', extra: Obj = {}) => ({
      id, object: 'charge', amount, amount_captured: status === 'succeeded' ? amount : 0, currency: 'eur', created: at, livemode: false, status, paid: status === 'succeeded', payment_intent: pi, metadata: {},
      receipt_url: `https://pay.stripe.com/receipts/${id}`, payment_method_details: { type: 'card', card: { brand: 'visa', last4: '4242' } }, ...extra,
    });
    const pi = (id: string, invoiceId: string | null, amount: number, at: number, latestCharge: string, status = 'succeeded', extra: Obj = {}) => ({
      id, object: 'payment_intent', amount, amount_received: status === 'succeeded' ? amount : 0, currency: 'eur', created: at - 60, livemode: false, status, latest_charge: latestCharge,
      metadata: invoiceId ? md(invoiceId) : {}, application_fee_amount: 250, last_payment_error: null, ...extra,
    });
    const c1 = charge(`ch_${n}_1`, `pi_${n}_1`, 10000, t0 + 100);
    record(n, 'charge', acct, c1, null, t0 + 100);
    record(n, 'payment_intent', acct, pi(`pi_${n}_1`, i1!, 10000, t0 + 100, c1.id), 'payment_intent.succeeded', t0 + 100, false);
    const c2 = charge(`ch_${n}_2`, `pi_${n}_2`, 5000, t0 + 200);
    record(n, 'charge', acct, c2, null, t0 + 200);
    record(n, 'payment_intent', acct, pi(`pi_${n}_2`, i2!, 5000, t0 + 200, c2.id), 'payment_intent.succeeded', t0 + 200);
    record(n, 'refund', acct, { id: `re_${n}_2`, object: 'refund', amount: 1500, currency: 'eur', created: t0 + 300, status: 'succeeded', charge: c2.id, payment_intent: `pi_${n}_2`, reason: 'requested_by_customer', metadata: {} }, 'refund.updated', t0 + 300);
    const c3 = charge(`ch_${n}_3`, `pi_${n}_3`, 7000, t0 + 400);
    record(n, 'charge', acct, c3, null, t0 + 400);
    record(n, 'payment_intent', acct, pi(`pi_${n}_3`, i3!, 7000, t0 + 400, c3.id), 'payment_intent.succeeded', t0 + 400);
    const dispute = { id: `dp_${n}_3`, object: 'dispute', amount: 7000, currency: 'eur', created: t0 + 500, status: 'lost', reason: 'fraudulent', charge: c3.id, payment_intent: `pi_${n}_3`, metadata: {} };
    record(n, 'dispute', acct, dispute, 'charge.dispute.created', t0 + 500);
    webhooks[n].push({ account: acct, object: dispute, type: 'charge.dispute.closed', created: t0 + 500, lost: n === 'lossy' });
    const c4 = charge(`ch_${n}_4f`, `pi_${n}_4`, 3000, t0 + 600, 'failed', { failure_code: 'card_declined', outcome: { reason: 'insufficient_funds' } });
    record(n, 'charge', acct, c4, null, t0 + 600);
    const err = { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.', charge: c4.id };
    record(n, 'payment_intent', acct, pi(`pi_${n}_4`, i4!, 3000, t0 + 600, c4.id, 'requires_payment_method', { last_payment_error: err }), 'payment_intent.payment_failed', t0 + 600);
    // money on the tenant's account that names no invoice: nobody can attribute it
    const cx = charge(`ch_${n}_x`, `pi_${n}_x`, 999, t0 + 700);
    record(n, 'charge', acct, cx, null, t0 + 700);
    record(n, 'payment_intent', acct, pi(`pi_${n}_x`, null, 999, t0 + 700, cx.id), null, t0 + 700);
    // the platform: a subscription and its first invoice
    const smd = { tenant_id: t, customer_id: `cust-${n}`, plan_id: 'pro' };
    const period = { start: t0, end: t0 + 30 * 86_400 };
    const sub = {
      id: `sub_${n}`, object: 'subscription', customer: `cus_${n}`, status: 'active', created: t0 + 800, livemode: false, metadata: smd,
      items: { object: 'list', data: [{ id: `si_${n}`, price: { id: `price_${n}`, recurring: { interval: 'month' } }, current_period_start: period.start, current_period_end: period.end }] },
    };
    record(n, 'subscription', null, sub, 'customer.subscription.updated', t0 + 800);
    const inv = {
      id: `in_${n}_1`, object: 'invoice', customer: `cus_${n}`, status: 'paid', billing_reason: 'subscription_create', currency: 'eur', total: 2900, amount_due: 2900, amount_paid: 2900, created: t0 + 810, livemode: false,
      due_date: null, hosted_invoice_url: `https://invoice.stripe.com/i/${n}`, invoice_pdf: null, status_transitions: { finalized_at: t0 + 810, paid_at: t0 + 820 },
      parent: { type: 'subscription_details', subscription_details: { subscription: sub.id, metadata: smd } },
      lines: { object: 'list', data: [{ amount: 2900, quantity: 1, description: 'Pro', period }] },
      payments: { object: 'list', data: [{ payment: { type: 'payment_intent', payment_intent: `pi_${n}_sub` } }] },
    };
    record(n, 'invoice', null, inv, 'invoice.paid', t0 + 820);
  }

  beforeAll(async () => {
    await stripe.start();
    settle = await startSettle({
      storage: 'postgres',
      messaging: 'in-process',
      env: { STRIPE_API_BASE: stripe.url, RECONCILE_PAGE_SIZE: '2', RECONCILE_PAGE_DELAY_MS: '5', RECONCILE_MAX_RETRY_AFTER_MS: '5000' },
    });
    for (const n of NAMES) {
      tenants[n] = await newTenant(settle, tenantId(n), { stripeAccount: ACCOUNT[n] });
      invoices[n] = [];
      for (const amount of [10000, 5000, 7000, 3000]) {
        const r = await tenants[n].api.post<{ invoiceId: string }>('/v1/invoices', {
          customerId: `client-${amount}`, customer: { name: 'Client', email: 'client@example.com' }, currency: 'EUR',
          lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: amount }], dueDate: '2027-12-31', allowedPaymentMethods: ['stripe_connect'],
        });
        expect(r.status).toBe(201);
        invoices[n].push(r.body.invoiceId);
      }
      history(n);
      for (const w of webhooks[n].filter((x) => !x.lost)) {
        const e = { id: `evt_acc_recon_${++seq}`, object: 'event', type: w.type, created: w.created, livemode: false, ...(w.account ? { account: w.account } : {}), data: { object: w.object } };
        const r = await deliver(`${settle.url}/webhooks/stripe${w.account ? '/connect' : ''}`, e as never, w.account ? STRIPE_CONNECT_SECRET : STRIPE_PLATFORM_SECRET);
        expect(r.status).toBe(200);
      }
    }
    await settle.settled({ allowParked: true });
  }, 120_000);
  afterAll(async () => {
    await settle?.stop();
    await stripe.stop();
  });

  const stripped = (n: Name, v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(tenantId(n), 'T').replaceAll(ACCOUNT[n], 'acct_T').replaceAll(`_${n}`, '_T').replaceAll(`-${n}`, '-T'));

  /** Everything a user of the tenant sees: payments, invoices (with the subscription's), the finance report, the subscription. */
  async function seen(n: Name): Promise<Obj> {
    const api = tenants[n].api;
    const payments = (await api.get<{ data: Obj[] }>('/v1/payments?limit=100')).body.data;
    const invoiceList = (await api.get<{ data: Obj[] }>('/v1/invoices?limit=100')).body.data;
    const finance = (await api.get<{ rows: Obj[] }>(`/v1/reports/finance?from=${day}&to=${today}`)).body.rows;
    const sub = await api.get<Obj>(`/v1/customers/cust-${n}/subscription`);
    const pay = payments
      .map((p) => ({ status: p.status, amount: p.amount, provider: p.provider, providerPaymentId: p.providerPaymentId, refunded: p.refundedAmount ?? p.refunded, errorCode: p.errorCode ?? null, declineCode: p.declineCode ?? null, payable: p.payable?.type }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const invs = invoiceList.map((i) => ({ status: i.status, total: i.total, amountPaid: i.amountPaid, amountRefunded: i.amountRefunded })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const fin = finance.map(({ tenantId: _t, ...r }) => r).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const subscription = sub.status === 200 ? { status: sub.body.status, accessActive: sub.body.accessActive, currentPeriodEnd: sub.body.currentPeriodEnd, providerStatus: sub.body.providerStatus } : sub.status;
    return stripped(n, { pay, invs, fin, subscription });
  }

  const inboxRows = async () => (await settle.metrics()).samples('settle_webhook_inbox').reduce((s, x) => s + x.value, 0);

  async function reconcile(body: Obj): Promise<Obj> {
    const started = await settle.admin.post<{ runId: string }>('/v1/admin/reconciliations', body);
    expect(started.status).toBe(202);
    const run = await until(async () => (await settle.admin.get<Obj>(`/v1/admin/reconciliations/${started.body.runId}`)).body, (r) => r.status !== 'running', 30_000);
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    return run;
  }

  test('before: the tenant that lost its webhooks sees less than the one that got them all', async () => {
    const full = await until(() => seen('full'), (s) => s.subscription?.status === 'active' && s.fin.length > 0);
    expect(full.invs.map((i: Obj) => i.status).sort()).toEqual(['open', 'paid', 'paid', 'paid', 'paid']);
    expect(await seen('lossy')).not.toEqual(full);
  });

  test('a dry run reports what is missing and changes nothing', async () => {
    const before = { seen: await seen('lossy'), inbox: await inboxRows() };
    const run = await reconcile({ tenantId: tenantId('lossy'), since, dryRun: true });
    expect(run).toMatchObject({ dryRun: true, repaired: 0 });
    const missing = run.differences.filter((d: Obj) => d.kind === 'missing');
    expect(missing.every((d: Obj) => d.outcome === 'would_repair')).toBe(true);
    expect(missing.map((d: Obj) => d.objectId).sort()).toEqual(['dp_lossy_3', 'dp_lossy_3', 'in_lossy_1', 'pi_lossy_2', 'pi_lossy_3', 'pi_lossy_4', 're_lossy_2', 'sub_lossy'].sort());
    await settle.settled({ allowParked: true });
    expect({ seen: await seen('lossy'), inbox: await inboxRows() }).toEqual(before);
  });

  test("a run repairs what was lost: the lossy tenant's invoices, payments, subscription and finance report equal the full tenant's", async () => {
    stripe.rateLimitNext(1, 1);
    const run = await reconcile({ tenantId: tenantId('lossy'), since, dryRun: false });
    expect(run.repaired).toBe(8);
    expect(run.differences.filter((d: Obj) => d.outcome === 'unrepairable').map((d: Obj) => [d.kind, d.objectId]).sort()).toEqual([
      ['unattributable', 'ch_lossy_x'],
      ['unattributable', 'pi_lossy_x'],
    ]);
    const full = await seen('full');
    const lossy = await until(() => seen('lossy'), (s) => JSON.stringify(s) === JSON.stringify(full), 20_000);
    expect(lossy).toEqual(full);
    expect(lossy.invs.map((i: Obj) => i.status).sort()).toEqual(['open', 'paid', 'paid', 'paid', 'paid']);
    expect(lossy.subscription).toMatchObject({ status: 'active', accessActive: true });
    expect(lossy.fin.reduce((s: number, r: Obj) => s + Number(r.platformFees ?? 0), 0)).toBe(750);
    expect((await settle.metrics()).value('settle_reconciliation_differences_total', { kind: 'missing', outcome: 'repaired' })).toBe(8);
  });

  test('a second run repairs nothing; the tenant that got every webhook has nothing missing', async () => {
    const before = { seen: await seen('lossy'), inbox: await inboxRows() };
    const again = await reconcile({ tenantId: tenantId('lossy'), since, dryRun: false });
    expect({ repaired: again.repaired, differences: again.differences.map((d: Obj) => `${d.kind} ${d.objectId}`).sort() }).toEqual({ repaired: 0, differences: ['unattributable ch_lossy_x', 'unattributable pi_lossy_x'] });
    const full = await reconcile({ tenantId: tenantId('full'), since, dryRun: false });
    expect(full.differences.map((d: Obj) => `${d.kind} ${d.objectId}`).sort()).toEqual(['unattributable ch_full_x', 'unattributable pi_full_x']);
    await settle.settled({ allowParked: true });
    expect({ seen: await seen('lossy'), inbox: await inboxRows() }).toEqual(before);
  });
});
