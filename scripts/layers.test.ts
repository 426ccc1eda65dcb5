/**
 * The layer rule of ARCHITECTURE.md ("Layers"), checked on every source file: domain → nothing;
 * commands → domain; infrastructure → domain (its ports); projections → domain; http → commands,
 * projections, domain; main (the composition root) → everything. Nothing imports main.
 *
 * KNOWN_DEBTS are the imports against the rule that remain, each named exactly: a new crossing
 * fails, and so does a debt that was paid without being struck from the list (the list only
 * shrinks). None of them is infrastructure → commands/projections, and none hands http the
 * composition root.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importsOf, layerViolations } from './layers';

const ROOT = path.resolve(__dirname, '..');

const KNOWN_DEBTS = [
  // read models are SQL: their executor type, the runner's loop, lease and log types
  'projections/aggregateRows.ts -> infrastructure/sql/client',
  'projections/cli.ts -> infrastructure/observability/logger',
  'projections/cli.ts -> infrastructure/sql/client',
  'projections/cli.ts -> infrastructure/sql/leaderLease',
  'projections/finance/ledger.ts -> commands/messages',
  'projections/finance/ledger.ts -> commands/ids',
  'projections/finance/ledger.ts -> infrastructure/background',
  'projections/finance/ledger.ts -> infrastructure/observability/logger',
  'projections/finance/ledger.ts -> infrastructure/sql/client',
  'projections/finance/report.ts -> infrastructure/sql/client',
  'projections/queries.ts -> infrastructure/sql/client',
  'projections/runner.ts -> infrastructure/background',
  'projections/runner.ts -> infrastructure/eventstore/sharedReads',
  'projections/runner.ts -> infrastructure/eventstore/catchUp',
  'projections/runner.ts -> infrastructure/sql/client',
  'projections/runner.ts -> infrastructure/sql/leaderLease',
  'projections/runner.ts -> infrastructure/observability/logger',
  // http: types of the adapters it is handed (config, logger, metrics, access stores), the request context, two helpers
  'http/api.ts -> infrastructure/sql/client',
  'http/app.ts -> infrastructure/config/config',
  'http/app.ts -> infrastructure/observability/logger',
  'http/app.ts -> infrastructure/observability/metrics',
  'http/app.ts -> infrastructure/sql/client',
  'http/app.ts -> infrastructure/sql/apiAccess',
  'http/app.ts -> infrastructure/sql/readModelChanges',
  'http/app.ts -> infrastructure/sql/consoleSessions',
  'http/app.ts -> infrastructure/webhooks/inbox',
  'http/auth.ts -> infrastructure/sql/apiAccess',
  'http/console/routes.ts -> infrastructure/sql/consoleSessions',
  'http/idempotency.ts -> infrastructure/sql/apiAccess',
  'http/live.ts -> infrastructure/observability/metrics',
  'http/live.ts -> infrastructure/sql/readModelChanges',
  'http/middleware.ts -> infrastructure/observability/logger',
  'http/middleware.ts -> infrastructure/observability/metrics',
  'http/middleware.ts -> infrastructure/observability/context',
  'http/routes/admin.ts -> infrastructure/sql/apiAccess',
  'http/routes/admin.ts -> infrastructure/sql/client',
  'http/routes/admin.ts -> infrastructure/webhooks/inbox',
  'http/routes/reports.ts -> infrastructure/sql/client',
  'http/webhooks.ts -> infrastructure/config/config',
  'http/webhooks.ts -> infrastructure/observability/metrics',
];

const named = (root: string) => layerViolations(root).map((v) => `${v.file} -> ${v.target}`);

describe('layers', () => {
  test('no import crosses the layers except the known debts, and every debt still exists', () => {
    const found = named(ROOT);
    expect(found.filter((v) => !KNOWN_DEBTS.includes(v))).toEqual([]);
    expect(KNOWN_DEBTS.filter((d) => !found.includes(d))).toEqual([]);
  });

  test('infrastructure never imports commands or projections, and nothing below main imports main', () => {
    const found = layerViolations(ROOT);
    expect(found.filter((v) => v.from === 'infrastructure' && (v.to === 'commands' || v.to === 'projections'))).toEqual([]);
    expect(found.filter((v) => v.to === 'main')).toEqual([]);
    expect(found.filter((v) => v.from === 'domain' || v.from === 'commands')).toEqual([]);
  });

  test('the checker sees every form of import, and a crossing in a fresh tree', () => {
    const text = `import a from '../x';\nimport type { B } from '../y';\nexport { c } from '../z';\nconst d = require('../r');\nconst e = import('../i');\ntype F = import('../t').F;\nimport g = require('../q');`;
    expect(importsOf('f.ts', text).map((i) => i.specifier)).toEqual(['../x', '../y', '../z', '../r', '../i', '../t', '../q']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-'));
    try {
      for (const [file, body] of Object.entries({
        'domain/a.ts': `import { x } from '../infrastructure/b';\nexport const a = x;`,
        'infrastructure/b.ts': `import type { C } from '../commands/c';\nexport const x = 1 as unknown as C;`,
        'commands/c.ts': `import { a } from '../domain/a';\nexport type C = typeof a;`,
        'http/d.ts': `import { Settle } from '../main/e';\nexport const d = Settle;`,
        'main/e.ts': `import { d } from '../http/d';\nexport const Settle = d;`,
        'domain/a.test.ts': `import '../main/e';`,
      })) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), body);
      }
      expect(named(dir).sort()).toEqual(['domain/a.ts -> infrastructure/b', 'http/d.ts -> main/e', 'infrastructure/b.ts -> commands/c']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
