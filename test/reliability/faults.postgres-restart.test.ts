/**
 * Fault: the test's OWN PostgreSQL 15 cluster (scripts/services/postgres.sh start/stop/restart in a
 * temp dir) is stopped and restarted (same data dir and port) during a load of API commands
 * (bookings, invoices) and signed Stripe webhooks against the built service (child process).
 * Proves: every request either succeeds or gets 503 database-unavailable (never 500, never a
 * dropped connection); nothing partial is written (no seat without its booking even before any
 * retry, an outbox message for every payment event, every 503'd request completes once retried
 * with its Idempotency-Key);
 * the service recovers by itself (same process: /readyz back to 200, requests succeed).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'pg';
import { ADMIN_KEY, client } from '../support/api';
import { spawnService, type ServiceProcess } from '../support/process';
import {
  LONG, POSTGRES_SH, SECRET, createInvoices, effectKey, inboxPending, invoiceBody, note, ok, outboxGaps, paymentEffects, rows, schemaClient, send, sh, shAsync, sleep, tally, tenant, until, webhookLoad, type Outcome,
} from './faults.support';

jest.setTimeout(LONG ? 600_000 : 180_000);

describe('PostgreSQL restart under load (own cluster, child process)', () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-faults-pg-'));
  let url = '';
  let svc: ServiceProcess | undefined;
  let db: Client | undefined;

  beforeAll(() => {
    url = /DATABASE_URL=(\S+)/.exec(sh(POSTGRES_SH, ['start', state]))![1]!;
  });
  let stop = false;
  afterAll(async () => {
    stop = true;
    await svc?.kill('SIGKILL');
    await db?.end().catch(() => undefined);
    try {
      await shAsync(POSTGRES_SH, ['stop', state]);
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  });

  test('503 or success during the outage, no partial state, recovery without a service restart', async () => {
    svc = await spawnService({ DATABASE_URL: url, DATABASE_SCHEMA: 'settle', ADMIN_API_KEY: ADMIN_KEY, STRIPE_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'error' });
    const pid = svc.child.pid;
    const api = await tenant(svc.url, 'pgr');
    const dep = (await api.post('/v1/departures', { departureId: 'DEP', name: 'Trip', paymentScheduleId: 'sched', capacity: 100000 })).status;
    expect(dep).toBe(201);
    const invoices = await createInvoices(api, LONG ? 3000 : 600);
    const bearer = (await client(svc.url, ADMIN_KEY).post<{ apiKey: string }>('/v1/tenants/pgr/api-keys', {})).body.apiKey;

    const commands: Outcome[] = [];
    let n = 0;
    const booking = (i: number) => ({
      departureId: 'DEP',
      contact: { firstName: 'Ada', lastName: `L${i}`, email: `ada${i}@example.com`, phone: '+1 555 0100' },
      guests: [{ firstName: 'Ada', lastName: `L${i}` }],
      price: { amount: 5000 + i, currency: 'USD' },
    });
    const commandSender = async () => {
      while (!stop) {
        const i = n++;
        const isBooking = i % 2 === 0;
        const o = await send(`${svc!.url}/v1/${isBooking ? 'bookings' : 'invoices'}`, 'POST', { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, 'idempotency-key': `pgr-${i}` }, JSON.stringify(isBooking ? booking(i) : invoiceBody(10_000 + i)), isBooking ? 'booking' : 'invoice', String(i));
        commands.push(o);
        await sleep(5);
      }
    };
    const senders = Array.from({ length: LONG ? 8 : 4 }, commandSender);
    const hooks = webhookLoad({ base: () => svc!.url, tenantId: 'pgr', invoices, senders: LONG ? 8 : 4, stop: () => stop, paceMs: 5 });

    await sleep(1500);
    const downAt = Date.now();
    await shAsync(POSTGRES_SH, ['stop', state]);
    const stoppedMs = Date.now() - downAt;
    let readyDuringOutage = 0;
    const probe = (async () => {
      while (Date.now() - downAt < (LONG ? 10_000 : 3_000)) {
        const r = await fetch(`${svc.url}/readyz`).catch(() => null);
        if (r?.status === 200) readyDuringOutage++;
        await sleep(250);
      }
    })();
    await probe;
    const restartAt = Date.now();
    await shAsync(POSTGRES_SH, ['restart', state]);
    const upAt = Date.now();
    const readyMs = await until(async () => (await fetch(`${svc!.url}/readyz`)).status === 200, 30_000, '/readyz 200 after the restart').catch(async (err: unknown) => {
      stop = true;
      const r = await fetch(`${svc!.url}/readyz`).then(async (x) => ({ status: x.status, body: await x.json() }), (e: unknown) => {
        const cause: unknown = e instanceof Error ? (e.cause ?? e) : e;
        return { error: String(cause) };
      });
      note('readyz after the restart', { readyz: r, exitCode: svc!.child.exitCode, signal: svc!.child.signalCode, output: svc!.output.join('').slice(-4000) });
      throw err;
    });
    await sleep(LONG ? 10_000 : 2_000);
    stop = true;
    const webhooks = await Promise.all([hooks, ...senders]).then(([h]) => h);
    const all: Outcome[] = [...commands, ...webhooks];

    // never a 500 nor a dropped connection: success, 503 database-unavailable, or (for a key whose
    // first try hit the outage and is still being released) 409 idempotency-key-in-use with Retry-After
    const retryLater = (o: Outcome) => (o.status === 503 && o.problem === 'database-unavailable') || (o.status === 409 && o.problem === 'idempotency-key-in-use');
    expect(all.filter((o) => !(ok(o) || retryLater(o)))).toEqual([]);
    const unavailable = all.filter((o) => o.status === 503);
    expect(unavailable.length).toBeGreaterThan(0); // the outage did hit requests
    expect(svc.child.exitCode).toBeNull();
    expect(svc.child.pid).toBe(pid); // recovered without a restart of its own
    const afterUp = all.filter((o) => o.at > upAt + readyMs + 500);
    expect(afterUp.length).toBeGreaterThan(0);
    expect(afterUp.filter((o) => !ok(o))).toEqual([]);

    db = await schemaClient(url, 'settle');
    await until(async () => (await inboxPending(db!)) === 0, 60_000, 'webhook inbox finished');
    // bookings: seats allocated on the departure without a booking stream = a partial request
    const partial = async () =>
      rows<{ booking_id: string }>(
        db!,
        `SELECT e.data->>'bookingId' AS booking_id FROM events e
          WHERE e.event_type = 'SeatsAllocated'
            AND NOT EXISTS (SELECT 1 FROM events b WHERE b.stream_id = 'booking-pgr.' || (e.data->>'bookingId') AND b.event_type IN ('BookingRequested', 'BookingWaitlisted'))`,
      );
    // nothing half-written even before anyone retries: the seat and the booking are one transaction
    expect(await partial()).toEqual([]);
    // the documented recovery, as a well-behaved client does it: retry each 503'd command with its
    // Idempotency-Key, a few at a time, waiting as Retry-After says while the answer is still
    // 503 (a backlog larger than the pool) or 409 idempotency-key-in-use (its first try is being released)
    const toRetry = commands.filter(retryLater);
    const retried: Outcome[] = [];
    const retrySender = async () => {
      for (let o = toRetry.shift(); o; o = toRetry.shift()) {
        const i = Number(o.key);
        for (let attempt = 0; ; attempt++) {
          const r = await send(`${svc!.url}/v1/${o.what === 'booking' ? 'bookings' : 'invoices'}`, 'POST', { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, 'idempotency-key': `pgr-${i}` }, JSON.stringify(o.what === 'booking' ? booking(i) : invoiceBody(10_000 + i)), o.what, o.key);
          if (!retryLater(r) || attempt >= 30) {
            retried.push(r);
            break;
          }
          await sleep(1000);
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, retrySender));
    expect(retried.filter((o) => o.status !== 201)).toEqual([]);
    expect(await partial()).toEqual([]);
    const bookingStreams = Number((await rows<{ n: string }>(db, `SELECT count(*) AS n FROM streams WHERE stream_id LIKE 'booking-pgr.%'`))[0]!.n);
    expect(bookingStreams).toBe(commands.filter((o) => o.what === 'booking').length);
    const requested = await rows(db, `SELECT stream_id FROM events WHERE stream_id LIKE 'booking-%' GROUP BY 1 HAVING count(*) FILTER (WHERE event_type IN ('BookingRequested', 'BookingWaitlisted')) <> 1`);
    expect(requested).toEqual([]);
    const seats = await rows(db, `SELECT data->>'bookingId' AS b FROM events WHERE event_type = 'SeatsAllocated' GROUP BY 1 HAVING count(*) <> 1`);
    expect(seats).toEqual([]);
    // invoices issued once per command; payment events have exactly one outbox message; 2xx webhooks applied once
    const issued = Number((await rows<{ n: string }>(db, `SELECT count(*) AS n FROM events WHERE event_type = 'InvoiceIssued'`))[0]!.n);
    expect(issued).toBe(invoices.length + commands.filter((o) => o.what === 'invoice').length);
    expect(await outboxGaps(db)).toEqual([]);
    const effects = await paymentEffects(db);
    expect(webhooks.filter(ok).filter((d) => effects.get(effectKey(d)) !== 1)).toEqual([]);
    expect([...effects.values()].filter((x) => x !== 1)).toEqual([]);
    note('postgres restart', {
      requests: all.length, outcomes: tally(all), commands: tally(commands), webhooks: tally(webhooks), stopMs: stoppedMs,
      downMs: upAt - downAt, pgRestartMs: upAt - restartAt, readyzBackAfterMs: readyMs, readyz200DuringOutage: readyDuringOutage,
      retried503: retried.length, paymentEvents: effects.size,
    });
  });
});
