/**
 * Named regression (issue #16, Connect linking): any connected account could link itself to a
 * tenant by sending account.updated with metadata.tenant_id, the last account to send one won
 * (an old account took the tenant back after an operator re-linked it), and a payment reported
 * by the previous account paid the tenant's invoice. Now only an operator links accounts
 * (POST /v1/tenants/{id}/stripe-account); re-linking replaces the current account (the old one is
 * listed as previous); Checkout Sessions go to the current account; a payment from an account
 * nobody linked waits, and one from the previous account is recorded, flagged
 * (settle_connect_account_flagged_total) and never applied.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, stripe-mock (STRIPE_API_BASE) behind a recording proxy (to see the
 * Stripe-Account of each Checkout Session); signed Connect webhooks built from Stripe's published
 * example objects.
 */
import { deliver, stripeEvent } from '../../support/stripeEvents';
import { STRIPE_CONNECT_SECRET, startSettle, until, type Settle } from '../driver/service';
import { stripeMockProxy, type StripeProxy } from '../driver/stripeProxy';
import { newTenant, type Tenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

describe('Connect accounts are linked by operators only (PostgreSQL, stripe-mock)', () => {
  let settle: Settle;
  let proxy: StripeProxy;
  let tenant: Tenant;
  beforeAll(async () => {
    proxy = stripeMockProxy();
    await proxy.start();
    settle = await startSettle({ storage: 'postgres', messaging: 'in-process', env: { STRIPE_API_BASE: proxy.url } });
    tenant = await newTenant(settle, 'coach-linking');
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await proxy?.stop();
  });

  const connect = (e: Obj) => deliver(`${settle.url}/webhooks/stripe/connect`, e as never, STRIPE_CONNECT_SECRET);
  const accountUpdated = (accountId: string) =>
    stripeEvent('account.updated', (o, ev) => {
      o.id = accountId;
      ev.account = accountId;
      o.charges_enabled = true;
      o.metadata = { tenant_id: tenant.id };
    });
  const payment = (accountId: string, invoiceId: string, amount: number, pi: string) =>
    stripeEvent('payment_intent.succeeded', (o, ev) => {
      ev.account = accountId;
      Object.assign(o, { id: pi, metadata: { tenant_id: tenant.id, invoice_id: invoiceId }, amount, amount_received: amount, currency: 'eur', latest_charge: `ch_${pi.slice(3)}` });
    });
  /** Webhook inbox rows in a status (queue first: the 200 says stored; the row's status is what the applier made of it). */
  const inboxRows = async (status: string) => (await settle.metrics()).value('settle_webhook_inbox', { status }) ?? 0;
  const flagged = async (reason: string, type: string) => (await settle.metrics()).value('settle_connect_account_flagged_total', { reason, type }) ?? 0;
  /** The invoice as the API shows it (once its read model has it: it follows the creation asynchronously). */
  const invoice = async (id: string) => (await until(() => tenant.api.get<Obj>(`/v1/invoices/${id}`), (r) => r.status === 200)).body;
  async function newInvoice(amount: number): Promise<string> {
    const r = await tenant.api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: `client-${amount}`,
      customer: { name: 'Client', email: `c${amount}@example.com` },
      currency: 'EUR',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount: amount }],
      dueDate: '2027-12-31',
      allowedPaymentMethods: ['stripe_connect'],
    });
    expect(r.status).toBe(201);
    return r.body.invoiceId;
  }
  /** Starts a Connect payment and returns the Stripe-Account its Checkout Session was created on. */
  async function sessionAccount(invoiceId: string): Promise<string | undefined> {
    const before = proxy.calls.length;
    const r = await tenant.api.post<Obj>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'stripe_connect' });
    expect(r.status).toBe(201);
    const calls = proxy.calls.slice(before).filter((x) => x.method === 'POST' && x.path === '/v1/checkout/sessions');
    expect(calls).toHaveLength(1);
    return calls[0]!.account;
  }

  test('an account nobody linked cannot link itself; its payment does not pay the invoice', async () => {
    const e = accountUpdated('acct_1AccSelfLinker');
    expect(await connect(e)).toMatchObject({ status: 200 });
    await settle.settled();
    const inv = await newInvoice(1000);
    const r = await tenant.api.post<Obj>(`/v1/invoices/${inv}/payment-sessions`, { method: 'stripe_connect' });
    expect({ status: r.status, code: r.body.code }).toEqual({ status: 409, code: 'no_connected_account' });
    expect(proxy.callsTo('POST', '/v1/checkout/sessions')).toHaveLength(0);
    expect((await settle.admin.get(`/v1/tenants/${tenant.id}/stripe-account`)).body).toEqual({ data: [] });
    expect(await flagged('never_linked', 'account.updated')).toBe(1);

    const pay = payment('acct_1AccSelfLinker', inv, 1000, 'pi_acc_selflinker_1');
    const parkedBefore = await inboxRows('parked');
    expect(await connect(pay)).toMatchObject({ status: 200, body: { received: true, duplicate: false } });
    await settle.settled({ allowParked: true });
    expect(await until(() => inboxRows('parked'), (n) => n === parkedBefore + 1)).toBe(parkedBefore + 1);
    expect(await invoice(inv)).toMatchObject({ status: 'open', amountPaid: { amount: 0, currency: 'EUR' } });
  }, 60_000);

  test('re-linking replaces the current account; the old one sending account.updated again does not win it back', async () => {
    expect((await settle.admin.post<Obj>(`/v1/tenants/${tenant.id}/stripe-account`, { accountId: 'acct_1AccOldAccount' })).body).toMatchObject({ previousAccountId: null });
    await connect(accountUpdated('acct_1AccOldAccount'));
    await settle.settled({ allowParked: true });
    expect(await sessionAccount(await newInvoice(2000))).toBe('acct_1AccOldAccount');

    const relinked = await settle.admin.post<Obj>(`/v1/tenants/${tenant.id}/stripe-account`, { accountId: 'acct_1AccNewAccount' });
    expect(relinked).toMatchObject({ status: 200, body: { accountId: 'acct_1AccNewAccount', previousAccountId: 'acct_1AccOldAccount' } });
    await connect(accountUpdated('acct_1AccNewAccount'));
    await settle.settled({ allowParked: true });
    expect(await sessionAccount(await newInvoice(2100))).toBe('acct_1AccNewAccount');

    expect((await connect(accountUpdated('acct_1AccOldAccount'))).status).toBe(200);
    await settle.settled({ allowParked: true });
    expect(await sessionAccount(await newInvoice(2200))).toBe('acct_1AccNewAccount');
    const list = await settle.admin.get<{ data: Obj[] }>(`/v1/tenants/${tenant.id}/stripe-account`);
    expect(list.body.data.map((a) => [a.accountId, a.status])).toEqual([
      ['acct_1AccNewAccount', 'current'],
      ['acct_1AccOldAccount', 'previous'],
    ]);
  }, 60_000);

  test("a payment from the previous account does not pay the invoice and is flagged (once, even redelivered); the current account's does", async () => {
    const inv = await newInvoice(3000);
    const old = payment('acct_1AccOldAccount', inv, 3000, 'pi_acc_old_account_1');
    expect(await connect(old)).toMatchObject({ status: 200, body: { received: true, duplicate: false } });
    await settle.settled({ allowParked: true });
    expect(await invoice(inv)).toMatchObject({ status: 'open', amountPaid: { amount: 0, currency: 'EUR' } });
    expect(await flagged('previous_account', 'payment_intent.succeeded')).toBe(1);
    expect((await connect(old)).status).toBe(200);
    await settle.settled({ allowParked: true });
    expect(await invoice(inv)).toMatchObject({ status: 'open', amountPaid: { amount: 0, currency: 'EUR' } });
    expect(await flagged('previous_account', 'payment_intent.succeeded')).toBe(1);

    expect(await connect(payment('acct_1AccNewAccount', inv, 3000, 'pi_acc_new_account_1'))).toMatchObject({ status: 200, body: { received: true } });
    expect(await until(() => invoice(inv), (x) => x.status === 'paid')).toMatchObject({ status: 'paid', amountPaid: { amount: 3000, currency: 'EUR' } });
  }, 60_000);

  test('an account linked to one tenant cannot be linked to another (409)', async () => {
    await newTenant(settle, 'coach-other');
    const r = await settle.admin.post<Obj>('/v1/tenants/coach-other/stripe-account', { accountId: 'acct_1AccNewAccount' });
    expect(r).toMatchObject({ status: 409, body: { type: 'https://settle.dev/problems/stripe-account-linked-elsewhere' } });
    expect((await settle.admin.get('/v1/tenants/coach-other/stripe-account')).body).toEqual({ data: [] });
  }, 30_000);
});
