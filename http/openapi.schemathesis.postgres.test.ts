/**
 * The OpenAPI document against the running service, by an outside property-based tester:
 * Schemathesis (PyPI, installed once into a cached venv by scripts/services/schemathesis.sh)
 * reads /openapi.json, generates requests from it (valid and invalid) and checks every answer:
 * no 5xx, only documented statuses, documented content types, bodies that match their schemas,
 * and 401 for a missing or wrong key. Any finding fails the test.
 *
 * The built service (dist/http/server.js) runs on PostgreSQL with everything configured (Stripe:
 * stripe-mock, PayPal and the CRM: the simulators, payer links), so a 503 can only mean a real
 * outage. Two runs: the tenant key over the tenant operations, the admin key over the admin ones.
 * Bounded by examples per operation (RELIABILITY_LONG=1: more, and the coverage phase).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSettle, ADMIN_KEY, expectStatus, type Settle } from '../test/acceptance/driver/service';
import { startCrmSimulator, type CrmSimulator } from '../test/simulators/crm';
import { startPayPalSimulator, type PayPalSimulator } from '../test/simulators/paypal';

const LONG = process.env.RELIABILITY_LONG === '1';
const CHECKS = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance', 'ignored_auth'];
/** Operations of the admin key; every other one is run with the tenant key. */
const ADMIN_PATHS = '^/v1/(admin|tenants)(/|$)';

jest.setTimeout(LONG ? 1_800_000 : 300_000);

let settle: Settle;
let paypal: PayPalSimulator;
let crm: CrmSimulator;
let st: string;
let tenantKey: string;
let workDir: string;

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-schemathesis-'));
  st = execFileSync(path.resolve(__dirname, '../scripts/services/schemathesis.sh'), ['install'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  paypal = await startPayPalSimulator();
  crm = await startCrmSimulator();
  settle = await startSettle({
    storage: 'postgres',
    messaging: 'in-process',
    env: {
      PAYPAL_API_BASE: paypal.url,
      PAYPAL_CLIENT_ID: paypal.clientId,
      PAYPAL_CLIENT_SECRET: paypal.clientSecret,
      PAYPAL_WEBHOOK_ID: paypal.webhookId,
      CRM_BASE_URL: crm.url,
      CRM_API_KEY: crm.apiKey,
      PAYER_LINK_SECRET: 'schemathesis-payer-link-secret-0123456789',
      // ignored_auth sends wrong keys on purpose: the failed-authentication budget is not under test
      RATE_LIMIT_AUTH_BURST: '1000000',
      RATE_LIMIT_AUTH_PER_SECOND: '1000000',
    },
  });
  expectStatus(await settle.admin.post('/v1/tenants', { tenantId: 'fuzz', name: 'Fuzz' }), 201, 'create tenant');
  const key = await settle.admin.post<{ apiKey: string }>('/v1/tenants/fuzz/api-keys', { label: 'schemathesis' });
  expectStatus(key, 201, 'issue key');
  tenantKey = key.body.apiKey;
}, 300_000);

afterAll(async () => {
  await settle?.stop();
  await paypal?.close();
  await crm?.close();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** Each run's whole report is kept in test-artifacts/ (git-ignored) for reading after a failure. */
function keep(name: string, output: string): void {
  const dir = path.resolve(__dirname, '../test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `schemathesis-${name}.txt`), output);
}

function schemathesis(key: string, filter: string[]): Promise<{ code: number; output: string }> {
  const args = [
    'run',
    `${settle.url}/openapi.json`,
    '--checks',
    CHECKS.join(','),
    '--header',
    `Authorization: Bearer ${key}`,
    '--max-examples',
    LONG ? '100' : '6',
    '--phases',
    LONG ? 'examples,coverage,fuzzing' : 'examples,fuzzing',
    '--workers',
    '2',
    // a fixed seed by default, so a finding reproduces; SCHEMATHESIS_SEED explores others
    '--seed',
    process.env.SCHEMATHESIS_SEED ?? '20261207',
    '--no-color',
    '--suppress-health-check',
    'all',
    ...filter,
  ];
  return new Promise((resolve) => {
    // its crash cache goes to the working directory: a temporary one, never the repository
    execFile(st, args, { cwd: workDir, maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SCHEMATHESIS_HOOKS: '' } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, output: `${stdout}\n${stderr}` });
    });
  });
}

/** What the service itself logged when an answer did not match its documented schema (mount() checks each). */
function undocumentedAnswers(): string[] {
  return settle.output.join('').match(/[^\n]*answer does not match its documented response schema[^\n]*/g) ?? [];
}

/**
 * One run; run again once when Schemathesis itself crashed (a "Runtime Error" of the tool, e.g.
 * CPython's "AST constructor recursion depth mismatch" under its worker threads) and found nothing.
 */
async function schemathesisRun(key: string, filter: string[]): Promise<{ code: number; output: string }> {
  const first = await schemathesis(key, filter);
  const toolErrorOnly = first.code !== 0 && /Errors:\s*\n\s*🚫 Runtime Error/.test(first.output) && !/Failures:/.test(first.output);
  return toolErrorOnly ? schemathesis(key, filter) : first;
}

function findings(output: string): string {
  // the failures section and the summary: enough to reproduce (each failure has a curl line and the seed)
  const start = output.indexOf('=== FAILURES ===');
  return start >= 0 ? output.slice(Math.max(0, output.lastIndexOf('\n', start))) : output.slice(-6000);
}

test('tenant operations: every answer conforms to /openapi.json', async () => {
  const r = await schemathesisRun(tenantKey, ['--exclude-path-regex', ADMIN_PATHS]);
  keep('tenant', r.output);
  if (r.code !== 0) throw new Error(`Schemathesis found problems (exit ${r.code}):\n${findings(r.output)}`);
  expect(r.output).toMatch(/No issues found|passed/i);
  expect(undocumentedAnswers()).toEqual([]);
});

test('admin operations: every answer conforms to /openapi.json', async () => {
  const r = await schemathesisRun(ADMIN_KEY, ['--include-path-regex', ADMIN_PATHS]);
  keep('admin', r.output);
  if (r.code !== 0) throw new Error(`Schemathesis found problems (exit ${r.code}):\n${findings(r.output)}`);
  expect(r.output).toMatch(/No issues found|passed/i);
  expect(undocumentedAnswers()).toEqual([]);
});
