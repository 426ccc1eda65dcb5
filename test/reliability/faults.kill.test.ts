/**
 * Fault: kill -9 of the built service (child process, dist/) during a sustained load of signed
 * Stripe webhooks. Real PostgreSQL (DATABASE_URL, own schema), in-process messaging.
 * Proves: every webhook answered 2xx has its effect in the event store exactly once, nothing is
 * doubled by duplicates or by the crash, and after a restart on the same schema every read model
 * equals a fresh rebuild (row_to_json dumps of every view before and after POST …/rebuild).
 * RELIABILITY_LONG=1: more invoices and senders.
 */
import type { Client } from 'pg';
import type { ServiceProcess } from '../support/process';
import {
  LONG, createInvoices, effectKey, inboxPending, liveEqualsRebuild, note, ok, outboxGaps, paymentEffects, rows, schemaServices, tally, tenant, until, webhookLoad, type WebhookDelivery,
} from './faults.support';

jest.setTimeout(LONG ? 600_000 : 180_000);

describe('kill -9 during webhook load (PostgreSQL, child process)', () => {
  const services = schemaServices('fk');
  afterAll(() => services.cleanup());

  test('2xx webhooks are stored exactly once; after restart every read model equals its rebuild', async () => {
    const a: ServiceProcess = await services.start();
    const db: Client = await services.db();
    const api = await tenant(a.url, 'kill');
    const invoices = await createInvoices(api, LONG ? 1500 : 200);
    const killAfter = LONG ? 1500 : 150; // 2xx answers before the kill: the load is well under way
    let twoxx = 0;
    let killedAt = 0;
    let dead = false;
    const base = a.url;
    const load = webhookLoad({
      base: () => base,
      tenantId: 'kill',
      invoices,
      senders: LONG ? 16 : 8,
      stop: () => dead,
      onOutcome: (d) => {
        if (ok(d) && ++twoxx === killAfter) {
          killedAt = Date.now();
          void a.kill('SIGKILL').then(() => {
            // in-flight requests of the dead process have failed by now; stop sending
            setTimeout(() => (dead = true), 200);
          });
        }
      },
    });
    const deliveries: WebhookDelivery[] = await load;
    expect(killedAt).toBeGreaterThan(0);
    const accepted = deliveries.filter(ok);
    const failedAtKill = deliveries.filter((d) => d.status === 0);
    expect(deliveries.filter((d) => d.status >= 300)).toEqual([]); // only 2xx or connection errors
    expect(failedAtKill.length).toBeGreaterThan(0);

    // restart on the same schema; the retrier finishes stored-but-unapplied webhooks
    const restartAt = Date.now();
    const b = await services.start();
    const upMs = Date.now() - restartAt;
    // stored-but-unapplied rows (the crash hit between storing and applying) are retried 30 s after receipt
    const pendingAfterRestart = await inboxPending(db);
    const inboxMs = await until(async () => (await inboxPending(db)) === 0, 60_000, 'webhook inbox finished').catch(async (err: unknown) => {
      note('inbox pending', await rows(db, `SELECT event_id, event_type, status, attempts, last_error, next_attempt_at FROM webhook_inbox WHERE status IN ('received', 'parked') LIMIT 5`));
      throw err;
    });

    const effects = await paymentEffects(db);
    const missing = accepted.filter((d) => effects.get(effectKey(d)) !== 1);
    expect(missing.map((d) => `${effectKey(d)}=${effects.get(effectKey(d)) ?? 0}`)).toEqual([]);
    expect([...effects.values()].filter((n) => n !== 1)).toEqual([]); // nothing doubled
    const paid = await rows<{ k: string; n: string }>(db, `SELECT stream_id AS k, count(*) AS n FROM events WHERE event_type = 'InvoicePaid' GROUP BY 1 HAVING count(*) > 1`);
    expect(paid).toEqual([]);
    const succeededInvoices = new Set(accepted.filter((d) => d.kind === 'succeeded').map((d) => d.invoice.id));
    const paidCount = Number((await rows<{ n: string }>(db, `SELECT count(*) AS n FROM events WHERE event_type = 'InvoicePaid'`))[0]!.n);
    expect(paidCount).toBeGreaterThanOrEqual(succeededInvoices.size);
    expect(await outboxGaps(db)).toEqual([]);
    const dupEventIds = await rows(db, `SELECT event_id FROM events GROUP BY 1 HAVING count(*) > 1`);
    expect(dupEventIds).toEqual([]);

    const { live, rebuilt, rebuildMs } = await liveEqualsRebuild(b.url, db);
    expect(live.invoices!.length).toBe(invoices.length);
    for (const view of Object.keys(live)) expect({ view, rows: rebuilt[view] }).toEqual({ view, rows: live[view] });
    note('kill -9', {
      invoices: invoices.length, deliveries: deliveries.length, outcomes: tally(deliveries), twoxx: accepted.length,
      duplicatesSent: deliveries.filter((d) => d.duplicate).length, paymentEvents: effects.size, restartToReadyMs: upMs, inboxPendingAfterRestart: pendingAfterRestart, inboxFinishedMs: inboxMs, rebuildMs,
      viewRows: Object.fromEntries(Object.entries(live).map(([k, v]) => [k, v.length])),
    });
  });
});
