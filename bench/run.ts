/**
 * `npm run bench`: all six benchmarks in one run, on one PostgreSQL (and one Kafka broker), each
 * with its baseline measured in the same run; prints the machine line, medians and ratios, and
 * appends a dated section to BENCHMARKS.md. `--smoke` runs every benchmark with tiny counts and
 * no targets (what `npm test` runs, so the scripts cannot rot); `--out FILE` writes the report
 * there instead of appending to BENCHMARKS.md; `--json FILE` also writes the figures as JSON;
 * `--profile` adds the CPU profiles to a smoke run.
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
  const plan = smoke ? { ...SMOKE, profile: process.argv.includes('--profile') } : FULL;
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
    log('(1) event-store append');
    await pgStatReset(url);
    const append = await appendBench({ databaseUrl: url, runs: plan.appendRuns, durationMs: plan.appendMs, writerCounts: [1, 16], targets: ['settle', 'settle-single', 'emmett', 'raw'], log });
    const appendStatements = await pgStatTop(url, 6);
    const m = append.medians;
    const raw16 = m['raw@16']!;

    // ---- (2) webhooks, (4) webhook to read model, (6) memory
    log('(2) webhook ingestion, (4) webhook to read model, (6) memory');
    const web = await webhookBench({ databaseUrl: url, runs: plan.webhookRuns, durationMs: plan.webhookMs, pacedDurationMs: plan.pacedMs, connections: 64, invoices: plan.invoices, rawCeiling: raw16, profile: plan.profile, log });

    // ---- (3) projection rebuild
    log(`(3) projection rebuild of ${plan.rebuildEvents} events`);
    const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-rebuild-prof-'));
    await pgStatReset(url);
    const rebuild = await runChild<RebuildJobResult>(
      'rebuildJob.js',
      { databaseUrl: url, templateSchema: web.schema, schema: uniqueName('bench_rebuild'), events: plan.rebuildEvents, runs: plan.rebuildRuns } satisfies RebuildJobInput,
      { timeoutMs: 60 * 60_000, execArgv: plan.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [] },
    );
    const profFile = plan.profile ? fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
    const rebuildProfile = profFile ? summarizeCpuProfile(path.join(profDir, profFile), 15) : [];
    fs.rmSync(profDir, { recursive: true, force: true });
    const rebuildStatements = await pgStatTop(url, 6);
    const rebuildRate = median(rebuild.rebuildSeconds.map((s) => rebuild.events / s));
    const readRate = median(rebuild.readSeconds.map((s) => rebuild.events / s));
    log(`  (3) ${rebuild.events} events generated in ${rebuild.generateSeconds.toFixed(1)} s; rebuild ${rebuild.rebuildSeconds.map((s) => s.toFixed(1)).join(', ')} s (${round(rebuildRate)} events/s); read-only ${round(readRate)} events/s`);

    // ---- (5) Kafka
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
    const kafkaStatements = await pgStatTop(url, 6);
    const relay = median(kafka.map((k) => k.relayPerSecond));
    const rawProduce = median(kafka.map((k) => k.rawProducePerSecond));
    const consumer = median(kafka.map((k) => k.consumerPerSecond));
    const rawConsume = median(kafka.map((k) => k.rawConsumePerSecond));
    const consumedAll = kafka.every((k) => k.consumed === k.messages);

    // ---- report
    const s16 = m['settle@16']!;
    const targets = [
      ['(1) 16 writers vs Emmett', '≥ 3x', ratio(s16, m['emmett@16']!), s16 / m['emmett@16']! >= 3],
      ['(1) 16 writers vs raw single-row ceiling', '≥ 1.0x', ratio(s16, raw16), s16 / raw16 >= 1],
      ['(2) webhook ingestion vs raw ceiling', '≥ 0.5x', ratio(web.ingest.rps, raw16), web.ingest.rps / raw16 >= 0.5],
      ['(2) p99 latency', '≤ 50 ms', `${round(web.ingest.p99, 1)} ms`, web.ingest.p99 <= 50],
      ['(2) lost / doubled', '0 / 0', `${web.ingest.lost} / ${web.ingest.doubled}`, web.ingest.lost === 0 && web.ingest.doubled === 0 && web.ingest.historyRows === web.ingest.historyExpected],
      ['(3) projection rebuild', '≥ 20,000 events/s', `${round(rebuildRate)} events/s`, rebuildRate >= 20_000],
      ['(4) webhook to read model p99', '≤ 200 ms', `${round(web.e2e.p99, 1)} ms`, web.e2e.p99 <= 200],
      ['(5) outbox relay to Kafka', '≥ 10,000 msg/s', `${round(relay)} msg/s`, relay >= 10_000],
      ['(5) finance consumer', '≥ 10,000 msg/s', `${round(consumer)} msg/s`, consumer >= 10_000],
      ['(6) peak RSS during (2)', '≤ 300 MB', `${web.memory.peakMiB.toFixed(0)} MiB`, web.memory.peakMiB * 1.048576 <= 300],
    ] as const;
    const minutes = ((Date.now() - started.getTime()) / 60_000).toFixed(1);
    const report = [
      `## ${smoke ? 'Smoke run' : 'Run'} of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (${minutes} min)`,
      '',
      `Machine: ${machine}. The machine is shared (the load figures above say how busy it was at the start); compare ratios, not absolute numbers.`,
      '',
      ...(smoke ? ['Smoke form: tiny counts, one run each, no targets.', ''] : []),
      ...(smoke
        ? []
        : ['### Targets', '', '| target | wanted | measured | |', '| --- | --- | --- | --- |', ...targets.map(([what, want, got, ok]) => `| ${what} | ${want} | ${got} | ${verdict(ok)} |`), '']),
      '### (1) Event-store append',
      '',
      append.markdown,
      ...(appendStatements.length ? ['', 'Top statements by total execution time during (1) (`pg_stat_statements`):', '', '```', ...appendStatements, '```'] : []),
      '',
      '### (2) Webhook ingestion over HTTP',
      '',
      web.markdownIngest,
      '',
      '### (3) Projection rebuild',
      '',
      `${rebuild.events} events (generated in ${rebuild.generateSeconds.toFixed(1)} s by copying the invoice streams (2) wrote, see \`bench/rebuildJob.ts\`) rebuilt into \`invoices\` and \`payment_history\` by the production ProjectionRunner, both projections at once, ${plan.rebuildRuns} run(s). Baseline: reading the whole log through \`readAll\` in the rebuild's batch size, applying nothing.`,
      '',
      '| metric | median | runs |',
      '| --- | --- | --- |',
      `| rebuild events/s | ${round(rebuildRate)} | ${rebuild.rebuildSeconds.map((s) => round(rebuild.events / s)).join(', ')} |`,
      `| read-only events/s (baseline) | ${round(readRate)} | ${rebuild.readSeconds.map((s) => round(rebuild.events / s)).join(', ')} |`,
      `| rebuild / read-only | ${ratio(rebuildRate, readRate)} | |`,
      `| rows built | ${rebuild.invoices} invoices, ${rebuild.historyRows} payment history rows | |`,
      ...(rebuildStatements.length ? ['', 'Top statements by total execution time during (3) (`pg_stat_statements`):', '', '```', ...rebuildStatements, '```'] : []),
      ...(rebuildProfile.length ? ['', 'CPU profile of the rebuild process over all runs (`--cpu-prof`, self time, top functions; the profiler was on during the measured runs):', '', '```', ...rebuildProfile, '```'] : []),
      '',
      '### (4) Webhook to read model',
      '',
      web.markdownE2e,
      '',
      '### (5) Kafka',
      '',
      `${plan.kafkaMessages} real \`settle.payments.v1\` messages per run (copies of those (2) produced, fresh ids), ${plan.kafkaRuns} run(s): OutboxRelay → KafkaBus → broker, then the FinanceConsumer (\`finance-reporting\`) into the ledger (rate from its first message; the group join is excluded). Baseline: plain kafkajs with the same producer settings (idempotent, acks=all, one request in flight, batches of 500) and a plain consumer group that only parses.`,
      '',
      '| metric | median | runs | baseline | ratio |',
      '| --- | --- | --- | --- | --- |',
      `| relay messages/s | ${round(relay)} | ${kafka.map((k) => round(k.relayPerSecond)).join(', ')} | ${round(rawProduce)} | ${ratio(relay, rawProduce)} |`,
      `| finance consumer messages/s | ${round(consumer)} | ${kafka.map((k) => round(k.consumerPerSecond)).join(', ')} | ${round(rawConsume)} | ${ratio(consumer, rawConsume)} |`,
      '',
      `Every message consumed exactly once into \`finance_consumed\`: ${consumedAll ? 'yes' : 'NO'}.`,
      ...(kafkaStatements.length ? ['', 'Top statements by total execution time during (5) (`pg_stat_statements`):', '', '```', ...kafkaStatements, '```'] : []),
      '',
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
            append: append.medians,
            ingest: web.ingest,
            e2e: web.e2e,
            memory: web.memory,
            rebuild: { events: rebuild.events, invoices: rebuild.invoices, historyRows: rebuild.historyRows, perSecond: rebuildRate },
            kafka: { relay, consumer, consumedAll, runs: kafka.length },
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
