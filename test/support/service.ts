/** Starts the real service in-process on a free port, with a log capture. */
import { Writable } from 'node:stream';
import { loadConfig } from '../../infrastructure/config/config';
import { createLogger } from '../../infrastructure/observability/logger';
import { startService, type RunningService } from '../../http/server';
import type { Runtime } from '../../infrastructure/runtime';

export interface TestService extends RunningService {
  readonly url: string;
  readonly logs: Array<Record<string, unknown>>;
}

export async function startTestService(env: Record<string, string | undefined>, configure?: (rt: Runtime) => Promise<void>): Promise<TestService> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...env });
  const svc = await startService(config, createLogger(config.LOG_LEVEL, sink), configure);
  return Object.assign(svc, { url: `http://127.0.0.1:${svc.port}`, logs });
}
