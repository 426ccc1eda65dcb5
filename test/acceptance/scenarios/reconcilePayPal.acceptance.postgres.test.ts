/**
 * Named regression (issue #16, lost webhooks, PayPal): a capture Settle made at PayPal but did not
 * record (it crashed right after), and refunds made in PayPal's dashboard whose webhooks were
 * lost, were never seen: the invoice stayed open though paid, the refund was missing. PayPal has
 * no list API for captures, so reconciliation re-reads every order Settle created. Story: a twin
 * invoice lives the same history and gets its webhooks (the reference). A dry run lists what is
 * missing and changes nothing visible; a run makes the lost invoice equal its twin and records
 * the other refund; a second run finds nothing.
 * Real services: the built service as a child process on PostgreSQL (DATABASE_URL) with
 * in-process messaging, and the PayPal simulator (test/simulators/paypal: PayPal's published
 * REST API, signed webhooks).
 */
import { startPayPalSimulator, type PayPalSimulator } from '../../simulators/paypal';
import { PayPalDashboard } from '../driver/paypalDashboard';
import { startSettle, until, type Settle } from '../driver/service';
import { newTenant, type Tenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

describe('reconciliation of lost PayPal webhooks (PostgreSQL, PayPal simulator)', () => {
  let sim: PayPalSimulator;
  let settle: Settle;
  let tenant: Tenant;
  const since = new Date(Date.now() - 86_400_000).toISOString();
  const ids: Record<string, { invoiceId: string; orderId: string; captureId?: string; refundId?: string }> = {};

  async function payableInvoice(name: string, unitAmount: number): Promise<void> {
    const inv = await tenant.api.post<{ invoiceId: string }>('/v1/invoices', {
      customerId: `client-${name}`, customer: { name: 'Client', email: 'client@example.com' }, currency: 'EUR',
      lineItems: [{ description: 'Coaching', quantity: 1, unitAmount }], dueDate: '2027-12-31', allowedPaymentMethods: ['paypal'],
    });
    expect(inv.status).toBe(201);
    const started = await tenant.api.post<{ reference: string }>(`/v1/invoices/${inv.body.invoiceId}/payment-sessions`, { method: 'paypal' });
    expect(started.status).toBe(201);
    ids[name] = { invoiceId: inv.body.invoiceId, orderId: started.body.reference };
  }

  const invoice = async (name: string) => (await until(() => tenant.api.get<Obj>(`/v1/invoices/${ids[name]!.invoiceId}`), (r) => r.status === 200)).body;
  const visible = (i: Obj) => ({ status: i.status, amountPaid: i.amountPaid, amountRefunded: i.amountRefunded, total: i.total });
  const everything = async () => Object.fromEntries(await Promise.all(Object.keys(ids).map(async (n) => [n, visible(await invoice(n))] as const)));
  const inboxRows = async () => (await settle.metrics()).samples('settle_webhook_inbox').reduce((s, x) => s + x.value, 0);

  beforeAll(async () => {
    sim = await startPayPalSimulator();
    settle = await startSettle({
      storage: 'postgres',
      messaging: 'in-process',
      env: { PAYPAL_API_BASE: sim.url, PAYPAL_CLIENT_ID: sim.clientId, PAYPAL_CLIENT_SECRET: sim.clientSecret, PAYPAL_WEBHOOK_ID: sim.webhookId, RECONCILE_PAGE_SIZE: '2', RECONCILE_PAGE_DELAY_MS: '5' },
    });
    tenant = await newTenant(settle, 'coach-paypal-recon');
    const dashboard = new PayPalDashboard(sim);
    await payableInvoice('lost', 12000);
    await payableInvoice('twin', 12000);
    await payableInvoice('returned', 5000);
    await payableInvoice('abandoned', 800);
    for (const n of ['lost', 'twin']) {
      const o = ids[n]!;
      sim.approveOrder(o.orderId);
      o.captureId = await dashboard.capture(o.orderId);
      o.refundId = await dashboard.refund(o.captureId, 3000, 'EUR');
    }
    // only the twin's webhooks arrive
    const hook = `${settle.url}/webhooks/paypal`;
    expect((await sim.sendWebhook(hook, sim.events.captureCompleted(ids.twin!.captureId!))).status).toBe(200);
    expect((await sim.sendWebhook(hook, sim.events.captureRefunded(ids.twin!.refundId!))).status).toBe(200);
    // the buyer came back: Settle captured and recorded it; a later dashboard refund's webhook is lost
    sim.approveOrder(ids.returned!.orderId);
    expect((await fetch(`${settle.url}/pay/paypal/return?token=${ids.returned!.orderId}&PayerID=PAYER1`, { headers: { accept: 'application/json' } })).status).toBe(200);
    await until(() => invoice('returned'), (i) => i.status === 'paid');
    const capture = String(sim.order(ids.returned!.orderId)?.purchase_units?.[0]?.payments?.captures?.[0]?.id ?? '');
    ids.returned!.refundId = await dashboard.refund(capture, 1000, 'EUR');
    await settle.settled();
    await until(() => invoice('twin'), (i) => i.amountRefunded?.amount === 3000);
  }, 120_000);
  afterAll(async () => {
    await settle?.stop();
    await sim?.close();
  });

  async function reconcile(body: Obj): Promise<Obj> {
    const started = await settle.admin.post<{ runId: string }>('/v1/admin/reconciliations', body);
    expect(started.status).toBe(202);
    const run = await until(async () => (await settle.admin.get<Obj>(`/v1/admin/reconciliations/${started.body.runId}`)).body, (r) => r.status !== 'running', 30_000);
    expect(run).toMatchObject({ status: 'succeeded', error: null });
    return run;
  }

  test('a dry run lists the lost capture and refunds, and changes nothing', async () => {
    const before = { seen: await everything(), inbox: await inboxRows() };
    expect(before.seen.lost).toMatchObject({ status: 'open' });
    expect(before.seen.returned).toMatchObject({ status: 'paid', amountRefunded: { amount: 0 } });
    const run = await reconcile({ tenantId: tenant.id, since, dryRun: true });
    expect(run.differences.map((d: Obj) => [d.eventType, d.outcome]).sort()).toEqual([
      ['PAYMENT.CAPTURE.COMPLETED', 'would_repair'],
      ['PAYMENT.CAPTURE.REFUNDED', 'would_repair'],
      ['PAYMENT.CAPTURE.REFUNDED', 'would_repair'],
    ]);
    expect(run).toMatchObject({ found: 3, repaired: 0, dryRun: true });
    await settle.settled();
    expect({ seen: await everything(), inbox: await inboxRows() }).toEqual(before);
  });

  test('a run records what was lost exactly as the webhooks would have (the lost invoice equals its twin); a second run finds nothing', async () => {
    sim.failNext(2, { status: 429 }, (r) => r.method === 'GET' && r.path.startsWith('/v2/checkout/orders/'));
    const run = await reconcile({ tenantId: tenant.id, since, dryRun: false });
    expect({ found: run.found, repaired: run.repaired, unrepairable: run.unrepairable }).toEqual({ found: 3, repaired: 3, unrepairable: 0 });
    const twin = visible(await invoice('twin'));
    expect(twin).toMatchObject({ status: 'paid', amountPaid: { amount: 12000 }, amountRefunded: { amount: 3000 } });
    expect(visible(await until(() => invoice('lost'), (i) => JSON.stringify(visible(i)) === JSON.stringify(twin)))).toEqual(twin);
    expect(visible(await until(() => invoice('returned'), (i) => i.amountRefunded?.amount === 1000))).toMatchObject({ status: 'paid', amountPaid: { amount: 5000 }, amountRefunded: { amount: 1000 } });
    expect((await invoice('abandoned')).status).toBe('open');

    await settle.settled();
    const before = { seen: await everything(), inbox: await inboxRows() };
    const again = await reconcile({ tenantId: tenant.id, since, dryRun: false });
    expect({ found: again.found, repaired: again.repaired }).toEqual({ found: 0, repaired: 0 });
    await settle.settled();
    expect({ seen: await everything(), inbox: await inboxRows() }).toEqual(before);
  });
});
