/** Runs the built service (dist/) as a real child process, for failover and crash tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ServiceProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[];
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  /** The built entry point; default dist/main/server.js (what `npm test` builds). */
  readonly entry?: string;
  /** Node flags, e.g. --cpu-prof for the benchmarks. */
  readonly execArgv?: readonly string[];
  /** How long to wait for /readyz 200. Default 30 s. */
  readonly readyTimeoutMs?: number;
}

/** The built service as a child process on a free port, resolved once /readyz answers 200. Also used by bench/. */
export async function spawnService(env: Record<string, string>, opts: SpawnOptions = {}): Promise<ServiceProcess> {
  const entry = opts.entry ?? path.resolve(__dirname, '../../dist/main/server.js');
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: build it first (\`npm test\` runs npm run build; the benchmarks build dist-bench)`);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, [...(opts.execArgv ?? []), entry], {
    // load and fault tests drive far more than a client's budget: rate limits are not what they test
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      RATE_LIMIT_API_BURST: '1000000',
      RATE_LIMIT_API_PER_SECOND: '1000000',
      RATE_LIMIT_WEBHOOK_BURST: '1000000',
      RATE_LIMIT_WEBHOOK_PER_SECOND: '1000000',
      RATE_LIMIT_HEALTH_BURST: '1000000',
      RATE_LIMIT_HEALTH_PER_SECOND: '1000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited early (${child.exitCode}):\n${output.join('')}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service not ready in ${readyTimeoutMs / 1000} s:\n${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
