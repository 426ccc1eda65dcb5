/** Starts the real service in-process on a free port, with a log capture. */
import type { Clock } from '../../domain/ports/clock';
import { Writable } from 'node:stream';
import { loadConfig } from '../../infrastructure/config/config';
import { createLogger } from '../../infrastructure/observability/logger';
import { startService, type RunningService } from '../../main/server';
import { deliver as deliverStripe } from './stripeEvents';
import type { Settle } from '../../main/compose';

export interface TestService extends RunningService {
  readonly url: string;
  readonly logs: Array<Record<string, unknown>>;
}

/** The METRICS_TOKEN test services run with (public /metrics needs it as a bearer token). */
export const TEST_METRICS_TOKEN = 'test-metrics-token-0123456789abcdef';

/** GET /metrics of a test service with its token. */
export async function scrape(svc: { url: string }): Promise<string> {
  const r = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.text();
}

export async function startTestService(env: Record<string, string | undefined>, configure?: (rt: Settle) => Promise<void>, clock?: Clock): Promise<TestService> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', METRICS_TOKEN: TEST_METRICS_TOKEN, ...env });
  const svc = await startService(config, createLogger(config.LOG_LEVEL, sink), configure, clock);
  return Object.assign(svc, { url: `http://127.0.0.1:${svc.port}`, logs });
}

/**
 * Webhooks are queue first: a 200 means stored, and the applier applies the row soon after. Waits
 * until the inbox row of `eventId` (at `endpoint`) has left `received` (processed, parked,
 * ignored, or tried and failed), and returns it.
 */
export async function appliedRow(svc: Pick<TestService, 'runtime'>, endpoint: string, eventId: string, timeoutMs = 15_000): Promise<{ status: string; last_error: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await svc.runtime.db.query<{ status: string; last_error: string | null; attempts: number }>('SELECT status, last_error, attempts FROM webhook_inbox WHERE endpoint = $1 AND event_id = $2', [endpoint, eventId]);
    const row = rows[0];
    if (row && (row.status !== 'received' || row.attempts > 0)) return { status: row.status, last_error: row.last_error };
    if (Date.now() > deadline) throw new Error(`webhook ${endpoint} ${eventId} not applied in ${timeoutMs} ms (row: ${JSON.stringify(row ?? null)})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The inbox endpoint a webhook URL stores into. */
export function endpointOfUrl(url: string): 'stripe' | 'stripe_connect' | 'paypal' {
  return url.endsWith('/webhooks/stripe/connect') ? 'stripe_connect' : url.endsWith('/webhooks/paypal') ? 'paypal' : 'stripe';
}

/**
 * Delivers a signed Stripe event and waits for the applier: the answer's `body.status` is then the
 * inbox row's applied status (processed, parked, ignored), `ack` the 200's own body ("received").
 */
export async function deliverApplied(svc: Pick<TestService, 'runtime'>, url: string, event: import('./stripeEvents').StripeEvent | string, secret: string, opts: { timestamp?: number; signature?: string } = {}): Promise<Awaited<ReturnType<typeof deliverStripe>> & { ack?: unknown }> {
  const r = await deliverStripe(url, event, secret, opts);
  if (r.status !== 200 || typeof event === 'string') return r;
  const row = await appliedRow(svc, endpointOfUrl(url), event.id);
  return { status: r.status, body: { ...r.body, status: row.status }, ack: r.body };
}
