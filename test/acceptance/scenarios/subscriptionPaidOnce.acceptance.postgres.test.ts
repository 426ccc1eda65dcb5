/**
 * Named regression (issue #16, defect 1): a paid subscription invoice was counted twice in the
 * finance report (gross 5800 for one 2900 EUR payment) and listed as two succeeded attempts.
 * One provider payment is one payment, whatever it paid for. Black box: the built service on
 * PostgreSQL (DATABASE_URL) with Kafka (KAFKA_BROKERS), signed platform webhooks built from
 * Stripe's published example objects; 100-character tenant and customer ids.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fixturesDir } from '../../support/fixtures';
import { startSettle, until, type Settle } from '../driver/service';
import { deliver } from '../driver/stripeWorld';
import { idOfLength, newTenant } from '../driver/tenant';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
const fixture = (type: string): any => JSON.parse(fs.readFileSync(path.join(fixturesDir('stripe', 'events'), `${type}.json`), 'utf8'));

describe('one paid subscription invoice is one payment (PostgreSQL, Kafka)', () => {
  let settle: Settle;
  beforeAll(async () => {
    settle = await startSettle({ storage: 'postgres', messaging: 'kafka' });
  }, 90_000);
  afterAll(async () => settle?.stop());

  test('payments list one succeeded attempt; finance gross 2900 EUR, one payment', async () => {
    const tenant = await newTenant(settle, idOfLength('Tsub'));
    const customerId = idOfLength('Csub');
    const sub = 'sub_acc_paid_once';
    const cus = 'cus_acc_paid_once';
    const md = { tenant_id: tenant.id, customer_id: customerId, plan_id: 'pro' };
    const now = Math.floor(Date.now() / 1000);
    const event = (type: string, base: string, id: string, object: (o: any) => void) => {
      const e = fixture(base);
      e.type = type;
      e.id = id;
      e.created = now;
      delete e.account;
      object(e.data.object);
      return { id, type, account: null, body: JSON.stringify(e) };
    };
    const deliveries = [
      event('checkout.session.completed', 'checkout.session.completed', 'evt_acc_sub_1', (o) => Object.assign(o, { mode: 'subscription', customer: cus, subscription: sub, payment_intent: null, metadata: md, currency: 'eur', amount_total: 2900 })),
      event('customer.subscription.created', 'customer.subscription.created', 'evt_acc_sub_2', (o) => Object.assign(o, { id: sub, customer: cus, metadata: md, currency: 'eur' })),
      event('invoice.paid', 'invoice.paid', 'evt_acc_sub_3', (o) => {
        Object.assign(o, { id: 'in_acc_paid_once', customer: cus, subscription: sub, billing_reason: 'subscription_create', currency: 'eur', amount_paid: 2900, amount_due: 2900, total: 2900, subtotal: 2900, payment_intent: 'pi_acc_paid_once', charge: 'ch_acc_paid_once' });
        o.parent = { type: 'subscription_details', subscription_details: { subscription: sub, metadata: md } };
        o.lines.data[0].period = { start: now - 60, end: now + 30 * 86_400 };
        // paid now (the ledger books a payment on the day the provider says it was paid)
        o.created = now - 60;
        o.status_transitions = { ...o.status_transitions, finalized_at: now - 60, paid_at: now };
      }),
    ];
    for (const d of deliveries) expect((await deliver(settle.url, d)).status).toBe(200);
    await settle.settled();

    const rows = (await tenant.api.get<any>('/v1/payments?limit=100')).body.data as any[];
    expect(rows.filter((r) => r.status === 'succeeded')).toHaveLength(1);
    expect(rows[0]).toMatchObject({ amount: { amount: 2900, currency: 'EUR' } });
    const day = new Date().toISOString().slice(0, 10);
    const finance = await until(async () => (await tenant.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`)).body, (r) => r.totals?.[0]?.grossCollected > 0);
    expect(finance.totals).toEqual([expect.objectContaining({ currency: 'EUR', grossCollected: 2900, net: 2900, succeededCount: 1 })]);
    // read again after everything settled: still once (no late second message)
    await settle.settled();
    const again = (await tenant.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`)).body;
    expect(again.totals).toEqual(finance.totals);
  }, 60_000);
});
