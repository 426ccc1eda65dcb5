/**
 * Local dev defaults: what lets `npm ci && npm start` followed by `npm run demo` work with nothing
 * configured. The rule (one place, documented in the README configuration table):
 *
 *   dev defaults are ON when DATABASE_URL is unset (embedded storage), NODE_ENV is not
 *   `production`, and either the process is clearly local (it listens on a loopback HOST; HOST
 *   unset on the embedded default means 127.0.0.1) with SETTLE_DEV_DEFAULTS `auto`, or
 *   SETTLE_DEV_DEFAULTS is `on`. Otherwise nothing is read or written; an embedded start that is
 *   not production but listens beyond loopback is warned about (`warn`), since a generated admin
 *   key on a server would be a silent backdoor and a CRM address on 127.0.0.1 a silent failure.
 *
 * When on, the first start generates the values below and keeps them in `DATA_DIR/dev-defaults.json`
 * (mode 0600; later starts reuse them, so the admin key and webhook secrets stay stable across
 * restarts). Each value is used only where the environment does not set that variable: explicit
 * environment variables always win. Two groups step aside as a whole:
 *  - PayPal (PAYPAL_WEBHOOK_ID, PAYPAL_API_BASE) when PAYPAL_CLIENT_ID is set: real PayPal
 *    credentials mean the real sandbox, never the local simulator's address.
 *  - CRM_API_KEY when CRM_BASE_URL is set: a generated key is never sent to a CRM someone named.
 * With a loopback PAYPAL_API_BASE (the demo's simulator) and no PayPal credentials in the
 * environment, the simulator's fixed credentials are filled in too (PAYPAL_CLIENT_ID/SECRET): the
 * service reads every PayPal payment back from the API before recording it.
 *
 * PAYPAL_API_BASE and CRM_BASE_URL default to fixed loopback addresses where `npm run demo` runs
 * the PayPal and CRM simulators (test/simulators). The service trusts PayPal webhook certs from
 * its PAYPAL_API_BASE host (infrastructure/providers/paypalWebhooks.ts), so the demo's signed
 * PayPal webhooks pass the real verification path; nothing else about verification changes.
 *
 * The secrets are never logged: the caller logs the file path and the variable names only.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from './dataDir';

export const DEV_DEFAULTS_FILE = 'dev-defaults.json';
/** Where `npm run demo` runs the CRM simulator unless CRM_BASE_URL says otherwise. */
export const DEV_CRM_BASE_URL = 'http://127.0.0.1:3010';
/** Where `npm run demo` runs the PayPal simulator unless PAYPAL_API_BASE says otherwise. */
export const DEV_PAYPAL_API_BASE = 'http://127.0.0.1:3011';

/** API credentials of the local PayPal simulator (`npm run demo`), used only with a loopback PAYPAL_API_BASE. */
export const DEV_PAYPAL_SIMULATOR_CREDENTIALS = { clientId: 'settle-dev-paypal-simulator', clientSecret: 'settle-dev-paypal-simulator-secret' } as const;

function isLoopbackUrl(v: string | undefined): boolean {
  if (!v) return false;
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(v).hostname);
  } catch {
    return false;
  }
}

export const DEV_DEFAULT_NAMES = ['ADMIN_API_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_CONNECT_WEBHOOK_SECRET', 'PAYPAL_WEBHOOK_ID', 'PAYPAL_API_BASE', 'CRM_BASE_URL', 'CRM_API_KEY'] as const;
export type DevDefaultName = (typeof DEV_DEFAULT_NAMES)[number];
export type DevDefaultValues = Readonly<Record<DevDefaultName, string>>;

type Env = Readonly<Record<string, string | undefined>>;
/** As loadConfig: an empty variable counts as unset. */
/** The variable's value when it is set and not empty. */
const setValue = (env: Env, name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
const isSet = (env: Env, name: string) => setValue(env, name) !== undefined;

export class DevDefaultsError extends Error {
  override readonly name = 'DevDefaultsError';
}

/** 127.0.0.0/8, ::1, localhost (and IPv4-mapped loopback). */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

/** Whether dev defaults apply to this environment, and why (for the startup log). Pure. */
export function devDefaultsRule(env: Env): { on: boolean; reason: string; warn: boolean } {
  if (isSet(env, 'DATABASE_URL')) return { on: false, reason: 'DATABASE_URL is set (not the embedded default)', warn: false };
  if (env.NODE_ENV === 'production') return { on: false, reason: 'NODE_ENV=production', warn: false };
  if (env.SETTLE_DEV_DEFAULTS === 'off') return { on: false, reason: 'SETTLE_DEV_DEFAULTS=off', warn: false };
  if (env.SETTLE_DEV_DEFAULTS === 'on') return { on: true, reason: 'SETTLE_DEV_DEFAULTS=on', warn: false };
  // as loadConfig: HOST unset on the embedded default listens on 127.0.0.1
  const host = setValue(env, 'HOST') ?? '127.0.0.1';
  if (isLoopbackHost(host)) return { on: true, reason: `embedded storage outside production, listening on loopback (${host})`, warn: false };
  return {
    on: false,
    reason: `embedded storage but HOST=${host} is not a loopback address: local dev defaults (generated admin key, webhook secrets, simulator addresses) are NOT applied; set the variables you need, SETTLE_DEV_DEFAULTS=on to force dev defaults, or NODE_ENV=production`,
    warn: true,
  };
}

/** Fresh values; random parts from `random` (crypto by default). */
export function generateDevDefaults(random: (n: number) => Buffer = randomBytes): DevDefaultValues {
  const hex = (n: number) => random(n).toString('hex');
  return {
    ADMIN_API_KEY: `dev_admin_${hex(24)}`,
    STRIPE_WEBHOOK_SECRET: `whsec_dev_${hex(24)}`,
    STRIPE_CONNECT_WEBHOOK_SECRET: `whsec_dev_${hex(24)}`,
    PAYPAL_WEBHOOK_ID: `DEV${hex(8).toUpperCase()}`,
    PAYPAL_API_BASE: DEV_PAYPAL_API_BASE,
    CRM_BASE_URL: DEV_CRM_BASE_URL,
    CRM_API_KEY: `dev_crm_${hex(16)}`,
  };
}

export interface DevDefaultsMerge {
  /** The environment with the defaults filled in where it had no value. */
  readonly env: Record<string, string | undefined>;
  /** Variables taken from the dev defaults. */
  readonly applied: DevDefaultName[];
  /** Variables the environment set itself (they win). */
  readonly fromEnvironment: DevDefaultName[];
}

/** Fills in the defaults the environment does not set (see the group rules above). Pure. */
export function mergeDevDefaults(env: Env, values: DevDefaultValues): DevDefaultsMerge {
  const out: Record<string, string | undefined> = { ...env };
  const applied: DevDefaultName[] = [];
  const fromEnvironment: DevDefaultName[] = [];
  const stepsAside = (name: DevDefaultName): boolean =>
    ((name === 'PAYPAL_WEBHOOK_ID' || name === 'PAYPAL_API_BASE') && isSet(env, 'PAYPAL_CLIENT_ID')) || (name === 'CRM_API_KEY' && isSet(env, 'CRM_BASE_URL'));
  for (const name of DEV_DEFAULT_NAMES) {
    if (isSet(env, name)) fromEnvironment.push(name);
    else if (!stepsAside(name)) {
      out[name] = values[name];
      applied.push(name);
    }
  }
  // PayPal webhooks never record money from their body alone: the service reads each payment back
  // from the PayPal API, so the local simulator needs API credentials too. They are fixed (they
  // open nothing but a simulator on loopback) and given only when PayPal is a loopback address and
  // the environment names no credentials.
  if (!isSet(env, 'PAYPAL_CLIENT_ID') && !isSet(env, 'PAYPAL_CLIENT_SECRET') && isLoopbackUrl(out.PAYPAL_API_BASE)) {
    out.PAYPAL_CLIENT_ID = DEV_PAYPAL_SIMULATOR_CREDENTIALS.clientId;
    out.PAYPAL_CLIENT_SECRET = DEV_PAYPAL_SIMULATOR_CREDENTIALS.clientSecret;
  }
  return { env: out, applied, fromEnvironment };
}

/** DATA_DIR as loadConfig resolves it. */
export function devDefaultsPath(env: Env): string {
  return path.join(path.resolve(setValue(env, 'DATA_DIR') ?? './data'), DEV_DEFAULTS_FILE);
}

function parse(file: string, text: string): DevDefaultValues {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DevDefaultsError(`${file} is not JSON; delete it to generate new dev defaults`);
  }
  const values = (json as { values?: Record<string, unknown> } | null)?.values;
  const missing = DEV_DEFAULT_NAMES.filter((n) => typeof values?.[n] !== 'string' || values[n] === '');
  if (!values || missing.length > 0) throw new DevDefaultsError(`${file} lacks ${missing.join(', ')}; delete it to generate new dev defaults`);
  return Object.fromEntries(DEV_DEFAULT_NAMES.map((n) => [n, values[n] as string])) as DevDefaultValues;
}

/** Reads the dev defaults file; null when there is none (the demo's view: it never creates one). */
export function readDevDefaults(file: string): DevDefaultValues | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DevDefaultsError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parse(file, text);
}

/**
 * Reads the file, or creates it (exclusively, mode 0600) on first start. An existing file whose
 * mode lets group or others read it is narrowed to 0600 (`permissionsFixed`).
 */
export function loadOrCreateDevDefaults(file: string, generate: () => DevDefaultValues = generateDevDefaults): { values: DevDefaultValues; created: boolean; permissionsFixed: boolean } {
  // a new DATA_DIR is made private here (an existing one is narrowed, and logged, by the runtime)
  if (!fs.existsSync(path.dirname(file))) ensurePrivateDir(path.dirname(file));
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    const values = generate();
    try {
      fs.fchmodSync(fd, 0o600); // whatever the umask
      fs.writeSync(fd, `${JSON.stringify({ note: 'Local dev defaults of Settle (embedded dev mode). Secrets: keep this file private. Environment variables override each value.', createdAt: new Date().toISOString(), values }, null, 2)}\n`);
    } finally {
      fs.closeSync(fd);
    }
    return { values, created: true, permissionsFixed: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new DevDefaultsError(`cannot create ${file}: ${(err as Error).message}`);
  }
  const existing = readDevDefaults(file);
  if (!existing) throw new DevDefaultsError(`${file} disappeared while starting`);
  const loose = (fs.statSync(file).mode & 0o077) !== 0;
  if (loose) fs.chmodSync(file, 0o600);
  return { values: existing, created: false, permissionsFixed: loose };
}

export interface DevDefaultsOutcome {
  readonly env: Record<string, string | undefined>;
  /** What to log (names and the path only, never values); null when dev defaults are off. */
  readonly report: { file: string; created: boolean; permissionsFixed: boolean; applied: DevDefaultName[]; fromEnvironment: DevDefaultName[] } | null;
  readonly reason: string;
  /** Dev defaults are off although this looks like a dev start (embedded, not production) on a non-loopback host: log `reason` as a warning. */
  readonly warn: boolean;
}

/** The process entry point's step before loadConfig: the environment with dev defaults filled in. */
export function withDevDefaults(env: Env, generate?: () => DevDefaultValues): DevDefaultsOutcome {
  const rule = devDefaultsRule(env);
  if (!rule.on) return { env: { ...env }, report: null, reason: rule.reason, warn: rule.warn };
  const file = devDefaultsPath(env);
  const { values, created, permissionsFixed } = loadOrCreateDevDefaults(file, generate);
  const merged = mergeDevDefaults(env, values);
  return { env: merged.env, report: { file, created, permissionsFixed, applied: merged.applied, fromEnvironment: merged.fromEnvironment }, reason: rule.reason, warn: false };
}
