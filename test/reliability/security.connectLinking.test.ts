/**
 * Linking a Stripe connected account to a tenant is an operator act, through HTTP with signed
 * Connect webhooks and stripe-mock behind a recording proxy:
 * - an account nobody linked cannot link itself (account.updated with metadata.tenant_id);
 * - re-linking replaces the tenant's current account (the old one is kept as previous), whatever
 *   the old account sends afterwards; Checkout Sessions go to the current account only;
 * - payments reported by the old account are recorded and flagged, never applied.
 */
import { randomBytes } from 'node:crypto';
import { invoiceDecider, type InvoiceEvent } from '../../domain/invoice/invoice';
import { fold } from '../../domain/shared/decider';
import { ADMIN_KEY, client } from '../support/api';
import { dropSchema } from '../support/databases';
import { deliverApplied, type TestService } from '../support/service';
import { stripeEvent, type StripeEvent } from '../support/stripeEvents';
import { CONNECT_SECRET, header, invoiceBody, RecordingProxy, securityService, stripeMockBase, tenantWithKey } from './security.support';

describe('security: Connect accounts are linked by operators only', () => {
  let svc: TestService;
  /** Delivered and applied (queue first): `body.status` is the inbox row's status. */
  const deliver = (url: string, event: StripeEvent, secret: string) => deliverApplied(svc, url, event, secret);
  const proxy = new RecordingProxy(new URL(stripeMockBase()));
  const schema = `sec_l_${randomBytes(5).toString('hex')}`;
  let api: ReturnType<typeof client>;
  const admin = () => client(svc.url, ADMIN_KEY);
  const connect = () => `${svc.url}/webhooks/stripe/connect`;

  beforeAll(async () => {
    await proxy.start();
    svc = await securityService(schema, 'warn', { STRIPE_API_BASE: proxy.url });
    api = (await tenantWithKey(svc.url, 'linked')).api;
    await tenantWithKey(svc.url, 'other');
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await proxy.stop();
    await dropSchema(schema);
  });

  const accountUpdated = (accountId: string, claimedTenant: string) =>
    stripeEvent('account.updated', (o, ev) => {
      o.id = accountId;
      ev.account = accountId;
      o.charges_enabled = true;
      o.metadata = { tenant_id: claimedTenant };
    });
  const inboxRow = async (eventId: string) =>
    (await svc.runtime.db.query<{ status: string; last_error: string | null }>('SELECT status, last_error FROM webhook_inbox WHERE event_id = $1', [eventId])).rows[0]!;
  const flagged = async (reason: string, type: string) => {
    const m = (await svc.runtime.metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'settle_connect_account_flagged_total');
    return (m?.values ?? []).find((v) => v.labels.reason === reason && v.labels.type === type)?.value ?? 0;
  };
  const invoiceState = async (invoiceId: string) => fold(invoiceDecider, (await svc.runtime.eventStore.readStream(`invoice-linked.${invoiceId}`)).map((e) => ({ type: e.type, data: e.data })) as InvoiceEvent[]);
  async function newInvoice(amount: number): Promise<string> {
    const r = await api.post<{ invoiceId: string }>('/v1/invoices', invoiceBody(`c-${amount}`, `c${amount}@example.com`, amount));
    expect(r.status).toBe(201);
    return r.body.invoiceId;
  }
  /** Starts a Connect payment of the invoice and returns the Stripe-Account the Checkout Session was created on. */
  async function sessionAccount(invoiceId: string): Promise<string | undefined> {
    const before = proxy.requests.length;
    const r = await api.post<{ reference: string }>(`/v1/invoices/${invoiceId}/payment-sessions`, { method: 'stripe_connect' });
    expect(r.status).toBe(201);
    const calls = proxy.requests.slice(before).filter((x) => x.method === 'POST' && x.path === '/v1/checkout/sessions');
    expect(calls).toHaveLength(1);
    return header(calls[0]!, 'stripe-account');
  }
  const payment = (accountId: string, invoiceId: string, amount: number, piId: string) =>
    stripeEvent('payment_intent.succeeded', (o, ev) => {
      ev.account = accountId;
      Object.assign(o, { id: piId, metadata: { tenant_id: 'linked', invoice_id: invoiceId }, amount, amount_received: amount, currency: 'eur', latest_charge: `ch_${piId.slice(3)}` });
    });

  test('an account.updated from an account nobody linked does not link it, whatever tenant its metadata names', async () => {
    const e = accountUpdated('acct_1SelfLinker', 'linked');
    expect((await deliver(connect(), e, CONNECT_SECRET)).body).toMatchObject({ status: 'processed' });
    const inv = await newInvoice(1000);
    const r = await api.post<{ code: string }>(`/v1/invoices/${inv}/payment-sessions`, { method: 'stripe_connect' });
    expect({ status: r.status, code: r.body.code }).toEqual({ status: 409, code: 'no_connected_account' });
    expect(proxy.requests.filter((x) => x.path === '/v1/checkout/sessions')).toHaveLength(0);
    expect((await admin().get('/v1/tenants/linked/stripe-account')).body).toEqual({ data: [] });
    // visible: the inbox row says why, and the metric counts it
    expect((await inboxRow(e.id)).last_error).toMatch(/needs attention: account acct_1SelfLinker is not linked to a tenant/);
    expect(await flagged('never_linked', 'account.updated')).toBe(1);
    // its payments do not pay the tenant's invoice: they wait, flagged, until an operator links the account
    const pay = payment('acct_1SelfLinker', inv, 1000, 'pi_selflinker_1');
    expect((await deliver(connect(), pay, CONNECT_SECRET)).body).toMatchObject({ status: 'parked' });
    expect((await invoiceState(inv)).status).toBe('open');
    expect((await inboxRow(pay.id)).last_error).toMatch(/not linked to a tenant/);
  });

  test('re-linking replaces the current account; the old one sending account.updated again does not win it back', async () => {
    expect((await admin().post('/v1/tenants/linked/stripe-account', { accountId: 'acct_1OldAccount' })).body).toMatchObject({ previousAccountId: null });
    await deliver(connect(), accountUpdated('acct_1OldAccount', 'linked'), CONNECT_SECRET);
    expect(await sessionAccount(await newInvoice(2000))).toBe('acct_1OldAccount');

    const relinked = await admin().post('/v1/tenants/linked/stripe-account', { accountId: 'acct_1NewAccount' });
    expect(relinked).toMatchObject({ status: 200, body: { accountId: 'acct_1NewAccount', previousAccountId: 'acct_1OldAccount' } });
    await deliver(connect(), accountUpdated('acct_1NewAccount', 'linked'), CONNECT_SECRET);
    expect(await sessionAccount(await newInvoice(2100))).toBe('acct_1NewAccount');

    // the old account reports itself again (last sender used to win): still the new one
    const again = accountUpdated('acct_1OldAccount', 'linked');
    expect((await deliver(connect(), again, CONNECT_SECRET)).status).toBe(200);
    expect(await sessionAccount(await newInvoice(2200))).toBe('acct_1NewAccount');

    const list = await admin().get<{ data: Array<{ accountId: string; status: string; chargesEnabled: boolean }> }>('/v1/tenants/linked/stripe-account');
    expect(list.body.data.map((a) => [a.accountId, a.status])).toEqual([
      ['acct_1NewAccount', 'current'],
      ['acct_1OldAccount', 'previous'],
    ]);
    const { rows } = await svc.runtime.db.query<{ n: string }>(`SELECT count(*) AS n FROM connected_accounts WHERE tenant_id = 'linked' AND link_status = 'current'`);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  test("a payment reported by the previous account is recorded and flagged, and does not pay the tenant's invoice; the current account's does", async () => {
    const inv = await newInvoice(3000);
    const old = payment('acct_1OldAccount', inv, 3000, 'pi_old_account_1');
    expect((await deliver(connect(), old, CONNECT_SECRET)).body).toMatchObject({ status: 'processed' });
    expect((await invoiceState(inv)).status).toBe('open');
    expect(await inboxRow(old.id)).toMatchObject({ status: 'processed', last_error: expect.stringContaining('needs attention: account acct_1OldAccount is no longer the connected account of tenant linked') });
    expect(await flagged('previous_account', 'payment_intent.succeeded')).toBe(1);
    // redelivered: still not applied, counted once
    await deliver(connect(), old, CONNECT_SECRET);
    expect((await invoiceState(inv)).status).toBe('open');
    expect(await flagged('previous_account', 'payment_intent.succeeded')).toBe(1);

    const current = payment('acct_1NewAccount', inv, 3000, 'pi_new_account_1');
    expect((await deliver(connect(), current, CONNECT_SECRET)).body).toMatchObject({ status: 'processed' });
    expect(await invoiceState(inv)).toMatchObject({ status: 'paid', amountPaid: 3000 });
  });

  test('an account linked to one tenant cannot be linked to another (409), and nothing changes', async () => {
    const r = await admin().post<{ type: string }>('/v1/tenants/other/stripe-account', { accountId: 'acct_1NewAccount' });
    expect(r).toMatchObject({ status: 409, body: { type: 'https://settle.dev/problems/stripe-account-linked-elsewhere' } });
    const r2 = await admin().post<{ type: string }>('/v1/tenants/other/stripe-account', { accountId: 'acct_1OldAccount' });
    expect(r2.status).toBe(409);
    expect((await admin().get('/v1/tenants/other/stripe-account')).body).toEqual({ data: [] });
    expect(await sessionAccount(await newInvoice(2300))).toBe('acct_1NewAccount');
  });
});
