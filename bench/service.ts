/** The built service (dist-bench/main/server.js) as a child process, for the HTTP benchmarks. */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { spawnService } from '../test/support/process';

export interface BenchService {
  url: string;
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The Node flags `npm start` runs the service with (package.json; bench/service.test.ts keeps the
 * two equal): the benchmarks measure the service as it is deployed. The old-space cap is the
 * service's heap budget; without one V8 grows the heap to several times the live set under load.
 */
export const SERVICE_NODE_FLAGS = ['--max-old-space-size=192'];

/** The service built into dist-bench/, with rate limits out of the way (they are not what the benchmarks measure). */
export async function startService(env: Record<string, string>, extraNodeFlags: string[] = []): Promise<BenchService> {
  const svc = await spawnService(
    {
      RATE_LIMIT_API_BURST: '100000000',
      RATE_LIMIT_API_PER_SECOND: '100000000',
      RATE_LIMIT_WEBHOOK_BURST: '100000000',
      RATE_LIMIT_WEBHOOK_PER_SECOND: '100000000',
      ...env,
    },
    { entry: path.resolve(__dirname, '../main/server.js'), execArgv: [...SERVICE_NODE_FLAGS, ...extraNodeFlags], readyTimeoutMs: 60_000 },
  );
  return {
    url: svc.url,
    child: svc.child,
    pid: svc.child.pid!,
    async stop() {
      // SIGTERM lets --cpu-prof write its profile; SIGKILL if it does not exit in 20 s
      const killer = setTimeout(() => void svc.kill('SIGKILL'), 20_000);
      await svc.kill('SIGTERM');
      clearTimeout(killer);
    },
  };
}

/**
 * Top functions by self time of a V8 .cpuprofile (written by --cpu-prof). `fromMs`: count only the
 * samples taken at least that many milliseconds after the profile started (the process's start),
 * so a profile of a short run is not dominated by module loading and start-up.
 */
export function summarizeCpuProfile(file: string, top = 12, fromMs = 0): string[] {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples?: number[]; timeDeltas?: number[] };
  const hits = new Map<number, number>();
  if (prof.samples && prof.timeDeltas && prof.samples.length === prof.timeDeltas.length) {
    let t = 0;
    prof.samples.forEach((id, i) => {
      t += prof.timeDeltas![i]!;
      if (t >= fromMs * 1000) hits.set(id, (hits.get(id) ?? 0) + 1);
    });
  } else for (const n of prof.nodes) hits.set(n.id, n.hitCount ?? 0);
  let total = 0;
  for (const v of hits.values()) total += v;
  const byFn = new Map<string, number>();
  for (const n of prof.nodes) {
    const where = n.callFrame.url ? `${n.callFrame.url.replace(/^.*\/(node_modules|dist-bench)\//, '$1/')}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + (hits.get(n.id) ?? 0));
  }
  return [...byFn.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => `${((100 * v) / (total || 1)).toFixed(1)} % ${k}`);
}
