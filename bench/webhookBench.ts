/**
 * Benchmarks (2) webhook ingestion over HTTP, (4) webhook to read model and (6) memory, all
 * against one service child process on its own schema; the load generator is another process.
 */
import { Client } from 'pg';
import { median, peakRssMiB, currentRssMiB, ratio, round, runChild, sleep, uniqueName } from './lib';
import { startService, summarizeCpuProfile } from './service';
import { pgStatTop, pgStatReset } from './pgstat';
import type { WebhookLoadInput, WebhookLoadResult } from './webhookLoad';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface WebhookBenchOptions {
  databaseUrl: string;
  runs: number;
  durationMs: number;
  pacedDurationMs: number;
  connections: number;
  invoices: number;
  rawCeiling: number;
  profile: boolean;
  log: (line: string) => void;
}

export interface WebhookBenchResult {
  /** the service's schema: its event log and outbox are the templates for (3) and (5) */
  schema: string;
  ingest: { rps: number; p50: number; p99: number; lost: number; doubled: number; historyExpected: number; historyRows: number; acked: number; non200: number; ceilingRps: number; ceilingP99: number };
  e2e: { rate: number; p50: number; p99: number; ackP50: number; ackP99: number; notVisible: number; quarterRate: number; quarterP50: number; quarterP99: number };
  memory: { peakMiB: number; idleMiB: number };
  markdownIngest: string;
  markdownE2e: string;
  markdownMemory: string;
}

const SECRET = 'whsec_bench_secret_0123456789';
const ADMIN = 'bench-admin-key-0123456789abcdef';

async function api<T>(url: string, key: string, method: string, p: string, body?: unknown): Promise<T> {
  const r = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

async function createInvoices(url: string, key: string, n: number): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        next++;
        const r = await api<{ invoiceId: string }>(url, key, 'POST', '/v1/invoices', {
          customerId: `cust-${next % 50}`,
          customer: { name: 'Bench Customer', email: 'bench@example.com' },
          currency: 'USD',
          lineItems: [{ description: 'Trip deposit', quantity: 1, unitAmount: 1099 }],
          dueDate: '2030-12-31',
          allowedPaymentMethods: ['stripe_connect'],
        });
        out.push(r.invoiceId);
      }
    }),
  );
  return out;
}

/**
 * Pollers of (4) for a paced rate: the read load follows the write rate, one poller per 25
 * events/s (about two listings per event at ~20 ms a listing), at least 4. A fixed handful falls
 * behind a fast service: round robin over hundreds of outstanding invoices then measures the pollers.
 */
const pollersFor = (eventsPerSecond: number): number => Math.max(4, Math.ceil(eventsPerSecond / 25));

/** The HTTP ceiling (bench/httpCeiling.ts) as its own process; resolves with its URL and a stop function. */
async function startCeiling(): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'httpCeiling.js'), SECRET], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`httpCeiling exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

export async function webhookBench(o: WebhookBenchOptions): Promise<WebhookBenchResult> {
  const schema = uniqueName('bench_http');
  const env = { DATABASE_URL: o.databaseUrl, DATABASE_SCHEMA: schema, STRIPE_WEBHOOK_SECRET: SECRET, ADMIN_API_KEY: ADMIN };
  const svc = await startService(env);
  const db = new Client({ connectionString: o.databaseUrl, options: `-c search_path=${schema}` });
  try {
    await db.connect();
    await sleep(1000);
    const idleMiB = currentRssMiB(svc.pid);
    await api(svc.url, ADMIN, 'POST', '/v1/tenants', { tenantId: 'bench', name: 'Bench' });
    const apiKey = (await api<{ apiKey: string }>(svc.url, ADMIN, 'POST', '/v1/tenants/bench/api-keys', { label: 'bench' })).apiKey;
    const pool = await createInvoices(svc.url, apiKey, o.invoices);
    const pacedPool = await createInvoices(svc.url, apiKey, o.invoices);
    o.log(`  (2) service pid ${svc.pid}, ${pool.length + pacedPool.length} invoices created, idle RSS ${idleMiB.toFixed(0)} MiB`);

    // ---- (2) ingestion at max rate
    await pgStatReset(o.databaseUrl);
    const runs: WebhookLoadResult[] = [];
    for (let run = 1; run <= o.runs; run++) {
      const input: WebhookLoadInput = {
        url: svc.url,
        secret: SECRET,
        apiKey,
        tenantId: 'bench',
        invoices: pool,
        mode: 'max',
        connections: o.connections,
        durationMs: o.durationMs,
        duplicateRatio: 0.1,
        runId: `m${run}${uniqueName('').slice(1)}`,
      };
      const r = await runChild<WebhookLoadResult>('webhookLoad.js', input, { timeoutMs: o.durationMs + 120_000 });
      o.log(`  (2) run ${run}: ${round(r.perSecond)} req/s, p50 ${round(r.ackP50, 1)} ms, p99 ${round(r.ackP99, 1)} ms, status ${JSON.stringify(r.status)}, ${r.duplicatesSent} duplicates`);
      runs.push(r);
    }
    const peakMiB = peakRssMiB(svc.pid);
    const statements = await pgStatTop(o.databaseUrl, 8);

    // ---- baseline of (2): the same load against a bare HTTP server that only verifies signatures
    const ceilingRuns: WebhookLoadResult[] = [];
    const ceiling = await startCeiling();
    try {
      for (let run = 1; run <= o.runs; run++) {
        const r = await runChild<WebhookLoadResult>(
          'webhookLoad.js',
          { url: ceiling.url, secret: SECRET, apiKey, tenantId: 'bench', invoices: pool, mode: 'max', connections: o.connections, durationMs: o.durationMs, duplicateRatio: 0.1, runId: `c${run}${uniqueName('').slice(1)}` } satisfies WebhookLoadInput,
          { timeoutMs: o.durationMs + 120_000 },
        );
        o.log(`  (2) HTTP ceiling run ${run}: ${round(r.perSecond)} req/s, p50 ${round(r.ackP50, 1)} ms, p99 ${round(r.ackP99, 1)} ms`);
        ceilingRuns.push(r);
      }
    } finally {
      ceiling.stop();
    }
    const ceilingRps = median(ceilingRuns.map((r) => r.perSecond));
    const ceilingP99 = median(ceilingRuns.map((r) => r.ackP99));

    // ---- verification: every acknowledged event stored once, the payment history exactly as expected
    const acked = new Set(runs.flatMap((r) => r.acked));
    const { rows: stored } = await db.query<{ c: string; n: string }>(
      `SELECT metadata->>'causationId' AS c, count(*) AS n FROM events WHERE event_type = 'PaymentAttemptFailed' GROUP BY 1`,
    );
    const perEvent = new Map(stored.map((r) => [r.c, Number(r.n)]));
    let lost = 0;
    for (const id of acked) if (!perEvent.has(id)) lost++;
    const doubled = [...perEvent.values()].filter((n) => n > 1).length;
    const historyExpected = acked.size;
    // the history is a read model: wait (bounded) for it to catch up with the log
    let historyRows = 0;
    const until = Date.now() + 120_000;
    for (;;) {
      const { rows } = await db.query<{ n: string; d: string }>(
        `SELECT count(*) AS n, count(DISTINCT provider_payment_id) AS d FROM payment_history WHERE tenant_id = 'bench' AND provider_payment_id LIKE 'pi_m%'`,
      );
      historyRows = Number(rows[0]!.n);
      if (historyRows >= historyExpected || Date.now() > until) break;
      await sleep(250);
    }
    const non200 = runs.reduce((a, r) => a + Object.entries(r.status).filter(([s]) => s !== '200').reduce((x, [, n]) => x + n, 0), 0);
    o.log(`  (2) verification: ${acked.size} acknowledged events, ${lost} lost, ${doubled} doubled, payment history ${historyRows} rows (expected ${historyExpected}), ${non200} non-200 answers`);

    const rps = median(runs.map((r) => r.perSecond));
    const p50 = median(runs.map((r) => r.ackP50));
    const p99 = median(runs.map((r) => r.ackP99));

    // ---- (4) webhook to read model at half the maximum rate of (2), once every projection has
    // caught up with what (2) wrote (else (4) would measure the backlog of (2))
    const caughtUpBy = Date.now() + 180_000;
    while (Date.now() < caughtUpBy) {
      const { data } = await api<{ data: Array<{ caughtUp: boolean }> }>(svc.url, ADMIN, 'GET', '/v1/admin/projections');
      if (data.every((p) => p.caughtUp)) break;
      await sleep(500);
    }
    const rate = Math.max(1, rps / 2);
    const pollers = pollersFor(rate);
    const pacedRuns = async (at: number, label: string): Promise<WebhookLoadResult[]> => {
      const out: WebhookLoadResult[] = [];
      const n = pollersFor(at);
      for (let run = 1; run <= o.runs; run++) {
        const r = await runChild<WebhookLoadResult>(
          'webhookLoad.js',
          {
            url: svc.url,
            secret: SECRET,
            apiKey,
            tenantId: 'bench',
            invoices: pacedPool,
            mode: 'paced',
            connections: o.connections,
            durationMs: o.pacedDurationMs,
            duplicateRatio: 0,
            rate: at,
            pollMs: 10,
            pollers: n,
            runId: `${label}${run}${uniqueName('').slice(1)}`,
          } satisfies WebhookLoadInput,
          { timeoutMs: o.pacedDurationMs + 120_000 },
        );
        o.log(`  (4) run ${run} at ${round(at)} events/s, ${n} pollers, ${round((r.polls ?? 0) / r.seconds)} listings/s: visible p50 ${round(r.visibleP50 ?? NaN, 1)} ms, p99 ${round(r.visibleP99 ?? NaN, 1)} ms (ack p50 ${round(r.ackP50, 1)} ms, p99 ${round(r.ackP99, 1)} ms), ${r.visibleCount} visible, ${r.notVisible} not visible in 30 s`);
        out.push(r);
      }
      return out;
    };
    const paced = await pacedRuns(rate, 'p');
    // the same at a quarter of the maximum rate: where the latency stands below saturation
    const quarter = await pacedRuns(rate / 2, 'q');

    // ---- profile: one more short run of (2) against a second instance started with --cpu-prof
    let profileLines: string[] = [];
    if (o.profile) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-prof-'));
      const prof = await startService({ ...env, PROJECTIONS_ENABLED: 'false' }, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      try {
        await runChild<WebhookLoadResult>('webhookLoad.js', {
          url: prof.url, secret: SECRET, apiKey, tenantId: 'bench', invoices: pool, mode: 'max', connections: o.connections,
          durationMs: Math.min(o.durationMs, 10_000), duplicateRatio: 0.1, runId: `x${uniqueName('').slice(1)}`,
        } satisfies WebhookLoadInput);
      } finally {
        await prof.stop();
      }
      const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      profileLines = file ? summarizeCpuProfile(path.join(dir, file), Number(process.env.BENCH_PROFILE_TOP ?? 15)) : ['(no profile written)'];
      fs.rmSync(dir, { recursive: true, force: true });
    }

    const e2e = {
      rate,
      p50: median(paced.map((r) => r.visibleP50 ?? NaN)),
      p99: median(paced.map((r) => r.visibleP99 ?? NaN)),
      ackP50: median(paced.map((r) => r.ackP50)),
      ackP99: median(paced.map((r) => r.ackP99)),
      notVisible: paced.reduce((a, r) => a + (r.notVisible ?? 0), 0),
      quarterRate: rate / 2,
      quarterP50: median(quarter.map((r) => r.visibleP50 ?? NaN)),
      quarterP99: median(quarter.map((r) => r.visibleP99 ?? NaN)),
    };
    const markdownIngest = [
      `Signed Stripe \`payment_intent.payment_failed\` events built from the provider's example object (each a new failed attempt on one of ${o.invoices} invoices), 10 % duplicate deliveries, ${o.connections} keep-alive connections, ${o.runs} runs of ${o.durationMs / 1000} s; load generator in its own process, service in another (PostgreSQL, in-process messaging).`,
      '',
      '| metric | median | runs |',
      '| --- | --- | --- |',
      `| requests/s | ${round(rps)} | ${runs.map((r) => round(r.perSecond)).join(', ')} |`,
      `| p50 latency (ms) | ${round(p50, 1)} | ${runs.map((r) => round(r.ackP50, 1)).join(', ')} |`,
      `| p99 latency (ms) | ${round(p99, 1)} | ${runs.map((r) => round(r.ackP99, 1)).join(', ')} |`,
      `| ratio to the raw single-row ceiling of (1) at 16 writers (${round(o.rawCeiling)}/s) | ${ratio(rps, o.rawCeiling)} | |`,
      `| HTTP ceiling: a bare \`node:http\` server that only verifies the signature, same load (requests/s; p99 ms) | ${round(ceilingRps)}; ${round(ceilingP99, 1)} | ${ceilingRuns.map((r) => round(r.perSecond)).join(', ')} |`,
      `| ratio to the HTTP ceiling | ${ratio(rps, ceilingRps)} | |`,
      '',
      `Verification: ${acked.size} distinct events acknowledged (200), **${lost} lost, ${doubled} doubled**; payment history holds ${historyRows} rows for them (expected ${historyExpected}); ${non200} requests not answered 200.`,
      ...(statements.length ? ['', 'Top statements by total execution time during (2) (`pg_stat_statements`):', '', '```', ...statements, '```'] : []),
      ...(profileLines.length ? ['', `CPU profile of the service during a ${Math.min(o.durationMs, 10_000) / 1000} s run of (2) (\`--cpu-prof\`, self time, top functions):`, '', '```', ...profileLines, '```'] : []),
    ].join('\n');
    const markdownE2e = [
      `Paced at half the maximum rate of (2) (${round(rate)} events/s, open loop), ${o.runs} runs of ${o.pacedDurationMs / 1000} s; after the 200, ${pollers} pollers in the load generator (one per 25 events/s, at least 4) list \`GET /v1/payments?payable_id=…\` for the invoices with outstanding attempts, round robin, each invoice at most once per 10 ms, until each attempt is listed (${round(median(paced.map((r) => (r.polls ?? 0) / r.seconds)))} listings/s, a read load that follows the write rate, not the lag). Baseline: the webhook's own acknowledgement latency in the same runs.`,
      '',
      '| metric | median | runs |',
      '| --- | --- | --- |',
      `| visible p50 (ms) | ${round(e2e.p50, 1)} | ${paced.map((r) => round(r.visibleP50 ?? NaN, 1)).join(', ')} |`,
      `| visible p99 (ms) | ${round(e2e.p99, 1)} | ${paced.map((r) => round(r.visibleP99 ?? NaN, 1)).join(', ')} |`,
      `| acknowledged p50 / p99 (ms) | ${round(e2e.ackP50, 1)} / ${round(e2e.ackP99, 1)} | |`,
      `| p99 visible / p99 acknowledged | ${ratio(e2e.p99, e2e.ackP99)} | |`,
      `| not visible within 30 s | ${e2e.notVisible} | |`,
      `| at a quarter of the maximum rate (${round(e2e.quarterRate)} events/s): visible p50 / p99 (ms) | ${round(e2e.quarterP50, 1)} / ${round(e2e.quarterP99, 1)} | ${quarter.map((r) => `${round(r.visibleP50 ?? NaN, 1)} / ${round(r.visibleP99 ?? NaN, 1)}`).join(', ')} |`,
    ].join('\n');
    const markdownMemory = [
      `Peak resident set size (VmHWM) of the service process over its life up to the end of (2), against its RSS when idle after start-up (the baseline).`,
      '',
      `| peak RSS during (2) | idle RSS after start | ratio |`,
      '| --- | --- | --- |',
      `| ${peakMiB.toFixed(0)} MiB | ${idleMiB.toFixed(0)} MiB | ${ratio(peakMiB, idleMiB)} |`,
    ].join('\n');
    return {
      schema,
      ingest: { rps, p50, p99, lost, doubled, historyExpected, historyRows, acked: acked.size, non200, ceilingRps, ceilingP99 },
      e2e,
      memory: { peakMiB, idleMiB },
      markdownIngest,
      markdownE2e,
      markdownMemory,
    };
  } finally {
    await db.end().catch(() => undefined);
    await svc.stop();
  }
}
