/**
 * Outside-in acceptance, invoice and booking money: random realistic histories of what Stripe did
 * (invoices paid on connected accounts, trip bookings on the platform account), delivered as signed
 * webhooks (duplicated, shuffled, concurrent), and of PayPal payments (sessions through the API,
 * approved and captured at the PayPal simulator, declined or refunded there, its webhooks late,
 * duplicated and shuffled) to the built service running as a child process,
 * once on PostgreSQL (DATABASE_URL) with Kafka (KAFKA_BROKERS) and once on its embedded default
 * (PGlite, in-process messaging); every invoice and booking, the payments list and the finance
 * report must equal the reference model (model/invoices.ts).
 *
 * `npm test` runs a few fixed-seed histories; RELIABILITY_LONG=1 runs many more.
 * A failing history is printed (and written to test-artifacts/) as a replayable script:
 * ACCEPTANCE_REPLAY=<file> npx jest test/acceptance/invoices runs exactly that history.
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { historyArb, type History } from './model/histories';
import { compare, deliverAll, deliveries, describe as describeHistory, setUp, wrongEndpoint } from './driver/run';
import { failureReport, propertyVariants } from './driver/property';
import { startSettle, type Settle } from './driver/service';
import { paypalEnv, playPayPal } from './driver/paypalWorld';
import { startPayPalSimulator, type PayPalSimulator } from '../simulators/paypal';

const LONG = process.env.RELIABILITY_LONG === '1';
const REPLAY = process.env.ACCEPTANCE_REPLAY;
const RUNS = LONG ? Number(process.env.ACCEPTANCE_RUNS ?? 1000) : 6;

let counter = 0;
const uniq = () => `${Date.now().toString(36).slice(-4)}${(counter++).toString(36)}`;

async function play(settle: Settle, paypal: PayPalSimulator, h: History): Promise<string[]> {
  const played = await setUp(settle, h);
  const phases = deliveries(h, played);
  const [problems, paypalProblems] = await Promise.all([deliverAll(settle, phases, h.concurrency), playPayPal(settle, paypal, h, played)]);
  problems.push(...paypalProblems);
  const first = phases.flat()[0];
  if (first) problems.push(...(await wrongEndpoint(settle, first)));
  await settle.settled({ timeoutMs: 30_000 });
  problems.push(...(await compare(settle, h, played)));
  return problems;
}

function readReplay(file: string): History {
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { history?: History } & History;
  return saved.history ?? saved; // older artifacts held the history alone
}

describe.each(propertyVariants())('invoice and booking money agrees with the provider (%s)', (_name, storage, messaging) => {
  let settle: Settle;
  let paypal: PayPalSimulator;
  beforeAll(async () => {
    paypal = await startPayPalSimulator();
    settle = await startSettle({ storage, messaging, env: paypalEnv(paypal) });
  }, 120_000);
  afterAll(async () => {
    await settle?.stop();
    await paypal?.close();
  });

  test('random histories: every invoice, payment row and finance total equals the model', async () => {
    if (REPLAY) {
      const h = readReplay(REPLAY);
      const problems = await play(settle, paypal, h); // a fresh service: the history's ids are new to it
      expect(problems).toEqual([]);
      return;
    }
    let played = 0;
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(historyArb(uniq), async (h) => {
        const problems = await play(settle, paypal, h).catch((err: unknown) => [`the history could not be played: ${err instanceof Error ? err.message : String(err)}`]);
        played += 1;
        if (LONG && played % 50 === 0) process.stderr.write(`[acceptance ${messaging}] ${played} histories in ${Math.round((Date.now() - started) / 1000)} s\n`);
        if (problems.length > 0) throw new Error(failureReport('invoices', settle, h, describeHistory, problems, played));
      }),
      { numRuns: messaging === 'kafka' ? Math.ceil(RUNS / 2) : RUNS, seed: LONG ? undefined : 20261207, plugins: LONG ? [] : [fc.interruptAfterTimeLimit(60_000)] },
    );
  }, LONG ? 6 * 3600_000 : 240_000);
});
