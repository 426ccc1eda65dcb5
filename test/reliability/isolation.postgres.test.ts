/**
 * Issue #15, failure isolation on the in-process bus (PostgreSQL at DATABASE_URL, CRM simulator):
 * a poisoned message key never holds up other tenants, is listed by the admin API, degrades
 * /readyz while parked, and is released or skipped by an operator.
 */
import { streams } from '../../commands/streams';
import { ADMIN_KEY } from '../support/api';
import { ConsoleClient } from '../support/console';
import { eventually } from '../support/events';
import { scrape } from '../support/service';
import { isolationWorld, poisonedKeyDoesNotHoldUpOtherTenants, RETRY_MS, unhandleable, type IsolationWorld } from './isolation.support';

describe('failure isolation per message key (in-process bus, PostgreSQL)', () => {
  let w: IsolationWorld;
  beforeAll(async () => {
    w = await isolationWorld({});
  });
  afterAll(() => w?.close());

  test("a key the CRM saga can never handle delays another tenant's CRM sync and finance report by no more than one retry interval", async () => {
    const { bMs } = await poisonedKeyDoesNotHoldUpOtherTenants(w);
    expect(bMs).toBeLessThan(RETRY_MS);
  });

  test('a parked key: listed by the admin API, /readyz degraded (200) with the reason; release retries it, skip clears it and /readyz is ready again', async () => {
    const readyz = async () => {
      const r = await fetch(`${w.svc.url}/readyz`);
      return { status: r.status, body: (await r.json()) as { status: string; checks: Record<string, { ok: boolean; detail?: string }> } };
    };
    expect((await readyz()).body.status).toBe('ready');
    const poison = unhandleable('acme', 'bk_poisoned');
    const key = streams.booking('acme', 'bk_poisoned');
    await w.enqueue(poison);
    await eventually(async () => (await w.parked()).some((p) => p.key === key && p.state === 'parked'), 30_000);
    const [p] = (await w.parked()).filter((x) => x.key === key);
    expect(p).toMatchObject({ stage: 'consumer:crm-sync', state: 'parked', messageId: poison.id, topic: 'settle.bookings.v1', attempts: 2, waiting: 1 });
    expect(p!.error).toMatch(/names no booking/);
    expect(Date.parse(p!.since)).toBeGreaterThan(Date.now() - 60_000);

    const degraded = await readyz();
    expect(degraded.status).toBe(200);
    expect(degraded.body.status).toBe('degraded');
    expect(degraded.body.checks.outbox).toMatchObject({ ok: false });
    expect(degraded.body.checks.outbox!.detail).toMatch(/consumer crm-sync: 1 key\(s\) parked/);
    const metrics = await scrape(w.svc);
    expect(metrics).toMatch(/settle_outbox_parked_keys\{stage="consumer:crm-sync"\} 1/);
    expect(metrics).toMatch(/settle_outbox_parked_total\{stage="consumer:crm-sync"\} [1-9]/);

    // bad requests are precise 4xx
    expect((await w.admin.post(`/v1/admin/outbox/parked/${encodeURIComponent(key)}/skip`, {})).status).toBe(422);
    expect((await w.admin.post(`/v1/admin/outbox/parked/${encodeURIComponent(key)}/release`, { stage: 'nonsense' })).status).toBe(422);
    expect((await w.admin.post('/v1/admin/outbox/parked/booking-acme.nothing-here/release', {})).status).toBe(404);

    // release: retried now with a fresh budget (it fails again: the message is still malformed)
    const released = await w.admin.post<{ released: string[] }>(`/v1/admin/outbox/parked/${encodeURIComponent(key)}/release`, {});
    expect(released.status).toBe(200);
    expect(released.body.released).toEqual(['consumer:crm-sync']);
    await eventually(async () => (await w.parked()).some((x) => x.key === key && x.state === 'retrying' && x.attempts === 1), 10_000);

    // skip: recorded with its reason; the key is gone and /readyz is ready again
    const skipped = await w.admin.post<{ skipped: Array<{ stage: string; messageId: string }> }>(`/v1/admin/outbox/parked/${encodeURIComponent(key)}/skip`, { reason: 'never valid', requestedBy: 'ops@settle' });
    expect(skipped.status).toBe(200);
    expect(skipped.body.skipped).toEqual([{ stage: 'consumer:crm-sync', messageId: poison.id, topic: 'settle.bookings.v1' }]);
    expect((await w.parked()).filter((x) => x.key === key)).toEqual([]);
    const { rows } = await w.svc.runtime.db.query<{ reason: string; skipped_by: string; message_id: string }>(`SELECT reason, skipped_by, message_id FROM parked_skips WHERE message_key = $1`, [key]);
    expect(rows).toEqual([{ reason: 'never valid', skipped_by: 'ops@settle', message_id: poison.id }]);
    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
  });

  test('the console System page lists held messages; the admin retries one and skips one with a reason', async () => {
    const poison = unhandleable('acme', 'bk_console');
    const key = streams.booking('acme', 'bk_console');
    await w.enqueue(poison);
    await eventually(async () => (await w.parked()).some((p) => p.key === key), 30_000);
    const c = new ConsoleClient(w.svc.url);
    await c.signIn(ADMIN_KEY);
    const page = await c.get('/admin/system');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Held messages');
    expect(page.text).toContain(key);
    expect(page.text).toContain(poison.id);
    expect(page.text).toContain('names no booking');
    const csrf = ConsoleClient.csrfOf(page.text);
    expect((await c.post('/admin/system/messages/skip', { _csrf: csrf, key, stage: 'consumer:crm-sync' })).status).toBe(422); // a reason is required
    expect((await c.post('/admin/system/messages/release', { _csrf: 'x'.repeat(43), key })).status).toBe(403);
    const released = await c.post('/admin/system/messages/release', { _csrf: csrf, key });
    expect(released.status).toBe(303);
    const skipped = await c.post('/admin/system/messages/skip', { _csrf: csrf, key, stage: 'consumer:crm-sync', reason: 'malformed, from the console' });
    expect(skipped.status).toBe(303);
    expect(skipped.location).toBe('/admin/system?done=skipped#held-messages');
    expect((await w.parked()).filter((p) => p.key === key)).toEqual([]);
    expect((await c.get('/admin/system')).text).toContain('None: every message key flows.');
    const { rows } = await w.svc.runtime.db.query<{ reason: string; skipped_by: string }>(`SELECT reason, skipped_by FROM parked_skips WHERE message_key = $1`, [key]);
    expect(rows).toEqual([{ reason: 'malformed, from the console', skipped_by: 'console:admin' }]);
  });
});
