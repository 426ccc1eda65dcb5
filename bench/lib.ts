/** Shared helpers of the benchmarks: statistics, the machine line, child processes, databases. */
import { fork, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const round = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
export const ratio = (x: number, base: number): string => (Number.isFinite(x) && Number.isFinite(base) && base > 0 ? `${(x / base).toFixed(2)}x` : 'n/a');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Cores, memory, PostgreSQL and Node versions: printed by every benchmark. */
export async function machineLine(databaseUrl: string): Promise<string> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  let pg = 'unknown';
  let settings = '';
  try {
    pg = String((await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v);
    const { rows } = await c.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections') ORDER BY name`,
    );
    settings = rows.map((r) => `${r.name}=${r.setting}`).join(' ');
  } finally {
    await c.end();
  }
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, load ${os.loadavg().map((l) => l.toFixed(1)).join('/')}, PostgreSQL ${pg} (${settings}), Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** Runs a compiled bench module as its own process (the load generator never shares the measured process). */
export function runChild<T>(module: string, input: unknown, opts: { execArgv?: string[]; timeoutMs?: number } = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = fork(path.join(__dirname, module), [], { execArgv: opts.execArgv ?? [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    let result: T | undefined;
    let failure: string | undefined;
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('message', (m: { result?: T; error?: string }) => {
      if (m.error !== undefined) failure = m.error;
      else result = m.result;
    });
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      if (failure !== undefined) reject(new Error(`${module}: ${failure}`));
      else if (result === undefined) reject(new Error(`${module} exited (${code}) without a result`));
      else resolve(result);
    });
    child.send(input as object);
  });
}

/** The child side of runChild: receives its input (as sent, so `fn` states its shape), sends back the result or the error, exits. */
export function childMain(fn: (input: unknown) => Promise<unknown>): void {
  process.once('message', (input: unknown) => {
    fn(input).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err: unknown) => process.send!({ error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }, () => process.exit(1)),
    );
  });
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A connection string to another database of the same server. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function adminQuery(url: string, sql: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Peak resident set size (VmHWM) of a process, in MiB, from /proc. */
export function peakRssMiB(pid: number): number {
  const status = execFileSync('cat', [`/proc/${pid}/status`]).toString();
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

export function currentRssMiB(pid: number): number {
  const status = execFileSync('cat', [`/proc/${pid}/status`]).toString();
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A ~1 KB JSON event body (a payment fact with padding text), as the append benchmark writes. */
export function kilobyteEvent(i: number): Record<string, unknown> {
  return {
    invoiceId: `inv_${i}`,
    attemptId: `pi_${i}`,
    amount: 1000 + (i % 5000),
    currency: 'EUR',
    provider: 'stripe',
    occurredAt: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    note: 'x'.repeat(820),
  };
}
