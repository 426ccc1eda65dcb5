/**
 * The smoke form of `npm run bench` against the real PostgreSQL (DATABASE_URL) and Kafka
 * (KAFKA_BROKERS): every benchmark with tiny counts, so the scripts cannot rot. Asserts behaviour
 * only (all six sections reported, nothing lost or doubled, the peer of (2) driven and verified, every
 * message consumed), never speed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

describe('npm run bench (smoke form)', () => {
  test('runs all six benchmarks and reports them, with zero lost and zero doubled', () => {
    if (!process.env.DATABASE_URL || !process.env.KAFKA_BROKERS) throw new Error('DATABASE_URL and KAFKA_BROKERS must be set: run the tests with `npm test`');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-bench-smoke-'));
    const md = path.join(dir, 'report.md');
    const json = path.join(dir, 'report.json');
    let report: string;
    let written: string;
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'pipe' });
      execFileSync(process.execPath, ['dist-bench/bench/run.js', '--smoke', '--out', md, '--json', json], {
        cwd: ROOT,
        env: { ...process.env, NODE_OPTIONS: '' },
        stdio: 'pipe',
        timeout: 300_000,
      });
      report = fs.readFileSync(md, 'utf8');
      written = fs.readFileSync(json, 'utf8');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const section of ['(1) Event-store append', '(2) Webhook ingestion over HTTP', '(3) Projection rebuild', '(4) Webhook to read model', '(5) Kafka', '(6) Memory']) {
      expect(report).toContain(`### ${section}`);
    }
    expect(report).toMatch(/Machine: \d+ cores .*PostgreSQL \d+.*Node v\d+/);
    const r = JSON.parse(written) as {
      sections: string[];
      append: Record<string, number>;
      ingest: {
        lost: number;
        doubled: number;
        acked: number;
        historyRows: number;
        historyExpected: number;
        appliedRps: number;
        peer: { acked: number; lost: number; doubled: number; non200: number; rps: number; appliedRps: number };
        appliedRatio: number;
      };
      e2e: { notVisible: number };
      memory: { peakMiB: number };
      rebuild: { events: number; historyRows: number; invoices: number };
      kafka: { consumedAll: boolean };
    };
    expect(r.sections).toEqual(['(1)', '(2)', '(3)', '(4)', '(5)', '(6)']);
    for (const k of ['settle@1', 'settle@16', 'settle-single@16', 'emmett@16', 'raw@16']) expect(r.append[k]).toBeGreaterThan(0);
    expect(r.ingest.acked).toBeGreaterThan(0);
    expect(r.ingest).toMatchObject({ lost: 0, doubled: 0 });
    expect(r.ingest.historyRows).toBe(r.ingest.historyExpected);
    // Settle's run is counted when applied (visible in the payment history), not when answered
    expect(r.ingest.appliedRps).toBeGreaterThan(0);
    // the peer (@supabase/stripe-sync-engine) took the same load, interleaved, and stored every event it acknowledged
    expect(r.ingest.peer.acked).toBeGreaterThan(0);
    expect(r.ingest.peer).toMatchObject({ lost: 0, doubled: 0, non200: 0 });
    expect(r.ingest.peer.appliedRps).toBeGreaterThan(0);
    expect(r.ingest.appliedRatio).toBeCloseTo(r.ingest.appliedRps / r.ingest.peer.appliedRps);
    expect(report).toMatch(/Summary: Settle applies \*\*\d+\.\d\dx\*\* the webhooks of `@supabase\/stripe-sync-engine`/);
    expect(r.e2e.notVisible).toBe(0);
    expect(r.memory.peakMiB).toBeGreaterThan(0);
    expect(r.rebuild.events).toBe(2000);
    expect(r.rebuild.invoices + r.rebuild.historyRows).toBeGreaterThan(0);
    expect(r.kafka.consumedAll).toBe(true);
  }, 600_000);
});
