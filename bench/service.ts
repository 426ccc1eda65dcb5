/** The built service (dist-bench/http/server.js) as a child process, for the HTTP benchmarks. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sleep } from './lib';

export interface BenchService {
  url: string;
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startService(env: Record<string, string>, execArgv: string[] = []): Promise<BenchService> {
  const entry = path.resolve(__dirname, '../http/server.js');
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: build with tsc -p tsconfig.bench.json`);
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, [...execArgv, entry], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      // the benchmark drives far more than one client's budget: rate limits are not what it measures
      RATE_LIMIT_API_BURST: '100000000',
      RATE_LIMIT_API_PER_SECOND: '100000000',
      RATE_LIMIT_WEBHOOK_BURST: '100000000',
      RATE_LIMIT_WEBHOOK_PER_SECOND: '100000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited early (${child.exitCode}):\n${output.join('').slice(-4000)}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service not ready in 60 s:\n${output.join('').slice(-4000)}`);
    }
    await sleep(100);
  }
  return {
    url,
    child,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Top functions by self time of a V8 .cpuprofile (written by --cpu-prof). */
export function summarizeCpuProfile(file: string, top = 12): string[] {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples?: number[] };
  const total = prof.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
  const byFn = new Map<string, number>();
  for (const n of prof.nodes) {
    const where = n.callFrame.url ? `${n.callFrame.url.replace(/^.*\/(node_modules|dist-bench)\//, '$1/')}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  return [...byFn.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1)} % ${k}`);
}
