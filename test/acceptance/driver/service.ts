/**
 * The black-box driver: the built service (`node dist/main/server.js`, as production runs it) as a
 * child process, on a fresh PostgreSQL schema (DATABASE_URL, the test server) or on its embedded
 * default (PGlite under a temporary DATA_DIR), with Kafka (KAFKA_BROKERS, a topic prefix of its
 * own) or with in-process messaging. The tests talk to it only over HTTP: the public API, the
 * webhook endpoints and /metrics. Nothing here imports product code.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { client } from '../../support/api';
import { spawnService, type ServiceProcess } from '../../support/process';

export const ADMIN_KEY = 'acceptance-admin-key-0123456789abcdef';
export const STRIPE_PLATFORM_SECRET = 'whsec_acceptance_platform_0123456789';
export const STRIPE_CONNECT_SECRET = 'whsec_acceptance_connect_0123456789';
export const METRICS_TOKEN = 'acceptance-metrics-token-0123456789abcdef';
const METRICS_TTL_MS = 100;

export interface SettleOptions {
  readonly storage: 'postgres' | 'embedded';
  readonly messaging: 'kafka' | 'in-process';
  readonly env?: Record<string, string>;
}

export type Api = ReturnType<typeof client>;

export interface Settle {
  readonly url: string;
  readonly admin: Api;
  readonly options: SettleOptions;
  /** The service's own output (stdout and stderr), for failure reports. */
  readonly output: string[];
  /** An API client for a tenant key. */
  as(apiKey: string): Api;
  /** The parsed Prometheus text of /metrics. */
  metrics(): Promise<Metrics>;
  /**
   * Resolves when everything the service accepted has been applied: no inbox row still to process,
   * no outbox message waiting, every projection at the head (the documented backlog metrics), seen
   * twice in a row. Polls; never sleeps a fixed time. Rejects after `timeoutMs` with the metrics.
   */
  settled(opts?: { timeoutMs?: number; allowParked?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export interface Metrics {
  /** Value of a sample; labels must match exactly the ones given (others ignored). */
  value(name: string, labels?: Record<string, string>): number | undefined;
  samples(name: string): Array<{ labels: Record<string, string>; value: number }>;
  readonly text: string;
}

export function parseMetrics(text: string): Metrics {
  const rows: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    rows.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  const samples = (name: string) => rows.filter((r) => r.name === name).map(({ labels, value }) => ({ labels, value }));
  return {
    text,
    samples,
    value(name, labels = {}) {
      const hit = samples(name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      return hit?.value;
    },
  };
}

export async function startSettle(options: SettleOptions): Promise<Settle> {
  const env: Record<string, string> = {
    ADMIN_API_KEY: ADMIN_KEY,
    STRIPE_WEBHOOK_SECRET: STRIPE_PLATFORM_SECRET,
    STRIPE_CONNECT_WEBHOOK_SECRET: STRIPE_CONNECT_SECRET,
    STRIPE_SECRET_KEY: 'sk_test_acceptance',
    METRICS_TOKEN,
    // the backlog gauges are reused this long; settled() waits longer than that between its two looks
    METRICS_QUERY_TTL_MS: String(METRICS_TTL_MS),
    SETTLE_DEV_DEFAULTS: 'off',
    LOG_LEVEL: 'warn',
  };
  if (process.env.STRIPE_API_BASE) env.STRIPE_API_BASE = process.env.STRIPE_API_BASE;
  let schema: string | null = null;
  let dataDir: string | null = null;
  if (options.storage === 'postgres') {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is not set: run the acceptance tests through `npm test`, which starts PostgreSQL');
    schema = `acc_${randomBytes(6).toString('hex')}`;
    env.DATABASE_URL = url;
    env.DATABASE_SCHEMA = schema;
  } else {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-acceptance-'));
    env.DATA_DIR = dataDir;
  }
  if (options.messaging === 'kafka') {
    const brokers = process.env.KAFKA_BROKERS;
    if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the acceptance tests through `npm test`, which starts Kafka');
    const tag = randomBytes(4).toString('hex');
    env.KAFKA_BROKERS = brokers;
    env.KAFKA_TOPIC_PREFIX = `acc-${tag}.`;
    env.KAFKA_CLIENT_ID = `settle-acc-${tag}`;
  }
  Object.assign(env, options.env ?? {});
  const proc: ServiceProcess = await spawnService(env, { readyTimeoutMs: 60_000 });
  const metricsClient = client(proc.url, undefined, { authorization: `Bearer ${METRICS_TOKEN}` });

  async function metrics(): Promise<Metrics> {
    const r = await metricsClient.get<string | null>('/metrics'); // the text, or null for an empty body
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
    return parseMetrics(r.body ?? '');
  }

  function backlog(m: Metrics, allowParked: boolean): string[] {
    const open: string[] = [];
    const outbox = m.value('settle_outbox_backlog');
    if (outbox === undefined || outbox > 0) open.push(`outbox backlog ${outbox}`);
    const received = m.value('settle_webhook_inbox', { status: 'received' }) ?? 0;
    if (received > 0) open.push(`inbox received ${received}`);
    const parked = m.value('settle_webhook_inbox', { status: 'parked' }) ?? 0;
    if (!allowParked && parked > 0) open.push(`inbox parked ${parked}`);
    for (const s of m.samples('settle_projection_events_behind')) if (s.value > 0) open.push(`${s.labels.projection} behind ${s.value}`);
    return open;
  }

  /** For a failure report only (the tests never read the database): the inbox rows not processed, with their reasons. */
  async function diagnose(): Promise<string> {
    if (!schema) return '';
    const c = new Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    try {
      const { rows } = await c.query(`SELECT endpoint, event_id, event_type, status, last_error FROM ${schema}.webhook_inbox WHERE status NOT IN ('processed', 'ignored') LIMIT 20`);
      return rows.length ? `\ninbox rows still open:\n${rows.map((r) => `  ${r.endpoint} ${r.event_id} ${r.event_type} ${r.status}: ${r.last_error}`).join('\n')}` : '';
    } catch (err) {
      return `\n(inbox not readable: ${(err as Error).message})`;
    } finally {
      await c.end();
    }
  }

  return {
    url: proc.url,
    admin: client(proc.url, ADMIN_KEY),
    options,
    output: proc.output,
    as: (apiKey) => client(proc.url, apiKey),
    metrics,
    async settled({ timeoutMs = 30_000, allowParked = false } = {}) {
      const deadline = Date.now() + timeoutMs;
      // quiet twice, the second look taken after the gauges' reuse interval (a fresh query each)
      let quietSince: number | null = null;
      let last: string[] = [];
      for (;;) {
        last = backlog(await metrics(), allowParked);
        if (last.length > 0) quietSince = null;
        else if (quietSince === null) quietSince = Date.now();
        else if (Date.now() - quietSince > 2 * METRICS_TTL_MS) return;
        if (Date.now() > deadline) throw new Error(`the service did not settle in ${timeoutMs} ms: ${last.join(', ')}${await diagnose()}`);
        await new Promise((r) => setTimeout(r, 40));
      }
    },
    async stop() {
      await proc.kill('SIGTERM');
      if (schema) {
        const admin = new Client({ connectionString: process.env.DATABASE_URL });
        await admin.connect();
        try {
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        } finally {
          await admin.end();
        }
      }
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `read` until `ok(value)` or the timeout; returns the last value either way. */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Fails with the whole answer (status and problem body) when a call did not get `status`. */
export function expectStatus(r: { status: number; body: unknown }, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
}
