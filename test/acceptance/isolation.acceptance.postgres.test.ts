/**
 * Outside-in isolation property (issue #14, item 5): a history that poisons one tenant's booking
 * (the CRM refuses it on every attempt: 5xx, 429, a request that never answers, or a 4xx
 * rejection) delays no other tenant's effects by more than the normal retry interval.
 *
 * Random histories (fast-check): which failure poisons the booking, how many other tenants pay
 * meanwhile (1-4, ids at the API's 100-character maximum), in which currencies (every exponent)
 * and amounts, and how many of them pay at once. For each history:
 *   1. the poisoned tenant's booking is paid; the CRM refuses it (its first attempt is seen);
 *   2. while its key is retrying, every other tenant's booking is paid: each must be in the CRM
 *      with its payment and in its tenant's finance report within one retry interval;
 *   3. the poisoned booking is not in the CRM, its money is in its finance report regardless;
 *   4. the CRM takes it again: a retryable failure gets through on the next retry without anyone;
 *      a rejection (4xx, final at once) needs a human, and the operator's
 *      `POST /v1/bookings/{id}/crm-retry` gets it through; afterwards nothing is stuck.
 * Black box: the built service on PostgreSQL (DATABASE_URL), with Kafka (KAFKA_BROKERS) and with
 * in-process messaging, signed platform webhooks, the CRM simulator. `npm test` runs a few
 * fixed-seed histories per variant; RELIABILITY_LONG=1 runs ISOLATION_RUNS (default 25).
 *
 * The named example of this property is scenarios/poisonedKeyIsolation (issue #15's regression).
 */
import fc from 'fast-check';
import { startCrmSimulator, type CrmSimFailure, type CrmSimulator } from '../simulators/crm';
import { crmEnv, financeTotals, paidBooking, readBooking, type Money } from './driver/bookings';
import { startSettle, until, type Settle } from './driver/service';
import { newTenant, type Tenant } from './driver/tenant';
import { CURRENCIES, maxIsoAmount } from './model/currencies';

 
const LONG = process.env.RELIABILITY_LONG === '1';
const RUNS = LONG ? Number(process.env.ISOLATION_RUNS ?? 25) : 3;
/** The retry interval of the CRM saga and of the message consumers (the "normal retry interval"). */
const RETRY_MS = 4000;
/** A request the CRM never answers is given up after this long (then retried like a 5xx). */
const CRM_TIMEOUT_MS = 1000;

interface IsolationHistory {
  readonly failure: CrmSimFailure;
  readonly others: ReadonlyArray<Money>;
  /** how many of the other tenants pay at once */
  readonly concurrency: number;
  readonly poisonedPrice: Money;
}

const price: fc.Arbitrary<Money> = fc.constantFrom(...CURRENCIES).chain((c) =>
  fc.integer({ min: 1, max: Math.min(Math.floor(maxIsoAmount(c) / c.isoStep), 10_000_000) }).map((n) => ({ amount: n * c.isoStep, currency: c.code })),
);

const historyArb: fc.Arbitrary<IsolationHistory> = fc.record({
  failure: fc.constantFrom<CrmSimFailure>(503, 500, 502, 429, 'hang', 400, 422),
  others: fc.array(price, { minLength: 1, maxLength: 4 }),
  concurrency: fc.integer({ min: 1, max: 4 }),
  poisonedPrice: price,
});

const retryable = (f: CrmSimFailure) => f === 'hang' || (typeof f === 'number' && (f >= 500 || f === 429 || f === 408));

let counter = 0;
/** A 100-character tenant id, unique per service run. */
function tenantId(prefix: string): string {
  const tag = `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;
  return (tag + 'x'.repeat(100)).slice(0, 100);
}

describe.each(['in-process', 'kafka'] as const)('one tenant poisoned at the CRM holds up no other tenant, over random histories (PostgreSQL, %s messaging, CRM simulator)', (messaging) => {
  let settle: Settle;
  let crm: CrmSimulator;
  beforeAll(async () => {
    crm = await startCrmSimulator();
    settle = await startSettle({
      storage: 'postgres',
      messaging,
      env: crmEnv(crm, RETRY_MS, { timeoutMs: CRM_TIMEOUT_MS, maxAttempts: 50 }),
    });
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await crm?.close();
  });

  const paid = (tenant: Tenant, p: Money, tag: string, beforePaying?: (bookingId: string) => void) => paidBooking(settle, tenant, p, `${tag}${messaging}`, beforePaying);

  /** Milliseconds from the payment webhook until the booking is in the CRM with its payment and in the finance report. */
  async function timeToEffects(tenant: Tenant, p: Money, tag: string): Promise<number> {
    const t0 = Date.now();
    const bookingId = await paid(tenant, p, tag);
    const inCrm = await until(async () => crm.booking(bookingId)?.payments?.length ?? 0, (n) => n > 0, 4 * RETRY_MS);
    const finance = await until(() => financeTotals(tenant, p.currency), (x) => x.grossCollected === p.amount, 4 * RETRY_MS);
    if (inCrm !== 1 || finance.grossCollected !== p.amount) throw new Error(`tenant ${tenant.id.slice(0, 12)}…: in the CRM ${inCrm} times, finance ${finance.grossCollected} of ${p.amount} ${p.currency}`);
    return Date.now() - t0;
  }

  test('every other tenant reaches the CRM and finance within one retry interval; the poisoned booking follows once the CRM takes it', async () => {
    const warm = await newTenant(settle, tenantId('TW'));
    await timeToEffects(warm, { amount: 1000, currency: 'JPY' }, `W${Date.now().toString(36)}`); // consumers are running (Kafka: joined)

    await fc.assert(
      fc.asyncProperty(historyArb, async (h) => {
        crm.reset();
        const run = `${Date.now().toString(36)}${(counter++).toString(36)}`;
        const poisoned = await newTenant(settle, tenantId('TP'));
        const creates = (id: string) => crm.requests('createContactBooking').filter((r) => (r.body)?.external_reference === id);
        const bookingP = await paid(poisoned, h.poisonedPrice, `P${run}`, (id) => crm.failNext(1_000_000, h.failure, { operation: 'createContactBooking', externalReference: id }));
        await until(async () => creates(bookingP).length, (n) => n >= 1, 3 * RETRY_MS);
        if (creates(bookingP).length === 0) throw new Error('the poisoned booking never reached the CRM');

        // while the poisoned key waits for its next attempt (or was given up), the others pay
        const others = await Promise.all(h.others.map((_, i) => newTenant(settle, tenantId(`T${i}`))));
        const times: number[] = [];
        for (let i = 0; i < others.length; i += h.concurrency) {
          const chunk = others.slice(i, i + h.concurrency);
          times.push(...(await Promise.all(chunk.map((t, j) => timeToEffects(t, h.others[i + j]!, `O${i + j}${run}`)))));
        }
        const slowest = Math.max(...times);
        if (slowest >= RETRY_MS) throw new Error(`another tenant waited ${slowest} ms (retry interval ${RETRY_MS} ms) behind a booking the CRM refuses with ${h.failure}`);

        // the poisoned booking is not in the CRM; its money is reported regardless
        if (crm.booking(bookingP)) throw new Error('the poisoned booking is in the CRM although the CRM refused it');
        const financeP = await until(() => financeTotals(poisoned, h.poisonedPrice.currency), (x) => x.grossCollected === h.poisonedPrice.amount);
        if (financeP.grossCollected !== h.poisonedPrice.amount) throw new Error(`poisoned tenant's finance: ${financeP.grossCollected} of ${h.poisonedPrice.amount}`);

        // the CRM takes it again
        crm.reset();
        if (!retryable(h.failure)) {
          // a rejection is final at once: a human is told, and the operator retries
          const b = await until(() => readBooking(poisoned, bookingP), (x) => x.needsAttention === true, 3 * RETRY_MS);
          if (b.needsAttention !== true) throw new Error(`a booking the CRM rejected (${h.failure}) does not need attention: ${JSON.stringify(b.crm)}`);
          const r = await poisoned.api.post(`/v1/bookings/${bookingP}/crm-retry`, { requestedBy: 'ops.oncall@example.com' });
          if (r.status !== 202 && r.status !== 200) throw new Error(`crm-retry: ${r.status} ${JSON.stringify(r.body)}`);
        }
        await until(async () => crm.booking(bookingP)?.payments?.length ?? 0, (n) => n > 0, 4 * RETRY_MS);
        const done = await until(() => readBooking(poisoned, bookingP), (x) => x.crm?.paymentAssociated === true, 3 * RETRY_MS);
        if (done.crm?.paymentAssociated !== true || done.needsAttention !== false) throw new Error(`the poisoned booking did not follow: ${JSON.stringify({ needsAttention: done.needsAttention, crm: done.crm })}`);
        await settle.settled({ timeoutMs: 3 * RETRY_MS });
      }),
      {
        numRuns: RUNS,
        seed: LONG ? undefined : 20261207,
        endOnFailure: true,
        // always among the runs: a CRM that never answers, and a rejection an operator must retry
        examples: [
          [{ failure: 'hang', others: [{ amount: 1_234_567, currency: 'KWD' }, { amount: 99_999_999, currency: 'JPY' }], concurrency: 2, poisonedPrice: { amount: 250_000, currency: 'JPY' } }],
          [{ failure: 422, others: [{ amount: 4_200, currency: 'ISK' }], concurrency: 1, poisonedPrice: { amount: 99_999_990, currency: 'BHD' } }],
        ],
      },
    );
    expect((await fetch(`${settle.url}/readyz`)).status).toBe(200);
  }, LONG ? 3600_000 : 240_000);
});
