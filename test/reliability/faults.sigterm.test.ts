/**
 * Fault: SIGTERM to the built service (child process, dist/) on a real PostgreSQL (DATABASE_URL,
 * own schema) while slow webhook requests are in flight (their bodies half sent) and a burst of
 * concurrent webhooks runs. Proves: no new connection is accepted after SIGTERM, every request
 * already accepted gets its response (200: stored) and its effect (applied before the exit or by the
 * next process), the process exits 0 within
 * SHUTDOWN_TIMEOUT_MS, and after a restart the read models equal a rebuild (checkpoints were
 * committed: nothing re-applied, nothing missing).
 */
import type { Client } from 'pg';
import type { ServiceProcess } from '../support/process';
import { sign } from '../support/stripeEvents';
import {
  LONG, SECRET, createInvoices, inboxPending, liveEqualsRebuild, note, paymentEffects, paymentEvent, rows, schemaServices, sleep, slowRequest, tenant, until, type Inv,
} from './faults.support';

jest.setTimeout(LONG ? 300_000 : 120_000);
const SHUTDOWN_TIMEOUT_MS = 5000;

describe('graceful shutdown on SIGTERM (PostgreSQL, child process)', () => {
  const services = schemaServices('fs', { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), LOG_LEVEL: 'info' });
  afterAll(() => services.cleanup());

  test('in-flight requests finish, new connections are refused, exit 0 in time, checkpoints committed', async () => {
    const a: ServiceProcess = await services.start();
    const db: Client = await services.db();
    const api = await tenant(a.url, 'term');
    const slowN = LONG ? 120 : 40;
    const burstN = LONG ? 400 : 120;
    const invoices = await createInvoices(api, slowN + burstN);
    const webhook = (inv: Inv, kind: 'failed' | 'succeeded') => {
      const payload = JSON.stringify(paymentEvent('term', inv, kind));
      return { headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload, SECRET) }, payload };
    };

    // slow requests: headers and half the body sent, the rest only after SIGTERM
    let releaseRest!: () => void;
    const rest = new Promise<void>((r) => (releaseRest = r));
    let halfSent = 0;
    const slow = invoices.slice(0, slowN).map((inv) => {
      const w = webhook(inv, 'succeeded');
      return slowRequest(a.url, '/webhooks/stripe', w.headers, w.payload, rest, () => halfSent++).then((r) => ({ ...r, inv }));
    });
    await until(() => halfSent === slowN, 10_000, 'slow requests half sent', 10);
    await sleep(300); // the server has accepted every slow connection
    // a burst of complete concurrent webhooks, SIGTERM while they run
    const burst = invoices.slice(slowN).map((inv) => {
      const w = webhook(inv, 'failed');
      return slowRequest(a.url, '/webhooks/stripe', w.headers, w.payload, Promise.resolve()).then((r) => ({ ...r, inv }));
    });
    await sleep(30);
    const termAt = Date.now();
    const exited = a.kill('SIGTERM');
    await sleep(300);
    const afterTerm = await slowRequest(a.url, '/healthz', {}, '', Promise.resolve());
    await sleep(700);
    releaseRest();
    const slowResults = await Promise.all(slow);
    const burstResults = await Promise.all(burst);
    const code = await exited;
    const exitMs = Date.now() - termAt;

    expect(afterTerm).toMatchObject({ status: 0, error: 'ECONNREFUSED' }); // stopped accepting
    expect(slowResults.map((r) => r.status)).toEqual(slowResults.map(() => 200)); // every accepted request answered
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    const out = a.output.join('');
    expect(out).toContain('shutdown complete');
    expect(out).not.toContain('graceful shutdown timed out');
    const burstTally: Record<string, number> = {};
    for (const r of burstResults) burstTally[r.status ? String(r.status) : `error:${r.error}`] = (burstTally[r.status ? String(r.status) : `error:${r.error}`] ?? 0) + 1;
    // a burst request either completed (200) or was never accepted (refused / reset in the backlog)
    expect(burstResults.filter((r) => r.status !== 200 && r.error !== 'ECONNREFUSED' && r.error !== 'ECONNRESET')).toEqual([]);

    // after a restart: every answered webhook has its effect once, read models equal a rebuild
    const b = await services.start();
    const pendingAfterRestart = await inboxPending(db);
    // queue first: a 200 means stored; rows stored but not applied before the exit are applied now
    await until(async () => (await inboxPending(db)) === 0, 15_000, 'inbox applied after the restart');
    const effects = await paymentEffects(db);
    for (const r of slowResults) expect(effects.get(`${r.inv.id}|PaymentSucceeded|pi_s_${r.inv.id}`)).toBe(1);
    for (const r of burstResults.filter((x) => x.status === 200)) expect(effects.get(`${r.inv.id}|PaymentAttemptFailed|pi_f_${r.inv.id}`)).toBe(1);
    expect([...effects.values()].filter((n) => n !== 1)).toEqual([]);
    const checkpointsAtExit = await rows<{ name: string; p: string }>(db, `SELECT name, position_commit || '/' || position_prepare AS p FROM checkpoints ORDER BY 1`);
    const { live, rebuilt, rebuildMs } = await liveEqualsRebuild(b.url, db);
    for (const view of Object.keys(live)) expect({ view, rows: rebuilt[view] }).toEqual({ view, rows: live[view] });
    const invoiceEvents = Number((await rows<{ n: string }>(db, `SELECT count(*) AS n FROM events WHERE stream_id LIKE 'invoice-%'`))[0]!.n);
    expect(live.invoice_history!.length).toBe(invoiceEvents);
    note('SIGTERM', { slow: slowN, slow200: slowResults.filter((r) => r.status === 200).length, burst: burstN, burstOutcomes: burstTally, exitCode: code, exitMs, inboxPendingAfterRestart: pendingAfterRestart, checkpointsAtExit: checkpointsAtExit.length, rebuildMs });
  });
});
