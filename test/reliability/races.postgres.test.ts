/**
 * Duplicates and disorder over HTTP against a real PostgreSQL (DATABASE_URL): the same provider
 * event 50 times at once has one effect; complete booking and invoice payment histories delivered
 * in many random orders end in the same state as in-order delivery (events that come early are
 * parked and applied once their target exists).
 */
import { randomBytes } from 'node:crypto';
import { bookingDecider, type BookingState } from '../../domain/booking/booking';
import { fold, type Command, type Decider, type DomainEvent } from '../../domain/shared/decider';
import { invoiceDecider, type InvoiceState } from '../../domain/invoice/invoice';
import { ADMIN_KEY, client } from '../support/api';
import { databaseUrl, dropSchema } from '../support/databases';
import { rng } from '../support/histories';
import { appliedRow, startTestService, type TestService } from '../support/service';
import { deliver, stripeEvent, type StripeEvent } from '../support/stripeEvents';

const SECRET = 'whsec_races';

describe('duplicates and disorder (PostgreSQL)', () => {
  let svc: TestService;
  let api: ReturnType<typeof client>;
  const schema = `race_${randomBytes(5).toString('hex')}`;
  let hook: string;

  beforeAll(async () => {
    svc = await startTestService({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: schema, ADMIN_API_KEY: ADMIN_KEY, KAFKA_BROKERS: undefined, STRIPE_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'error' });
    hook = `${svc.url}/webhooks/stripe`;
    const admin = client(svc.url, ADMIN_KEY);
    await admin.post('/v1/tenants', { tenantId: 'trips', name: 'Trips' });
    api = client(svc.url, (await admin.post<{ apiKey: string }>('/v1/tenants/trips/api-keys', {})).body.apiKey);
    await api.post('/v1/departures', { departureId: 'NOR-27', name: 'Norway', paymentScheduleId: 'sched', capacity: 1000 });
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    await dropSchema(schema);
  });

  const state = async <E extends DomainEvent, S>(stream: string, decider: Pick<Decider<Command, E, S>, 'evolve' | 'initialState'>): Promise<S> =>
    fold(decider, (await svc.runtime.eventStore.readStream(stream)).map((e) => ({ type: e.type, data: e.data })) as E[]);

  async function booking(amount: number): Promise<string> {
    return (
      await api.post<{ bookingId: string }>('/v1/bookings', {
        departureId: 'NOR-27',
        contact: { firstName: 'Ada', lastName: 'L', email: 'ada@example.com', phone: '+1 555 0100' },
        guests: [{ firstName: 'Ada', lastName: 'L' }],
        price: { amount, currency: 'USD' },
      })
    ).body.bookingId;
  }

  async function invoice(amount: number): Promise<string> {
    return (
      await api.post<{ invoiceId: string }>('/v1/invoices', {
        customerId: 'client',
        customer: { name: 'Client', email: 'client@example.com' },
        currency: 'USD',
        lineItems: [{ description: 'Session', quantity: 1, unitAmount: amount }],
        dueDate: '2026-12-31',
        allowedPaymentMethods: ['stripe_connect'],
      })
    ).body.invoiceId;
  }

  function pi(file: string, target: Record<string, string>, amount: number, id: string, charge: string): StripeEvent {
    return stripeEvent(file, (o) => {
      Object.assign(o, { id, metadata: { tenant_id: 'trips', ...target }, amount, amount_received: file === 'payment_intent.succeeded' ? amount : 0, latest_charge: charge, currency: 'usd' });
      if (o.last_payment_error) o.last_payment_error.charge = `${charge}_failed`;
    });
  }

  function shuffled<T>(xs: readonly T[], seed: number): T[] {
    const out = [...xs];
    const r = rng(seed);
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  async function settle(): Promise<void> {
    for (let i = 0; i < 6; i++) await svc.runtime.inboxRetrier.runOnce(true);
  }

  test('the same provider event delivered 50 times concurrently has exactly one effect', async () => {
    const id = await booking(120000);
    const e = pi('payment_intent.succeeded', { booking_id: id }, 120000, `pi_50_${id}`, `ch_50_${id}`);
    const results = await Promise.all(Array.from({ length: 50 }, () => deliver(hook, e, SECRET)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    await appliedRow(svc, 'stripe', e.id); // queue first: a 200 means stored
    const events = await svc.runtime.eventStore.readStream(`booking-trips.${id}`);
    expect(events.map((x) => x.type)).toEqual(['BookingRequested', 'BookingPaymentCompleted']);
    const { rows } = await svc.runtime.db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_inbox WHERE event_id = $1', [e.id]);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  test('a booking history (failed attempt, payment, partial refund) in any order ends like in-order delivery', async () => {
    const history = (id: string): StripeEvent[] => [
      pi('payment_intent.payment_failed', { booking_id: id }, 90000, `pi_h_${id}`, `ch_h_${id}`),
      pi('payment_intent.succeeded', { booking_id: id }, 90000, `pi_h_${id}`, `ch_h_${id}`),
      stripeEvent('charge.refunded', (_o, ev) => {
        ev.type = 'refund.created';
        ev.data.object = { id: `re_h_${id}`, object: 'refund', amount: 30000, currency: 'usd', status: 'succeeded', charge: `ch_h_${id}`, payment_intent: `pi_h_${id}`, metadata: {} };
      }),
    ];
    const summary = (s: BookingState) => ({ status: s.status, paid: s.payment?.amount, refunded: s.refunded, failedAttempts: s.failedAttempts.length, attention: s.needsAttention });
    const ref = await booking(90000);
    for (const e of history(ref)) await deliver(hook, e, SECRET);
    await settle();
    const expected = summary(await state(`booking-trips.${ref}`, bookingDecider));
    expect(expected).toMatchObject({ status: 'paid', refunded: 30000, failedAttempts: 1 });
    for (let seed = 1; seed <= 12; seed++) {
      const id = await booking(90000);
      for (const e of shuffled(history(id), seed)) expect((await deliver(hook, e, SECRET)).status).toBe(200);
      await settle();
      expect(summary(await state(`booking-trips.${id}`, bookingDecider))).toEqual(expected);
    }
  });

  test('an invoice history (action required, failure, payment, refund, dispute opened and won) in any order ends like in-order delivery', async () => {
    const history = (id: string): StripeEvent[] => {
      const piId = `pi_i_${id}`;
      const ch = `ch_i_${id}`;
      return [
        pi('payment_intent.requires_action', { invoice_id: id }, 5000, piId, ch),
        pi('payment_intent.payment_failed', { invoice_id: id }, 5000, piId, ch),
        pi('payment_intent.succeeded', { invoice_id: id }, 5000, piId, ch),
        stripeEvent('charge.refunded', (_o, ev) => {
          ev.type = 'refund.created';
          ev.data.object = { id: `re_i_${id}`, object: 'refund', amount: 1000, currency: 'usd', status: 'succeeded', charge: ch, payment_intent: piId, metadata: { tenant_id: 'trips', invoice_id: id } };
        }),
        stripeEvent('charge.dispute.created', (o) => Object.assign(o, { id: `dp_i_${id}`, charge: ch, payment_intent: piId, amount: 2000, currency: 'usd', metadata: { tenant_id: 'trips', invoice_id: id } })),
        stripeEvent('charge.dispute.created', (o, ev) => {
          ev.type = 'charge.dispute.closed';
          Object.assign(o, { id: `dp_i_${id}`, charge: ch, payment_intent: piId, amount: 2000, currency: 'usd', status: 'won', metadata: { tenant_id: 'trips', invoice_id: id } });
        }),
      ];
    };
    const summary = (s: InvoiceState) => ({
      status: s.status,
      paid: s.amountPaid,
      refunded: s.amountRefunded,
      disputed: s.amountDisputed,
      lost: s.amountLost,
      collected: s.collected,
      failures: s.attempts.filter((a) => a.outcome === 'failed').length,
      overpayments: s.overpayments.length,
    });
    const ref = await invoice(5000);
    for (const e of history(ref)) await deliver(hook, e, SECRET);
    await settle();
    const expected = summary(await state(`invoice-trips.${ref}`, invoiceDecider));
    expect(expected).toMatchObject({ status: 'paid', paid: 5000, refunded: 1000, disputed: 0, lost: 0, collected: 4000, failures: 1, overpayments: 0 });
    for (let seed = 1; seed <= 12; seed++) {
      const id = await invoice(5000);
      for (const e of shuffled(history(id), seed)) expect((await deliver(hook, e, SECRET)).status).toBe(200);
      await settle();
      expect(summary(await state(`invoice-trips.${id}`, invoiceDecider))).toEqual(expected);
    }
    const parked = await svc.runtime.db.query(`SELECT event_type, last_error FROM webhook_inbox WHERE status = 'parked'`);
    expect(parked.rows).toEqual([]);
  });
});
