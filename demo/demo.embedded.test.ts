/**
 * The newcomer path end to end: the built service (dist/) as a child process on its embedded
 * default (PGlite in a temp DATA_DIR, in-process messaging, dev defaults generated on first start),
 * and the compiled demo (`npm run demo`'s build/demo) as a second child process. Everything is
 * checked through the query API with the tenant key the demo printed. The CRM and PayPal
 * simulator addresses are free ports given to both processes (as an explicit environment
 * overriding the dev defaults, so parallel tests never fight over the fixed ports); the admin key,
 * the Stripe webhook secret and the PayPal webhook id come from the generated dev defaults file.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { client } from '../test/support/api';
import { freePort, spawnService, type ServiceProcess } from '../test/support/process';
import type { DemoSummary } from './demo';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..');
const DEMO = path.join(ROOT, 'build/demo/demo/main.js');

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runDemo(env: Record<string, string>, args: string[] = ['--json']): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

type Payment = { attemptId: string; payable: { type: string; id: string }; provider: string; providerPaymentId: string; providerChargeId: string | null; status: string; errorCode: string | null; declineCode: string | null; amount: { amount: number; currency: string } };
type Booking = { bookingId: string; stage: string; needsAttention: boolean; crm: { bookingId: string | null; paymentAssociated: boolean; stages: Record<string, { attempts: number; lastError: string | null; failed: boolean }> } };

async function all<T>(api: ReturnType<typeof client>, p: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: { data: T[]; nextCursor: string | null } } = await api.get<{ data: T[]; nextCursor: string | null }>(`${p}?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(r.status).toBe(200);
    items.push(...r.body.data);
    cursor = r.body.nextCursor;
  } while (cursor);
  return items;
}

describe('npm run demo against `npm start` (embedded, child processes)', () => {
  let dataDir: string;
  let svc: ServiceProcess | undefined;
  let demoEnv: Record<string, string>;

  beforeAll(async () => {
    // the demo build is what `npm run demo` runs; build it fresh so the test never runs a stale one
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'demo/tsconfig.json')], { cwd: ROOT, stdio: 'pipe' });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-demo-'));
    const crm = { CRM_BASE_URL: `http://127.0.0.1:${await freePort()}`, CRM_API_KEY: 'crm-key-for-the-demo-test', PAYPAL_API_BASE: `http://127.0.0.1:${await freePort()}` };
    svc = await spawnService({ DATA_DIR: dataDir, NODE_ENV: 'development', LOG_LEVEL: 'info', CRM_RETRY_BASE_MS: '200', CRM_RETRY_MAX_MS: '1000', ...crm });
    demoEnv = { DATA_DIR: dataDir, SETTLE_URL: svc.url, DEMO_WAIT_SECONDS: '60', ...crm };
  });
  afterAll(async () => {
    await svc?.kill('SIGTERM');
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function checkRun(s: DemoSummary) {
    const api = client(svc!.url, s.tenantApiKey);
    const payments = await all<Payment>(api, '/v1/payments');
    const of = (id: string) => payments.filter((p) => p.payable.id === id);

    expect(of(s.succeeded.bookingId)).toEqual([expect.objectContaining({ payable: { type: 'booking', id: s.succeeded.bookingId }, provider: 'stripe', providerPaymentId: s.succeeded.providerPaymentId, status: 'succeeded', amount: { amount: 129000, currency: 'EUR' } })]);
    expect(of(s.declined.bookingId)).toEqual([expect.objectContaining({ provider: 'stripe', providerPaymentId: s.declined.providerPaymentId, status: 'failed', errorCode: 'card_declined', declineCode: 'insufficient_funds' })]);
    expect(of(s.crmRetried.bookingId)).toEqual([expect.objectContaining({ provider: 'stripe', providerPaymentId: s.crmRetried.providerPaymentId, status: 'succeeded' })]);
    const invoice = await api.get<{ status: string; total: { amount: number; currency: string } }>(`/v1/invoices/${s.paypal.invoiceId}`);
    expect(invoice.body.status).toBe('paid');
    expect(of(s.paypal.invoiceId)).toEqual([
      expect.objectContaining({ payable: { type: 'invoice', id: s.paypal.invoiceId }, provider: 'paypal', providerPaymentId: s.paypal.orderId, providerChargeId: s.paypal.captureId, status: 'succeeded', amount: invoice.body.total }),
    ]);
    expect(payments).toHaveLength(4); // nothing else in this tenant

    const bookings = await all<Booking>(api, '/v1/bookings');
    expect(bookings).toHaveLength(3);
    const retried = bookings.filter((b) => b.bookingId === s.crmRetried.bookingId);
    expect(retried).toHaveLength(1);
    expect(retried[0]).toMatchObject({ stage: 'payment_associated', needsAttention: false, crm: { bookingId: s.crmRetried.crmBookingId, paymentAssociated: true } });
    expect(retried[0]!.crm.stages.create_contact_booking).toMatchObject({ attempts: 2, lastFailedAttempt: 1, failed: false, lastError: expect.stringContaining('503') });
    const paid = bookings.find((b) => b.bookingId === s.succeeded.bookingId)!;
    expect(paid).toMatchObject({ stage: 'payment_associated', crm: { bookingId: s.succeeded.crmBookingId, paymentAssociated: true } });
    expect(paid.crm.stages.create_contact_booking).toMatchObject({ attempts: 1, lastFailedAttempt: 0 }); // one call started, none failed
    expect(bookings.find((b) => b.bookingId === s.declined.bookingId)).toMatchObject({ stage: 'requested', crm: { bookingId: null } });
    // the CRM ids are distinct bookings in the CRM
    expect(new Set([s.succeeded.crmBookingId, s.crmRetried.crmBookingId]).size).toBe(2);
  }

  let first: DemoSummary;

  test('the demo creates a succeeded, a declined and a PayPal payment and a booking that needed a CRM retry, each exactly once', async () => {
    const r = await runDemo(demoEnv);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    first = JSON.parse(r.stdout) as DemoSummary;
    expect(first).toMatchObject({ consoleUrl: `${svc!.url}/admin`, devDefaultsFile: path.join(dataDir, 'dev-defaults.json'), crmRetried: { failedAttempts: 1 } });
    await checkRun(first);
    // the service logged where the dev defaults are, never their values
    const log = svc!.output.join('');
    expect(log).toContain(path.join(dataDir, 'dev-defaults.json'));
    const secrets = (JSON.parse(fs.readFileSync(path.join(dataDir, 'dev-defaults.json'), 'utf8')) as { values: Record<string, string> }).values;
    for (const name of ['ADMIN_API_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_CONNECT_WEBHOOK_SECRET']) expect(log).not.toContain(secrets[name]);
  });

  test('run twice: a second run makes its own tenant and ids and leaves the first one as it was', async () => {
    const r = await runDemo(demoEnv);
    expect(r.code).toBe(0);
    const second = JSON.parse(r.stdout) as DemoSummary;
    expect(second.tenantId).not.toBe(first.tenantId);
    expect(second.succeeded.bookingId).not.toBe(first.succeeded.bookingId);
    expect(second.paypal.captureId).not.toBe(first.paypal.captureId);
    await checkRun(second);
    await checkRun(first);
    // the first tenant's key does not see the second tenant's booking
    expect((await client(svc!.url, first.tenantApiKey).get(`/v1/bookings/${second.crmRetried.bookingId}`)).status).toBe(404);
  });

  test('the human-readable run prints the console URL, the key to sign in with and the ids to look at', async () => {
    const r = await runDemo(demoEnv, []);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${svc!.url}/admin`);
    expect(r.stdout).toMatch(/Sign in with the demo tenant's API key: +sk_settle_/);
    expect(r.stdout).toMatch(/a declined payment: .*insufficient_funds/);
    expect(r.stdout).toMatch(/a CRM retry: .*1 failed CRM attempt/);
  });

  test('clear errors: service not running, not in dev mode (no dev defaults), a CRM the demo cannot serve, refused admin key', async () => {
    const down = await runDemo({ ...demoEnv, SETTLE_URL: `http://127.0.0.1:${await freePort()}` });
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/Settle is not answering at .*\n.*npm start/);

    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-demo-empty-'));
    try {
      const notDev = await runDemo({ ...demoEnv, DATA_DIR: empty });
      expect(notDev.code).toBe(2);
      expect(notDev.stderr).toContain(`no dev defaults at ${path.join(empty, 'dev-defaults.json')}, so the service is not in embedded dev mode`);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }

    const remote = await runDemo({ ...demoEnv, CRM_BASE_URL: 'https://crm.example.com' });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('CRM_BASE_URL=https://crm.example.com is not a local http://127.0.0.1:<port> address');

    const refused = await runDemo({ ...demoEnv, ADMIN_API_KEY: 'not-the-key-of-this-service-at-all' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/the service refused the admin key from ADMIN_API_KEY in the environment \(401/);
  });
});
