/**
 * Outside-in acceptance, the booking pipeline: random realistic histories of one tenant's
 * departures and bookings (parties against capacity, the waitlist and its promotion, inquiries,
 * cancellations and money after them, deposits and balances, refunds and disputes at Stripe with
 * the dispute's whole lifecycle, operator CRM retries single and bulk while the CRM is up or still
 * down) with the CRM simulator behaving as each booking's plan says (takes it, fails a few times,
 * slow, loses an answer, down or rejecting for whole rounds), played step by step against the
 * built service as a child process, once on PostgreSQL (DATABASE_URL) with Kafka (KAFKA_BROKERS)
 * and once on its embedded default (PGlite, in-process messaging). Every booking's status, stage,
 * seats and CRM records and calls, every payment row, the finance report and the needs-attention
 * list must equal the reference model (model/bookings.ts).
 *
 * `npm test` runs a few fixed-seed histories; RELIABILITY_LONG=1 runs BOOKING_RUNS per variant.
 * A failing history is printed (and written to test-artifacts/) as a replayable script:
 * ACCEPTANCE_REPLAY=<file> npx jest test/acceptance/bookings runs exactly that history.
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { bookingHistoryArb, type BookingHistory } from './model/histories';
import { describeBookingHistory, playBookings } from './driver/bookingRun';
import { bookingScenario } from './driver/bookings';
import { failureReport, propertyVariants } from './driver/property';

const LONG = process.env.RELIABILITY_LONG === '1';
const REPLAY = process.env.ACCEPTANCE_REPLAY;
const RUNS = LONG ? Number(process.env.BOOKING_RUNS ?? 100) : Number(process.env.BOOKING_RUNS ?? 3);

let counter = 0;
const uniq = () => `${Date.now().toString(36).slice(-4)}${(counter++).toString(36)}`;

describe.each(propertyVariants())('the booking pipeline agrees with the model (%s, CRM simulator)', (_name, storage, messaging) => {
  const scenario = bookingScenario({ storage, messaging, setUpTimeoutMs: 120_000 });

  test('random histories: every booking, departure, CRM record, payment row, finance total and the needs-attention list equal the model', async () => {
    const { settle, crm } = scenario;
    if (REPLAY) {
      const h = (JSON.parse(fs.readFileSync(REPLAY, 'utf8')) as { history: BookingHistory }).history;
      expect(await playBookings(settle, crm, h)).toEqual([]);
      return;
    }
    let played = 0;
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(bookingHistoryArb(uniq), async (h) => {
        const problems = await playBookings(settle, crm, h).catch((err: unknown) => [`the history could not be played: ${err instanceof Error ? err.message : String(err)}`]);
        played += 1;
        if (process.env.ACCEPTANCE_VERBOSE === '1') process.stderr.write(`[acceptance bookings ${messaging}] history ${played}:\n${describeBookingHistory(h)}\n${problems.length ? problems.join('\n') : 'agrees'}\n`);
        if (LONG && played % 25 === 0) process.stderr.write(`[acceptance bookings ${messaging}] ${played} histories in ${Math.round((Date.now() - started) / 1000)} s\n`);
        if (problems.length > 0) throw new Error(failureReport('bookings', settle, h, describeBookingHistory, problems, played));
      }),
      { numRuns: messaging === 'kafka' ? Math.ceil(RUNS / 2) : RUNS, seed: LONG ? undefined : 20261208, endOnFailure: process.env.ACCEPTANCE_SHRINK !== '1', plugins: LONG ? [] : [fc.interruptAfterTimeLimit(35_000)] },
    );
  }, LONG ? 6 * 3600_000 : 240_000);
});
