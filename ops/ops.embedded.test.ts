/**
 * The operations files against the code: the alert rules pass Prometheus' own `promtool check
 * rules` and its unit tests (`promtool test rules`), and every metric named by an alert, a
 * dashboard panel or the failure-class table of docs/operations.md is one a running Settle
 * (embedded default, in process) exports at /metrics. promtool is installed once by
 * scripts/services/promtool.sh (`go install`, cached).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scrape, startTestService, type TestService } from '../test/support/service';
import { alertRules, codeSpans, exportedFamilies, isExported, markdownTable, metricNamesOf } from './opsFiles';

const ROOT = path.resolve(__dirname, '..');
const RULES = path.join(ROOT, 'ops/prometheus/alerts.yml');
const rules = alertRules(fs.readFileSync(RULES, 'utf8'));
const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'ops/grafana/settle.json'), 'utf8')) as Dashboard;

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
}

let families: Map<string, string>;
let dir: string;
let svc: TestService;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-ops-'));
  svc = await startTestService({ DATA_DIR: dir, DATABASE_URL: undefined, KAFKA_BROKERS: undefined });
  families = exportedFamilies(await scrape(svc));
});
afterAll(async () => {
  await svc?.shutdown('test end');
  fs.rmSync(dir, { recursive: true, force: true });
});

const unexported = (names: readonly string[]) => names.filter((n) => !isExported(n, families));

describe('ops/prometheus/alerts.yml', () => {
  // first run on a machine: go install (minutes; scripts/test.sh does it before jest); afterwards the cached binary
  let installed: string | null = null;
  const promtool = () => (installed ??= execFileSync(path.join(ROOT, 'scripts/services/promtool.sh'), ['install'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim());

  test('promtool check rules accepts the file and counts every alert', () => {
    const out = execFileSync(promtool(), ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(rules.length).toBeGreaterThanOrEqual(10);
  }, 20 * 60_000);

  test('promtool test rules: the unit tests of some alerts pass', () => {
    const out = execFileSync(promtool(), ['test', 'rules', path.join(ROOT, 'ops/prometheus/alerts.test.yml')], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });

  test('promtool refuses a broken rule (the check is real)', () => {
    const bad = path.join(dir, 'bad.yml');
    fs.writeFileSync(bad, 'groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: sum(rate(settle_outbox_backlog[5m]) > \n');
    expect(() => execFileSync(promtool(), ['check', 'rules', bad], { encoding: 'utf8', stdio: 'pipe' })).toThrow();
  });

  test('every rule names only metrics the service exports, and has a summary and a runbook in docs/operations.md', () => {
    const anchors = new Set([...fs.readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8').matchAll(/^###? (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
    for (const r of rules) {
      const names = metricNamesOf(r.expr);
      expect({ alert: r.alert, names: names.length > 0 }).toEqual({ alert: r.alert, names: true });
      expect({ alert: r.alert, unexported: unexported(names) }).toEqual({ alert: r.alert, unexported: [] });
      expect(r.annotations.summary).toBeTruthy();
      const anchor = /^docs\/operations\.md#([a-z0-9-]+):/.exec(r.annotations.runbook ?? '')?.[1];
      expect({ alert: r.alert, runbook: anchor !== undefined && anchors.has(anchor) }).toEqual({ alert: r.alert, runbook: true });
    }
  });

  test('the issue\'s failure classes each have a rule', () => {
    const byMetric = (m: string) => rules.filter((r) => metricNamesOf(r.expr).includes(m)).map((r) => r.alert);
    for (const m of ['settle_projection_lag_seconds', 'settle_outbox_stuck', 'settle_outbox_parked_keys', 'settle_webhooks_rejected_total', 'settle_webhook_inbox', 'settle_crm_stages_failed', 'settle_consumer_lag_messages', 'settle_projection_dead_letters', 'settle_database_up']) {
      expect({ m, alerts: byMetric(m).length > 0 }).toEqual({ m, alerts: true });
    }
  });
});

describe('ops/grafana/settle.json', () => {
  test('an importable dashboard: title, uid, a Prometheus datasource variable every query uses, laid-out panels', () => {
    expect(dashboard.title).toBe('Settle');
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(30);
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(12);
    for (const p of graphs) {
      expect(['timeseries', 'stat', 'gauge', 'table', 'bargauge']).toContain(p.type);
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length).toBeGreaterThan(0);
      for (const t of p.targets!) {
        expect(t.datasource).toEqual(p.datasource);
        expect(t.expr.trim()).not.toBe('');
      }
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    }
  });

  test('every panel query and variable names only exported metrics', () => {
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      for (const t of p.targets!) {
        const names = metricNamesOf(t.expr);
        expect(names.length).toBeGreaterThan(0);
        expect({ panel: p.title, unexported: unexported(names) }).toEqual({ panel: p.title, unexported: [] });
      }
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const metric = /^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),/.exec(q)?.[1];
      expect({ variable: v.name, exported: metric !== undefined && isExported(metric, families) }).toEqual({ variable: v.name, exported: true });
    }
  });

  test('the dashboard covers every metric the alerts use', () => {
    const charted = new Set(dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesOf(t.expr))));
    const alerted = new Set(rules.flatMap((r) => metricNamesOf(r.expr)));
    expect([...alerted].filter((m) => !charted.has(m))).toEqual([]);
  });
});

describe('docs/operations.md failure classes', () => {
  const table = markdownTable(fs.readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8'), 'Failure classes');
  const [header, ...rows] = table;

  test('one row per failure class of the issue, each with where it shows, an action, metrics and alerts', () => {
    expect(header).toEqual(['failure', 'where it shows', 'action', 'metric', 'alert']);
    expect(rows.map((r) => r[0])).toEqual(
      expect.arrayContaining(['Declined payment', 'CRM stage failed', 'Parked webhook', 'Dead-lettered event', 'Projection lag', 'Outbox backlog or parked key', 'Consumer lag', 'Reconciliation differences']),
    );
    for (const r of rows) {
      expect(r).toHaveLength(5);
      expect(r[1]!.length).toBeGreaterThan(10);
      expect(r[2]!.length).toBeGreaterThan(10);
      expect(codeSpans(r[3]!).length).toBeGreaterThan(0);
      expect(codeSpans(r[4]!).length).toBeGreaterThan(0);
    }
  });

  test('every metric in the table is exported, every alert is a rule, and each alert uses one of its row\'s metrics', () => {
    const byName = new Map(rules.map((r) => [r.alert, r]));
    for (const r of rows) {
      const metrics = codeSpans(r[3]!);
      expect({ failure: r[0], unexported: unexported(metrics) }).toEqual({ failure: r[0], unexported: [] });
      for (const alert of codeSpans(r[4]!)) {
        const rule = byName.get(alert);
        expect({ failure: r[0], alert, rule: rule !== undefined }).toEqual({ failure: r[0], alert, rule: true });
        expect({ alert, usesRowMetric: metricNamesOf(rule!.expr).some((m) => metrics.includes(m)) }).toEqual({ alert, usesRowMetric: true });
      }
    }
  });
});
