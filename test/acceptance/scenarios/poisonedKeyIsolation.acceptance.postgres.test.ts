/**
 * Named regression (issue #15, the general fix: failure isolation per message key): one tenant's
 * booking the CRM refused held up every other tenant's CRM sync and finance report, because the
 * refused message was retried in place at the head of the shared stream. Now a key that keeps
 * failing is retried on its own: while the CRM refuses tenant A's booking on every attempt (the
 * CRM simulator's failNext with A's booking as external reference), tenant B's and tenant C's
 * bookings, paid afterwards, reach the CRM and their finance reports within one retry interval;
 * A's booking follows on its next retry once the CRM takes it again. Black box: the built
 * service on PostgreSQL (DATABASE_URL), with Kafka (KAFKA_BROKERS) and with in-process messaging,
 * signed platform webhooks, the CRM simulator. Values at their limits: 100-character tenant and
 * departure ids, JPY (no minor unit) and KWD (three decimals).
 *
 * Not here: a message the broker can never take (isolation.kafka.test.ts writes a 1.5 MB record
 * into the outbox). Through the public API no message comes near the broker's 1 MB limit (JSON
 * bodies are limited to 1 MB, bookings to 50 guests), so a parked key (GET
 * /v1/admin/outbox/parked, /readyz degraded, skip) cannot be provoked from outside.
 */
import { startCrmSimulator, type CrmSimulator } from '../../simulators/crm';
import { crmEnv, financeTotals, paidBooking, readBooking, type Money } from '../driver/bookings';
import { startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant, type Tenant } from '../driver/tenant';

 
/** The retry interval of both the CRM saga and the message consumers. */
const RETRY_MS = 5000;

describe.each(['in-process', 'kafka'] as const)('a booking the CRM refuses forever holds up no other tenant (PostgreSQL, %s messaging, CRM simulator)', (messaging) => {
  let settle: Settle;
  let crm: CrmSimulator;
  beforeAll(async () => {
    crm = await startCrmSimulator();
    settle = await startSettle({
      storage: 'postgres',
      messaging,
      env: crmEnv(crm, RETRY_MS, { timeoutMs: 1000, maxAttempts: 20 }),
    });
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await crm?.close();
  });

  const paid = (tenant: Tenant, tag: string, price: Money, beforePaying?: (bookingId: string) => void) => paidBooking(settle, tenant, price, `${tag}${messaging}`, beforePaying);

  /** Milliseconds from the payment webhook until the booking is in the CRM with its payment and in the finance report. */
  async function timeToCrmAndFinance(tenant: Tenant, tag: string, price: Money): Promise<{ ms: number; bookingId: string }> {
    const t0 = Date.now();
    const bookingId = await paid(tenant, tag, price);
    await until(async () => crm.booking(bookingId)?.payments?.length ?? 0, (n) => n > 0, 30_000);
    const t = await until(() => financeTotals(tenant, price.currency), (x) => x.grossCollected === price.amount, 30_000);
    expect(t.grossCollected).toBe(price.amount);
    expect(crm.booking(bookingId)?.payments?.length).toBe(1);
    return { ms: Date.now() - t0, bookingId };
  }

  test("tenants B and C reach the CRM and finance within one retry interval while A's booking is refused; A follows once the CRM takes it", async () => {
    // warm-up: the consumers are running (with Kafka: joined their groups)
    const w = await newTenant(settle, idOfLength(`TW${messaging}`));
    await timeToCrmAndFinance(w, 'W', { amount: 1_000, currency: 'JPY' });

    const a = await newTenant(settle, idOfLength(`TA${messaging}`));
    const b = await newTenant(settle, idOfLength(`TB${messaging}`));
    const c = await newTenant(settle, idOfLength(`TC${messaging}`));
    const creates = (bookingId: string) => crm.requests('createContactBooking').filter((r) => (r.body)?.external_reference === bookingId);
    const priceA = { amount: 250_000, currency: 'JPY' };
    const bookingA = await paid(a, 'A', priceA, (id) => crm.failNext(1_000_000, 503, { operation: 'createContactBooking', externalReference: id }));
    await until(async () => creates(bookingA).length, (n) => n >= 1, 30_000);
    expect(creates(bookingA).every((r) => r.outcome === 'injected')).toBe(true);

    // while A is refused and waits for its next attempt, B and C pay
    const [rb, rc] = await Promise.all([timeToCrmAndFinance(b, 'B', { amount: 480_000, currency: 'JPY' }), timeToCrmAndFinance(c, 'C', { amount: 1_234_560, currency: 'KWD' })]);
    // behind A's key they would wait for A's whole retry budget (20 attempts, one interval apart)
    expect(rb.ms).toBeLessThan(RETRY_MS);
    expect(rc.ms).toBeLessThan(RETRY_MS);
    // A is still being refused: the measurement ran while A's key was retrying
    expect(creates(bookingA).length).toBeLessThan(20);
    // A was refused meanwhile and is not in the CRM; its money is in A's finance report regardless
    expect(crm.booking(bookingA)).toBeUndefined();
    const financeA = await until(() => financeTotals(a, 'JPY'), (x) => x.grossCollected === priceA.amount);
    expect(financeA.grossCollected).toBe(priceA.amount);
    expect((await readBooking(a, bookingA)).crm.paymentAssociated).toBe(false);

    // the CRM takes A again: A's next retry gets it through, without an operator
    crm.reset();
    await until(async () => crm.booking(bookingA)?.payments?.length ?? 0, (n) => n > 0, 4 * RETRY_MS);
    const doneA = await until(() => readBooking(a, bookingA), (x) => x.crm.paymentAssociated === true, 15_000);
    expect(doneA).toMatchObject({ needsAttention: false, crm: { paymentAssociated: true } });
    await settle.settled();
    expect((await fetch(`${settle.url}/readyz`)).status).toBe(200);
  }, 120_000);
});
