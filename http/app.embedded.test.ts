/** The service over HTTP on its embedded default (PGlite in a temp DATA_DIR, in-process bus). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventually, newEvent, outboxMessage } from '../test/support/events';
import { scrape, startTestService, type TestService } from '../test/support/service';

describe('service on the embedded default', () => {
  let dir: string;
  let svc: TestService;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-embedded-'));
    svc = await startTestService({ DATA_DIR: dir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined, PROJECTION_STALL_SECONDS: '1' });
  });
  afterAll(async () => {
    await svc?.shutdown('test end');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('GET /healthz answers while the process is up, with security headers', async () => {
    const r = await fetch(`${svc.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(r.headers.get('x-powered-by')).toBeNull();
    expect(await r.json()).toEqual({ status: 'ok' });
  });

  test('GET /readyz reports database, migrations, projections, messaging and the outbox', async () => {
    const r = await fetch(`${svc.url}/readyz`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks).sort()).toEqual(['database', 'messaging', 'migrations', 'outbox', 'projections', 'webhooks']);
    expect(Object.values(body.checks).every((c) => c.ok)).toBe(true);
  });

  test('GET /readyz fails when a projection is stalled on an error', async () => {
    const sub = svc.runtime.addSubscription({
      name: 'always-failing',
      load: async () => null,
      handle: async () => {
        throw new Error('poison event');
      },
    });
    await svc.runtime.eventStore.append(`stall-${Date.now()}`, [newEvent()], 'no_stream');
    await new Promise((r) => setTimeout(r, 1500));
    const r = await fetch(`${svc.url}/readyz`);
    const body = (await r.json()) as { status: string; checks: { projections: { ok: boolean; detail: string } } };
    expect(r.status).toBe(503);
    expect(body.checks.projections.detail).toContain('always-failing (poison event)');
    await sub.stop();
    svc.runtime.subscriptions.splice(svc.runtime.subscriptions.indexOf(sub), 1);
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
  });

  test('unknown routes answer problem+json with the request id, and ids are echoed', async () => {
    const r = await fetch(`${svc.url}/nothing`, { headers: { 'x-request-id': 'req-123', 'x-correlation-id': 'flow-9' } });
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(r.headers.get('x-request-id')).toBe('req-123');
    expect(r.headers.get('x-correlation-id')).toBe('flow-9');
    expect(await r.json()).toMatchObject({ type: 'https://settle.dev/problems/not-found', status: 404, requestId: 'req-123' });
  });

  test('every request log line carries the request and correlation id; secrets are redacted', async () => {
    await fetch(`${svc.url}/healthz?x=1`, { headers: { authorization: 'Bearer sk_live_secret', 'x-correlation-id': 'flow-log' } });
    await fetch(`${svc.url}/missing`, { headers: { authorization: 'Bearer sk_live_secret', 'x-correlation-id': 'flow-log', cookie: 'sid=abc' } });
    const lines = svc.logs.filter((l) => l.correlationId === 'flow-log');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(typeof l.requestId).toBe('string');
    const text = JSON.stringify(svc.logs);
    expect(text).not.toContain('sk_live_secret');
    expect(text).not.toContain('sid=abc');
  });

  test('GET /metrics (with METRICS_TOKEN) exposes Prometheus metrics including outbox and projection gauges', async () => {
    expect((await fetch(`${svc.url}/metrics`)).status).toBe(401);
    const text = await scrape(svc);
    for (const name of ['settle_http_requests_total', 'settle_outbox_backlog', 'settle_outbox_oldest_age_seconds', 'settle_projection_lag_seconds', 'settle_process_resident_memory_bytes']) {
      expect(text).toContain(name);
    }
  });

  test('outbox messages survive a restart of the embedded service and are delivered after it', async () => {
    // stop the relay so the message stays in the outbox, then restart the whole service
    await svc.runtime.relay.stop();
    await svc.runtime.eventStore.append('restart-1', [newEvent()], 'no_stream', { outbox: [outboxMessage('restarts', 'restart-1', { n: 1 })] });
    await svc.shutdown('restart');
    const got: unknown[] = [];
    let backlogAtStart = -1;
    svc = await startTestService({ DATA_DIR: dir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined }, async (rt) => {
      backlogAtStart = (await rt.relay.status()).backlog;
      await rt.bus.subscribe('restart-check', ['restarts'], async (m) => void got.push(m.value));
    });
    expect(backlogAtStart).toBe(1);
    expect(await svc.runtime.eventStore.readStream('restart-1')).toHaveLength(1);
    await eventually(() => got.length === 1);
    expect(got).toEqual([{ n: 1 }]);
    expect((await svc.runtime.relay.status()).backlog).toBe(0);
  });
});
