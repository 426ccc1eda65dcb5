/**
 * Benchmarks (2) webhook ingestion over HTTP, (4) webhook to read model and (6) memory, all
 * against one service child process on its own schema; the load generator is another process.
 */
import { Client } from 'pg';
import { median, peakRssMiB, currentRssMiB, ratio, round, runChild, sleep, uniqueName } from './lib';
import { SERVICE_NODE_FLAGS, startService, summarizeCpuProfile } from './service';
import { BENCH_SQL, pgStatTop, pgStatReset } from './pgstat';
import { paymentPrefix, type WebhookLoadInput, type WebhookLoadResult } from './webhookLoad';
import { migratePeer, PEER_SCHEMA } from './peerServer';
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
  ingest: {
    /** Settle: requests/s answered (any status), ack latency, deliveries/s applied (see AppliedRun) */
    rps: number;
    p50: number;
    p99: number;
    appliedRps: number;
    /** median seconds from the end of the load to the last acknowledged event visible */
    drainSeconds: number;
    lost: number;
    doubled: number;
    historyExpected: number;
    historyRows: number;
    acked: number;
    non200: number;
    ceilingRps: number;
    ceilingP99: number;
    /** the peer (@supabase/stripe-sync-engine) under the same load, interleaved with Settle's runs */
    peer: { rps: number; p50: number; p99: number; appliedRps: number; drainSeconds: number; acked: number; lost: number; doubled: number; non200: number };
    /** Settle's applied deliveries/s over the peer's */
    appliedRatio: number;
  };
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

/**
 * A bench server module (bench/httpCeiling.ts, bench/peerServer.ts) as its own process, with the
 * service's Node flags; resolves with its URL and a stop function once it prints its port.
 */
async function startServer(module: string, args: string[], env: Record<string, string> = {}): Promise<{ url: string; pid: number; stop(): void }> {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, path.join(__dirname, module), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${module} exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: () => child.kill('SIGKILL') };
}

/**
 * One max-rate run of (2), counted twice: when answered (requests/s, ack latency: what the load
 * generator sees) and when applied. Applied = every event the run got a 200 for is visible where
 * readers see it (Settle: the payment history behind `GET /v1/payments`; the peer: its
 * `payment_intents` table), whether the service applies before or after it answers. The run ends
 * when that backlog is empty: `appliedRps` is the deliveries answered 200 (duplicates included, as
 * in requests/s) over the seconds from the first request to the moment the last one is visible.
 */
interface AppliedRun {
  load: WebhookLoadResult;
  appliedRps: number;
  /** seconds from the end of the load to the last acknowledged event visible (0: visible at the first look) */
  drainSeconds: number;
  /** distinct acknowledged events of the run still not visible when the wait gave up */
  notVisible: number;
}

const ok200 = (r: WebhookLoadResult): number => r.status['200'] ?? 0;

/**
 * Waits until `visible()` (the run's distinct events seen by readers) reaches the run's distinct
 * acknowledged events, polling every 50 ms, at most `timeoutMs` after the load ended. If the first
 * look already sees them all, they were applied by the end of the load (the peer applies before it
 * answers); else the run ends at the look that saw the last one.
 */
async function appliedRun(load: WebhookLoadResult, visible: () => Promise<number>, timeoutMs = 180_000): Promise<AppliedRun> {
  const expected = load.acked.length;
  const giveUp = Date.now() + timeoutMs;
  for (let look = 0; ; look++) {
    const seen = await visible();
    const now = Date.now();
    if (seen >= expected) {
      const endMs = look === 0 ? load.endedAtMs : now;
      return { load, appliedRps: ok200(load) / ((endMs - load.startedAtMs) / 1000), drainSeconds: (endMs - load.endedAtMs) / 1000, notVisible: 0 };
    }
    if (now > giveUp) return { load, appliedRps: NaN, drainSeconds: NaN, notVisible: expected - seen };
    await sleep(50);
  }
}

/** LIKE pattern of the payment ids a run of the load generator sends (`_` escaped). */
const likeRun = (runId: string): string => `${paymentPrefix(runId).replace(/_/g, '\\_')}%`;

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

    // ---- (2) ingestion at max rate: Settle and the peer, interleaved run by run, the same load
    await migratePeer(o.databaseUrl);
    const peer = await startServer('peerServer.js', [], { PEER_DATABASE_URL: o.databaseUrl, PEER_WEBHOOK_SECRET: SECRET });
    o.log(`  (2) peer (@supabase/stripe-sync-engine) migrated into schema ${PEER_SCHEMA}, server pid ${peer.pid}`);
    await pgStatReset(o.databaseUrl);
    const runs: AppliedRun[] = [];
    const peerRuns: AppliedRun[] = [];
    const maxRun = (url: string, runId: string): Promise<WebhookLoadResult> =>
      runChild<WebhookLoadResult>(
        'webhookLoad.js',
        { url, secret: SECRET, apiKey, tenantId: 'bench', invoices: pool, mode: 'max', connections: o.connections, durationMs: o.durationMs, duplicateRatio: 0.1, runId } satisfies WebhookLoadInput,
        { timeoutMs: o.durationMs + 120_000 },
      );
    const count = async (sql: string, runId: string): Promise<number> => Number((await db.query<{ n: string }>(sql, [likeRun(runId)])).rows[0]!.n);
    const describe = (a: AppliedRun): string =>
      `${round(a.load.perSecond)} req/s answered, ${round(a.appliedRps)} applied/s (drained ${round(a.drainSeconds, 2)} s after the load), ack p50 ${round(a.load.ackP50, 1)} ms, p99 ${round(a.load.ackP99, 1)} ms, status ${JSON.stringify(a.load.status)}, ${a.load.duplicatesSent} duplicates${a.notVisible ? `, ${a.notVisible} NOT VISIBLE` : ''}`;
    try {
      for (let run = 1; run <= o.runs; run++) {
        const settleId = `m${run}${uniqueName('').slice(1)}`;
        const s = await appliedRun(await maxRun(svc.url, settleId), () =>
          count(`${BENCH_SQL} SELECT count(DISTINCT provider_payment_id) AS n FROM payment_history WHERE tenant_id = 'bench' AND provider_payment_id LIKE $1`, settleId),
        );
        o.log(`  (2) Settle run ${run}: ${describe(s)}`);
        runs.push(s);
        const peerId = `e${run}${uniqueName('').slice(1)}`;
        const p = await appliedRun(await maxRun(peer.url, peerId), () => count(`${BENCH_SQL} SELECT count(*) AS n FROM ${PEER_SCHEMA}.payment_intents WHERE id LIKE $1`, peerId));
        o.log(`  (2) peer run ${run}: ${describe(p)}`);
        peerRuns.push(p);
      }
    } finally {
      peer.stop();
    }
    const peakMiB = peakRssMiB(svc.pid);
    const statements = await pgStatTop(o.databaseUrl, 8, { exclude: `"${PEER_SCHEMA}".` });
    const peerStatements = await pgStatTop(o.databaseUrl, 3, { only: `"${PEER_SCHEMA}".` });

    // ---- baseline of (2): the same load against a bare HTTP server that only verifies signatures
    const ceilingRuns: WebhookLoadResult[] = [];
    const ceiling = await startServer('httpCeiling.js', [SECRET]);
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
    const acked = new Set(runs.flatMap((r) => r.load.acked));
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
    const non200Of = (rs: AppliedRun[]) => rs.reduce((a, r) => a + r.load.requests - ok200(r.load), 0);
    const non200 = non200Of(runs);
    o.log(`  (2) verification: ${acked.size} acknowledged events, ${lost} lost, ${doubled} doubled, payment history ${historyRows} rows (expected ${historyExpected}), ${non200} non-200 answers`);

    const rps = median(runs.map((r) => r.load.perSecond));
    const p50 = median(runs.map((r) => r.load.ackP50));
    const p99 = median(runs.map((r) => r.load.ackP99));
    const appliedRps = median(runs.map((r) => r.appliedRps));
    const drainSeconds = median(runs.map((r) => r.drainSeconds));

    // ---- the peer's verification: every acknowledged event's payment intent stored (once: its primary key)
    const peerAcked = new Set(peerRuns.flatMap((r) => r.load.acked.map((id) => `pi_${id.slice('evt_'.length)}`)));
    const { rows: peerStored } = await db.query<{ id: string; n: string }>(`SELECT id, count(*) AS n FROM ${PEER_SCHEMA}.payment_intents WHERE id LIKE 'pi\\_e%' GROUP BY id`);
    const peerCount = new Map(peerStored.map((r) => [r.id, Number(r.n)]));
    const peerSide = {
      rps: median(peerRuns.map((r) => r.load.perSecond)),
      p50: median(peerRuns.map((r) => r.load.ackP50)),
      p99: median(peerRuns.map((r) => r.load.ackP99)),
      appliedRps: median(peerRuns.map((r) => r.appliedRps)),
      drainSeconds: median(peerRuns.map((r) => r.drainSeconds)),
      acked: peerAcked.size,
      lost: [...peerAcked].filter((id) => !peerCount.has(id)).length,
      doubled: [...peerCount.values()].filter((n) => n > 1).length,
      non200: non200Of(peerRuns),
    };
    const appliedRatio = appliedRps / peerSide.appliedRps;
    o.log(`  (2) peer verification: ${peerSide.acked} acknowledged events, ${peerSide.lost} lost, ${peerSide.doubled} doubled, ${peerSide.non200} non-200 answers`);
    o.log(`  (2) Settle applied ${round(appliedRps)}/s, peer ${round(peerSide.appliedRps)}/s: ${ratio(appliedRps, peerSide.appliedRps)}`);

    // ---- (4) webhook to read model at half the maximum rate of (2), once every projection has
    // caught up with what (2) wrote (else (4) would measure the backlog of (2))
    const caughtUpBy = Date.now() + 180_000;
    while (Date.now() < caughtUpBy) {
      const { data } = await api<{ data: Array<{ caughtUp: boolean }> }>(svc.url, ADMIN, 'GET', '/v1/admin/projections');
      if (data.every((p) => p.caughtUp)) break;
      await sleep(500);
    }
    // half of the rate Settle sustains: the applied one (with an ack before the apply, the answered rate can outrun it)
    const rate = Math.max(1, (Number.isFinite(appliedRps) ? appliedRps : rps) / 2);
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
      const spawnedAt = Date.now();
      const prof = await startService({ ...env, PROJECTIONS_ENABLED: 'false' }, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      let loadFromMs = 0;
      try {
        const r = await runChild<WebhookLoadResult>('webhookLoad.js', {
          url: prof.url, secret: SECRET, apiKey, tenantId: 'bench', invoices: pool, mode: 'max', connections: o.connections,
          durationMs: Math.min(o.durationMs, 10_000), duplicateRatio: 0.1, runId: `x${uniqueName('').slice(1)}`,
        } satisfies WebhookLoadInput);
        // the profile counts from the first request (the process started at about spawnedAt)
        loadFromMs = r.startedAtMs - spawnedAt;
      } finally {
        await prof.stop();
      }
      const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      profileLines = file ? summarizeCpuProfile(path.join(dir, file), Number(process.env.BENCH_PROFILE_TOP ?? 15), loadFromMs) : ['(no profile written)'];
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
      `The peer: \`@supabase/stripe-sync-engine\` 0.48.5 (\`bench/peerServer.ts\`), its README's manual mode: a bare \`node:http\` server around \`processWebhook\` (signature check, one upsert per event into \`stripe.payment_intents\`), the library's defaults (pool of 10, no logger, no \`revalidateObjectsViaStripeApi\`, so it never calls the Stripe API for these events), migrated by the bench into its own schema \`stripe\` of the same database; the same load generator, runs interleaved (Settle, peer, Settle, peer, …). **Applied** counts a run until every event it got a 200 for is visible to readers (Settle: in the payment history behind \`GET /v1/payments\`; the peer: in its table): deliveries answered 200 over the seconds from the first request to the last event visible, so a service that answers before it applies is timed to the end of its backlog.`,
      '',
      '| metric | Settle median | Settle runs | peer median | peer runs | Settle / peer |',
      '| --- | --- | --- | --- | --- | --- |',
      `| applied deliveries/s | ${round(appliedRps)} | ${runs.map((r) => round(r.appliedRps)).join(', ')} | ${round(peerSide.appliedRps)} | ${peerRuns.map((r) => round(r.appliedRps)).join(', ')} | **${ratio(appliedRps, peerSide.appliedRps)}** |`,
      `| answered requests/s | ${round(rps)} | ${runs.map((r) => round(r.load.perSecond)).join(', ')} | ${round(peerSide.rps)} | ${peerRuns.map((r) => round(r.load.perSecond)).join(', ')} | ${ratio(rps, peerSide.rps)} |`,
      `| ack p50 (ms) | ${round(p50, 1)} | ${runs.map((r) => round(r.load.ackP50, 1)).join(', ')} | ${round(peerSide.p50, 1)} | ${peerRuns.map((r) => round(r.load.ackP50, 1)).join(', ')} | |`,
      `| ack p99 (ms) | ${round(p99, 1)} | ${runs.map((r) => round(r.load.ackP99, 1)).join(', ')} | ${round(peerSide.p99, 1)} | ${peerRuns.map((r) => round(r.load.ackP99, 1)).join(', ')} | |`,
      `| backlog drained after the load (s) | ${round(drainSeconds, 2)} | ${runs.map((r) => round(r.drainSeconds, 2)).join(', ')} | ${round(peerSide.drainSeconds, 2)} | ${peerRuns.map((r) => round(r.drainSeconds, 2)).join(', ')} | |`,
      `| lost / doubled | ${lost} / ${doubled} | | ${peerSide.lost} / ${peerSide.doubled} | | |`,
      '',
      '| other baselines | value | runs |',
      '| --- | --- | --- |',
      ...(Number.isFinite(o.rawCeiling) ? [`| Settle's answered requests/s over the raw single-row ceiling of (1) at 16 writers (${round(o.rawCeiling)}/s) | ${ratio(rps, o.rawCeiling)} | |`] : []),
      `| HTTP ceiling: a bare \`node:http\` server that only verifies the signature, same load (requests/s; p99 ms) | ${round(ceilingRps)}; ${round(ceilingP99, 1)} | ${ceilingRuns.map((r) => round(r.perSecond)).join(', ')} |`,
      `| Settle's answered requests/s over the HTTP ceiling | ${ratio(rps, ceilingRps)} | |`,
      '',
      `Verification: Settle: ${acked.size} distinct events acknowledged (200), **${lost} lost, ${doubled} doubled**; payment history holds ${historyRows} rows for them (expected ${historyExpected}); ${non200} requests not answered 200. The peer: ${peerSide.acked} distinct events acknowledged, **${peerSide.lost} lost, ${peerSide.doubled} doubled** (its payment intent rows; one per id by its primary key); ${peerSide.non200} requests not answered 200.`,
      ...(statements.length ? ['', "Top statements of Settle by total execution time during (2) (`pg_stat_statements`, the peer's left out):", '', '```', ...statements, '```'] : []),
      ...(peerStatements.length ? ['', "The peer's top statements during (2):", '', '```', ...peerStatements, '```'] : []),
      ...(profileLines.length ? ['', `CPU profile of the service during a ${Math.min(o.durationMs, 10_000) / 1000} s run of (2) (\`--cpu-prof\`, self time, top functions; samples from the first request on, start-up left out):`, '', '```', ...profileLines, '```'] : []),
    ].join('\n');
    const markdownE2e = [
      `Paced at half the applied rate of (2) (${round(rate)} events/s, open loop), ${o.runs} runs of ${o.pacedDurationMs / 1000} s; after the 200, ${pollers} pollers in the load generator (one per 25 events/s, at least 4) list \`GET /v1/payments?payable_id=…\` for the invoices with outstanding attempts, round robin, each invoice at most once per 10 ms, until each attempt is listed (${round(median(paced.map((r) => (r.polls ?? 0) / r.seconds)))} listings/s, a read load that follows the write rate, not the lag). Baseline: the webhook's own acknowledgement latency in the same runs.`,
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
      ingest: { rps, p50, p99, appliedRps, drainSeconds, lost, doubled, historyExpected, historyRows, acked: acked.size, non200, ceilingRps, ceilingP99, peer: peerSide, appliedRatio },
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
