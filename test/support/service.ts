/** Starts the real service in-process on a free port, with a log capture. */
import type { Clock } from '../../domain/ports/clock';
import { Writable } from 'node:stream';
import { loadConfig } from '../../infrastructure/config/config';
import { createLogger } from '../../infrastructure/observability/logger';
import { startService, type RunningService } from '../../main/server';
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
