/** Benchmark (1): event-store append, 1 and 16 writers; Settle vs Emmett vs the raw single-row ceiling. */
import type { AppendLoadInput, AppendLoadResult, AppendTarget } from './appendLoad';
import { median, ratio, round, runChild, uniqueName } from './lib';

export interface AppendBenchOptions {
  databaseUrl: string;
  runs: number;
  durationMs: number;
  writerCounts: number[];
  targets: AppendTarget[];
  log: (line: string) => void;
}

export interface AppendBenchResult {
  /** median appends/s per target and writer count */
  medians: Record<string, number>;
  samples: AppendLoadResult[];
  markdown: string;
}

export async function appendBench(o: AppendBenchOptions): Promise<AppendBenchResult> {
  const samples: AppendLoadResult[] = [];
  // Interleaved (run 1 of every target, then run 2, ...) so that noise from other work on the
  // machine falls on all targets alike.
  for (let run = 1; run <= o.runs; run++) {
    for (const writers of o.writerCounts) {
      for (const target of o.targets) {
        const input: AppendLoadInput = {
          target,
          databaseUrl: o.databaseUrl,
          schema: uniqueName('bench_append'),
          writers,
          durationMs: o.durationMs,
          streamsPerWriter: 8,
          runId: uniqueName(`r${run}`),
        };
        const r = await runChild<AppendLoadResult>('appendLoad.js', input, { timeoutMs: o.durationMs + 120_000 });
        o.log(`  (1) run ${run} ${target} ${writers} writer(s): ${round(r.perSecond)} appends/s${r.avgBatch ? `, ${r.avgBatch.toFixed(1)} appends per transaction` : ''}${r.errors ? `, ${r.errors} errors` : ''}`);
        samples.push(r);
      }
    }
  }
  const key = (t: string, w: number) => `${t}@${w}`;
  const medians: Record<string, number> = {};
  for (const w of o.writerCounts) for (const t of o.targets) medians[key(t, w)] = median(samples.filter((s) => s.target === t && s.writers === w).map((s) => s.perSecond));
  const rows = o.writerCounts.flatMap((w) =>
    o.targets.map((t) => {
      const runs = samples.filter((s) => s.target === t && s.writers === w);
      const batch = runs.some((r) => r.avgBatch) ? median(runs.map((r) => r.avgBatch ?? NaN)).toFixed(1) : '';
      return `| ${w} | ${t} | ${round(medians[key(t, w)]!)} | ${runs.map((r) => round(r.perSecond)).join(', ')} | ${ratio(medians[key(t, w)]!, medians[key('raw', w)]!)} | ${ratio(medians[key(t, w)]!, medians[key('emmett', w)]!)} | ${batch} |`;
    }),
  );
  const markdown = [
    `Single-event appends of ~1 KB JSON events with an expected revision (each writer on its own 8 streams), ${o.runs} runs of ${o.durationMs / 1000} s per cell, interleaved. ` +
      '`settle`: SqlEventStore with group commit (default); `settle-single`: the same store with group commit off; `emmett`: `@event-driven-io/emmett-postgresql`; `raw`: plain single-row INSERT with the same unique constraints, one implicit transaction each.',
    '',
    '| writers | target | median appends/s | runs | vs raw | vs Emmett | appends per transaction |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
  return { medians, samples, markdown };
}
