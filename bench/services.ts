/**
 * PostgreSQL and Kafka for `npm run bench`: the given ones (DATABASE_URL, KAFKA_BROKERS), or a
 * throwaway cluster/broker started with the same scripts the tests use and stopped afterwards.
 * A cluster started here preloads pg_stat_statements, for the profile evidence in BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface Services {
  databaseUrl: string;
  kafkaBrokers: string;
  stop(): void;
}

function script(name: string, ...args: string[]): string {
  return execFileSync(path.join(ROOT, 'scripts/services', name), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

export function startServices(log: (line: string) => void): Services {
  const stops: Array<() => void> = [];
  let databaseUrl = process.env.DATABASE_URL ?? '';
  let kafkaBrokers = process.env.KAFKA_BROKERS ?? '';
  try {
    if (!databaseUrl) {
      const state = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-bench-pg-'));
      fs.chmodSync(state, 0o755);
      log(`starting a throwaway PostgreSQL cluster in ${state}`);
      script('postgres.sh', 'start', state);
      stops.push(() => {
        script('postgres.sh', 'stop', state);
        fs.rmSync(state, { recursive: true, force: true });
      });
      // preload pg_stat_statements (needs a restart of the same cluster)
      fs.appendFileSync(path.join(state, 'pgdata/postgresql.conf'), "shared_preload_libraries = 'pg_stat_statements'\n");
      databaseUrl = /DATABASE_URL=(\S+)/.exec(script('postgres.sh', 'restart', state))![1]!;
    }
    if (!kafkaBrokers) {
      const state = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-bench-kafka-'));
      fs.chmodSync(state, 0o755);
      log(`starting a single-node Kafka broker in ${state}`);
      kafkaBrokers = /KAFKA_BROKERS=(\S+)/.exec(script('kafka.sh', 'start', state))![1]!;
      stops.push(() => {
        script('kafka.sh', 'stop', state);
        fs.rmSync(state, { recursive: true, force: true });
      });
    }
  } catch (err) {
    for (const s of stops.reverse()) s();
    throw err;
  }
  return {
    databaseUrl,
    kafkaBrokers,
    stop: () => {
      for (const s of stops.reverse()) {
        try {
          s();
        } catch {
          /* best effort */
        }
      }
    },
  };
}
