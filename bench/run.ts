/**
 * `npm run bench`: all six benchmarks in one run, on one PostgreSQL (and one Kafka broker), each
 * with its baseline measured in the same run; prints the machine line, medians and ratios, and
 * appends a dated section to BENCHMARKS.md. `--smoke` runs every benchmark with tiny counts and
 * no targets (what `npm test` runs, so the scripts cannot rot); `--out FILE` writes the report
 * there instead of appending to BENCHMARKS.md; `--json FILE` also writes the figures as JSON;
 * `--profile` adds the CPU profiles to a smoke run; `--webhooks-only` runs (2), (4) and (6) alone
 * (the webhook path and its peer; (2)'s raw-ceiling ratio is then n/a).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendBench } from './appendBench';
import type { KafkaJobInput, KafkaJobResult } from './kafkaJob';
import { adminQuery, machineLine, median, ratio, round, runChild, uniqueName, withDatabase } from './lib';
import { pgStatReset, pgStatTop } from './pgstat';
import type { RebuildJobInput, RebuildJobResult } from './rebuildJob';
import { summarizeCpuProfile } from './service';
import { startServices } from './services';
import { webhookBench } from './webhookBench';

interface Plan {
  appendRuns: number;
  appendMs: number;
  webhookRuns: number;
  webhookMs: number;
  pacedMs: number;
  invoices: number;
  rebuildEvents: number;
  rebuildRuns: number;
  kafkaRuns: number;
  kafkaMessages: number;
  profile: boolean;
}

const FULL: Plan = { appendRuns: 3, appendMs: 5000, webhookRuns: 3, webhookMs: 10_000, pacedMs: 10_000, invoices: 512, rebuildEvents: 1_000_000, rebuildRuns: 3, kafkaRuns: 3, kafkaMessages: 20_000, profile: true };
const SMOKE: Plan = { appendRuns: 1, appendMs: 500, webhookRuns: 1, webhookMs: 1000, pacedMs: 1000, invoices: 8, rebuildEvents: 2000, rebuildRuns: 1, kafkaRuns: 1, kafkaMessages: 50, profile: false };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const verdict = (ok: boolean) => (ok ? '**met**' : '**missed**');

async function main(): Promise<void> {
  const smoke = process.argv.includes('--smoke');
  const base = smoke ? { ...SMOKE, profile: process.argv.includes('--profile') } : FULL;
  // BENCH_WEBHOOK_MS: the length of each run of (2) (an experiment knob, e.g. a longer profiled smoke run)
  const plan = process.env.BENCH_WEBHOOK_MS ? { ...base, webhookMs: Number(process.env.BENCH_WEBHOOK_MS) } : base;
  const all = !process.argv.includes('--webhooks-only');
  const out = arg('--out') ?? path.resolve(__dirname, '../../BENCHMARKS.md');
  const jsonOut = arg('--json');
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const started = new Date();
  const services = startServices(log);
  const database = uniqueName('settle_bench');
  await adminQuery(services.databaseUrl, `CREATE DATABASE ${database}`);
  const url = withDatabase(services.databaseUrl, database);
  try {
    const machine = await machineLine(url);
    log(`machine: ${machine}`);

    // ---- (1) event-store append
    let append: Awaited<ReturnType<typeof appendBench>> | undefined;
    let appendStatements: string[] = [];
    if (all) {
      log('(1) event-store append');
      await pgStatReset(url);
      append = await appendBench({ databaseUrl: url, runs: plan.appendRuns, durationMs: plan.appendMs, writerCounts: [1, 16], targets: ['settle', 'settle-single', 'emmett', 'raw'], log });
      appendStatements = await pgStatTop(url, 6);
    }
    const m = append?.medians ?? {};
    const raw16 = m['raw@16'] ?? NaN;

    // ---- (2) webhooks, (4) webhook to read model, (6) memory
    log('(2) webhook ingestion, (4) webhook to read model, (6) memory');
    const web = await webhookBench({ databaseUrl: url, runs: plan.webhookRuns, durationMs: plan.webhookMs, pacedDurationMs: plan.pacedMs, connections: 64, invoices: plan.invoices, rawCeiling: raw16, profile: plan.profile, log });

    // ---- (3) projection rebuild
    let rebuildSection: { rebuild: RebuildJobResult; rate: number; readRate: number; statements: string[]; profile: string[] } | undefined;
    if (all) {
      log(`(3) projection rebuild of ${plan.rebuildEvents} events`);
      const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-rebuild-prof-'));
      await pgStatReset(url);
      const rebuild = await runChild<RebuildJobResult>(
        'rebuildJob.js',
        { databaseUrl: url, templateSchema: web.schema, schema: uniqueName('bench_rebuild'), events: plan.rebuildEvents, runs: plan.rebuildRuns } satisfies RebuildJobInput,
        { timeoutMs: 60 * 60_000, execArgv: plan.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [] },
      );
      const profFile = plan.profile ? fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
      const profile = profFile ? summarizeCpuProfile(path.join(profDir, profFile), 15) : [];
      fs.rmSync(profDir, { recursive: true, force: true });
      const statements = await pgStatTop(url, 6);
      const rate = median(rebuild.rebuildSeconds.map((s) => rebuild.events / s));
      const readRate = median(rebuild.readSeconds.map((s) => rebuild.events / s));
      log(`  (3) ${rebuild.events} events generated in ${rebuild.generateSeconds.toFixed(1)} s; rebuild ${rebuild.rebuildSeconds.map((s) => s.toFixed(1)).join(', ')} s (${round(rate)} events/s); read-only ${round(readRate)} events/s`);
      rebuildSection = { rebuild, rate, readRate, statements, profile };
    }

    // ---- (5) Kafka
    let kafkaSection: { runs: KafkaJobResult[]; relay: number; rawProduce: number; consumer: number; rawConsume: number; consumedAll: boolean; statements: string[] } | undefined;
    if (all) {
      log('(5) Kafka: outbox relay and finance consumer');
      await pgStatReset(url);
      const kafka: KafkaJobResult[] = [];
      for (let run = 1; run <= plan.kafkaRuns; run++) {
        const r = await runChild<KafkaJobResult>(
          'kafkaJob.js',
          { databaseUrl: url, brokers: services.kafkaBrokers, templateSchema: web.schema, schema: uniqueName('bench_kafka'), messages: plan.kafkaMessages, runId: uniqueName('bench') } satisfies KafkaJobInput,
          { timeoutMs: 30 * 60_000 },
        );
        log(`  (5) run ${run}: relay ${round(r.relayPerSecond)} msg/s (raw producer ${round(r.rawProducePerSecond)}), finance consumer ${round(r.consumerPerSecond)} msg/s (raw consumer ${round(r.rawConsumePerSecond)}), ${r.consumed}/${r.messages} consumed`);
        kafka.push(r);
      }
      kafkaSection = {
        runs: kafka,
        statements: await pgStatTop(url, 6),
        relay: median(kafka.map((k) => k.relayPerSecond)),
        rawProduce: median(kafka.map((k) => k.rawProducePerSecond)),
        consumer: median(kafka.map((k) => k.consumerPerSecond)),
        rawConsume: median(kafka.map((k) => k.rawConsumePerSecond)),
        consumedAll: kafka.every((k) => k.consumed === k.messages),
      };
    }

    // ---- report: the targets of issue 18, each a ratio to a baseline of the same run (or a bound)
    const s16 = m['settle@16'] ?? NaN;
    const peer = web.ingest.peer;
    type Target = readonly [string, string, string, boolean];
    const targets: Target[] = [
      ...(append
        ? ([
            ['(1) append at 16 writers vs Emmett', '≥ 5x', ratio(s16, m['emmett@16']!), s16 / m['emmett@16']! >= 5],
            ['(1) append at 16 writers vs raw single-row ceiling', '≥ 1.5x', ratio(s16, raw16), s16 / raw16 >= 1.5],
          ] as const)
        : []),
      ['(2) applied webhooks vs the peer (@supabase/stripe-sync-engine)', '≥ 1.5x', `${ratio(web.ingest.appliedRps, peer.appliedRps)} (${round(web.ingest.appliedRps)} vs ${round(peer.appliedRps)}/s)`, web.ingest.appliedRatio >= 1.5],
      ['(2) ack p99 at 64 connections', '≤ 50 ms', `${round(web.ingest.p99, 1)} ms (peer ${round(peer.p99, 1)} ms)`, web.ingest.p99 <= 50],
      ['(2) lost / doubled', '0 / 0', `${web.ingest.lost} / ${web.ingest.doubled}`, web.ingest.lost === 0 && web.ingest.doubled === 0 && web.ingest.historyRows === web.ingest.historyExpected],
      ...(rebuildSection ? ([['(3) rebuild vs read-only scan', '≥ 0.4x', ratio(rebuildSection.rate, rebuildSection.readRate), rebuildSection.rate / rebuildSection.readRate >= 0.4]] as const) : []),
      ['(4) webhook to query API p99 at half the applied rate', '≤ 200 ms', `${round(web.e2e.p99, 1)} ms`, web.e2e.p99 <= 200],
      ...(kafkaSection
        ? ([
            ['(5) outbox relay vs plain kafkajs producer', '≥ 0.7x', ratio(kafkaSection.relay, kafkaSection.rawProduce), kafkaSection.relay / kafkaSection.rawProduce >= 0.7],
            ['(5) finance consumer vs plain kafkajs consumer', '≥ 0.5x', ratio(kafkaSection.consumer, kafkaSection.rawConsume), kafkaSection.consumer / kafkaSection.rawConsume >= 0.5],
          ] as const)
        : []),
      ['(6) peak RSS during (2)', '≤ 200 MB', `${web.memory.peakMiB.toFixed(0)} MiB`, web.memory.peakMiB * 1.048576 <= 200],
    ];
    const minutes = ((Date.now() - started.getTime()) / 60_000).toFixed(1);
    const rb = rebuildSection;
    const kf = kafkaSection;
    const report = [
      `## ${smoke ? 'Smoke run' : 'Run'} of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (${minutes} min${all ? '' : ', `--webhooks-only`: (2), (4), (6)'})`,
      '',
      `Machine: ${machine}. The machine is shared (the load figures above say how busy it was at the start); compare ratios, not absolute numbers.`,
      '',
      `Summary: Settle applies **${ratio(web.ingest.appliedRps, peer.appliedRps)}** the webhooks of \`@supabase/stripe-sync-engine\` per second (${round(web.ingest.appliedRps)} vs ${round(peer.appliedRps)}; answered ${round(web.ingest.rps)} vs ${round(peer.rps)} req/s; ack p99 ${round(web.ingest.p99, 1)} vs ${round(peer.p99, 1)} ms; lost/doubled ${web.ingest.lost}/${web.ingest.doubled} vs ${peer.lost}/${peer.doubled}).`,
      '',
      ...(smoke ? ['Smoke form: tiny counts, one run each, no targets.', ''] : []),
      ...(smoke
        ? []
        : ['### Targets', '', '| target | wanted | measured | |', '| --- | --- | --- | --- |', ...targets.map(([what, want, got, ok]) => `| ${what} | ${want} | ${got} | ${verdict(ok)} |`), '']),
      ...(append
        ? [
            '### (1) Event-store append',
            '',
            append.markdown,
            ...(appendStatements.length ? ['', 'Top statements by total execution time during (1) (`pg_stat_statements`):', '', '```', ...appendStatements, '```'] : []),
            '',
          ]
        : []),
      '### (2) Webhook ingestion over HTTP',
      '',
      web.markdownIngest,
      '',
      ...(rb
        ? [
            '### (3) Projection rebuild',
            '',
            `${rb.rebuild.events} events (generated in ${rb.rebuild.generateSeconds.toFixed(1)} s by copying the invoice streams (2) wrote, see \`bench/rebuildJob.ts\`) rebuilt into \`invoices\` and \`payment_history\` by the production ProjectionRunner, both projections at once, ${plan.rebuildRuns} run(s). Baseline: reading the whole log through \`readAll\` in the rebuild's batch size, applying nothing.`,
            '',
            '| metric | median | runs |',
            '| --- | --- | --- |',
            `| rebuild events/s | ${round(rb.rate)} | ${rb.rebuild.rebuildSeconds.map((s) => round(rb.rebuild.events / s)).join(', ')} |`,
            `| read-only events/s (baseline) | ${round(rb.readRate)} | ${rb.rebuild.readSeconds.map((s) => round(rb.rebuild.events / s)).join(', ')} |`,
            `| rebuild / read-only | ${ratio(rb.rate, rb.readRate)} | |`,
            `| rows built | ${rb.rebuild.invoices} invoices, ${rb.rebuild.historyRows} payment history rows | |`,
            ...(rb.statements.length ? ['', 'Top statements by total execution time during (3) (`pg_stat_statements`):', '', '```', ...rb.statements, '```'] : []),
            ...(rb.profile.length ? ['', 'CPU profile of the rebuild process over all runs (`--cpu-prof`, self time, top functions; the profiler was on during the measured runs):', '', '```', ...rb.profile, '```'] : []),
            '',
          ]
        : []),
      '### (4) Webhook to read model',
      '',
      web.markdownE2e,
      '',
      ...(kf
        ? [
            '### (5) Kafka',
            '',
            `${plan.kafkaMessages} real \`settle.payments.v1\` messages per run (copies of those (2) produced, fresh ids), ${plan.kafkaRuns} run(s): OutboxRelay → KafkaBus → broker, then the FinanceConsumer (\`finance-reporting\`) into the ledger (rate from its first message; the group join is excluded). Baseline: plain kafkajs with the same producer settings (idempotent, acks=all, one request in flight, batches of 500) and a plain consumer group that only parses.`,
            '',
            '| metric | median | runs | baseline | ratio |',
            '| --- | --- | --- | --- | --- |',
            `| relay messages/s | ${round(kf.relay)} | ${kf.runs.map((k) => round(k.relayPerSecond)).join(', ')} | ${round(kf.rawProduce)} | ${ratio(kf.relay, kf.rawProduce)} |`,
            `| finance consumer messages/s | ${round(kf.consumer)} | ${kf.runs.map((k) => round(k.consumerPerSecond)).join(', ')} | ${round(kf.rawConsume)} | ${ratio(kf.consumer, kf.rawConsume)} |`,
            '',
            `Every message consumed exactly once into \`finance_consumed\`: ${kf.consumedAll ? 'yes' : 'NO'}.`,
            ...(kf.statements.length ? ['', 'Top statements by total execution time during (5) (`pg_stat_statements`):', '', '```', ...kf.statements, '```'] : []),
            '',
          ]
        : []),
      '### (6) Memory',
      '',
      web.markdownMemory,
      '',
    ].join('\n');
    log('');
    log(report);
    if (process.argv.includes('--out') || smoke) fs.writeFileSync(out, report);
    else fs.appendFileSync(out, `\n${report}`);
    log(`report ${process.argv.includes('--out') || smoke ? 'written to' : 'appended to'} ${out}`);
    if (jsonOut) {
      fs.writeFileSync(
        jsonOut,
        JSON.stringify(
          {
            sections: ['(1)', '(2)', '(3)', '(4)', '(5)', '(6)'].filter((s) => report.includes(`### ${s}`)),
            append: append?.medians,
            ingest: web.ingest,
            e2e: web.e2e,
            memory: web.memory,
            rebuild: rb && { events: rb.rebuild.events, invoices: rb.rebuild.invoices, historyRows: rb.rebuild.historyRows, perSecond: rb.rate },
            kafka: kf && { relay: kf.relay, consumer: kf.consumer, consumedAll: kf.consumedAll, runs: kf.runs.length },
          },
          null,
          2,
        ),
      );
    }
  } finally {
    await adminQuery(services.databaseUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    services.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
