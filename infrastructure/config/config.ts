import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

/**
 * Configuration comes from the environment only, validated once at startup. A bad value stops
 * the process with a message naming the variable; nothing else reads process.env.
 */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL with protocol ${protocols.join(' or ')}`);

/**
 * Which peers may set X-Forwarded-For / X-Forwarded-Proto (Express `trust proxy`): a hop count
 * (`0`: none, `1`: the one load balancer in front), or a comma-separated list of addresses, CIDR
 * blocks and the names `loopback`, `linklocal`, `uniquelocal`.
 */
export type TrustProxy = number | string[];
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
export function parseTrustProxy(v: string): TrustProxy | null {
  const t = v.trim();
  if (/^\d{1,2}$/.test(t)) return Number(t);
  const parts = t.split(',').map((p) => p.trim());
  for (const p of parts) {
    if (PROXY_NAMES.includes(p)) continue;
    const [addr, bits, ...rest] = p.split('/');
    const family = isIP(addr ?? '');
    if (family === 0 || rest.length > 0) return null;
    if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128))) return null;
  }
  return parts;
}

const onOff = z.enum(['on', 'off', 'true', 'false']).transform((v) => v === 'on' || v === 'true');

/** A readable PEM file (read again, with its contents, by kafkaSecurity). */
const pemFile = z.string().refine((p) => {
  try {
    return /-----BEGIN [A-Z0-9 ]+-----/.test(fs.readFileSync(p, 'utf8'));
  } catch {
    return false;
  }
}, 'must be the path of a readable PEM file');

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Unset: 127.0.0.1 on the embedded default (a local process), 0.0.0.0 with DATABASE_URL. */
  HOST: z.string().min(1).optional(),
  /** Peers trusted to set X-Forwarded-For/-Proto: hop count, or addresses/CIDRs/`loopback`,… (see parseTrustProxy). */
  TRUST_PROXY: z
    .string()
    .default('loopback')
    .transform((v, ctx) => {
      const parsed = parseTrustProxy(v);
      if (parsed === null) {
        ctx.addIssue({ code: 'custom', message: 'must be a hop count (0-99) or comma-separated addresses, CIDR blocks, loopback, linklocal or uniquelocal' });
        return z.NEVER;
      }
      return parsed;
    }),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier').default('public'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(500).default(20),
  DATA_DIR: z.string().min(1).default('./data'),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^,\s:]+:\d+(,[^,\s:]+:\d+)*$/, 'must be host:port[,host:port...]')
    .optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('settle'),
  KAFKA_TOPIC_PREFIX: z.string().regex(/^[a-zA-Z0-9._-]*$/, 'may contain letters, digits, dot, dash and underscore').default(''),
  /** TLS to the brokers (SSL or SASL_SSL listeners). */
  KAFKA_SSL: onOff.default(false),
  /** PEM files: the CA bundle to trust (default: Node's public CAs), and a client certificate + key for mTLS. */
  KAFKA_SSL_CA: pemFile.optional(),
  KAFKA_SSL_CERT: pemFile.optional(),
  KAFKA_SSL_KEY: pemFile.optional(),
  /** `false` accepts any broker certificate (never in production: it makes TLS worthless against an active attacker). */
  KAFKA_SSL_REJECT_UNAUTHORIZED: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** SASL authentication (SASL_PLAINTEXT or, with KAFKA_SSL, SASL_SSL listeners). */
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).max(1000).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).max(1000).optional(),
  EVENTSTORE_URL: url(['esdb:', 'esdb+discover:', 'kurrentdb:']).optional(),
  /** Group commit: concurrent appends share one transaction (PostgreSQL and embedded event store). */
  EVENTSTORE_GROUP_COMMIT: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Bearer token for GET /metrics on the public port; unset: /metrics is not served there. */
  METRICS_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /** A separate listener for /metrics (on METRICS_HOST); unset: none. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  /** Admin key: creates tenants and their API keys. Unset: no admin access. */
  ADMIN_API_KEY: z.string().min(24, 'must be at least 24 characters').optional(),
  /** Pending checkout sessions are reused while younger than this (two tabs, one session). */
  CHECKOUT_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(1800),
  /** What a projection does with an event it cannot apply (always dead-lettered): skip it, or halt. */
  PROJECTION_ON_ERROR: z.enum(['skip', 'halt']).default('skip'),
  /** Run the projections in this process (several instances may; one runner per projection is active). */
  PROJECTIONS_ENABLED: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  // ---- providers
  STRIPE_SECRET_KEY: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_test_..., sk_live_...)').optional(),
  /** Stripe API base for tests and sandboxes (stripe-mock): http://127.0.0.1:12111 */
  STRIPE_API_BASE: url(['http:', 'https:']).optional(),
  /** Stripe API version Settle speaks (Stripe-Version header); default: the SDK's pinned version. */
  STRIPE_API_VERSION: z.string().regex(/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/, 'must be a Stripe API version like 2026-08-26.dahlia').optional(),
  STRIPE_WEBHOOK_SECRET: z.string().startsWith('whsec_', 'must be a Stripe webhook signing secret (whsec_...)').optional(),
  STRIPE_CONNECT_WEBHOOK_SECRET: z.string().startsWith('whsec_', 'must be a Stripe webhook signing secret (whsec_...)').optional(),
  /** Which Stripe mode events must be in; default: live for an sk_live_ key, else test. */
  STRIPE_LIVEMODE: z.enum(['true', 'false']).optional(),
  /** Platform fee on Connect payments, in basis points of the amount. */
  STRIPE_APPLICATION_FEE_BPS: z.coerce.number().int().min(0).max(10_000).default(0),
  WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  PAYPAL_API_BASE: url(['http:', 'https:']).default('https://api-m.sandbox.paypal.com'),
  PAYPAL_CLIENT_ID: z.string().min(1).optional(),
  PAYPAL_CLIENT_SECRET: z.string().min(1).optional(),
  PAYPAL_WEBHOOK_ID: z.string().min(1).optional(),
  /**
   * How old a PayPal webhook's PAYPAL-TRANSMISSION-TIME may be: PayPal retries a delivery for up to
   * 3 days, plus 5 minutes of clock skew (259500 s). Older (or more than 5 minutes ahead): 400.
   */
  PAYPAL_WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(300).max(30 * 86_400).default(3 * 86_400 + 300),
  /** Public base URL of this Settle (buyer return URLs, signed links). */
  PUBLIC_BASE_URL: url(['http:', 'https:']).default('http://localhost:3000'),
  /** HMAC key of signed payer links (≥ 32 chars). Unset: generated under DATA_DIR in embedded mode; payer links off with PostgreSQL. */
  PAYER_LINK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Lifetime of a signed payer link. */
  PAYER_LINK_TTL_SECONDS: z.coerce.number().int().min(60).max(90 * 86_400).default(7 * 86_400),
  /** Admin console session lifetime. */
  CONSOLE_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(7 * 86_400).default(8 * 3600),
  /** Heartbeat comment interval of live status streams (server-sent events). */
  LIVE_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(15),
  /** Concurrent live streams per API key, console session or payer link. */
  LIVE_STREAMS_PER_PRINCIPAL: z.coerce.number().int().min(1).max(100_000).default(50),
  /** Concurrent live streams per client address. */
  LIVE_STREAMS_PER_IP: z.coerce.number().int().min(1).max(100_000).default(100),
  // ---- CRM sync saga and notifications
  CRM_BASE_URL: url(['http:', 'https:']).optional(),
  CRM_API_KEY: z.string().min(1).optional(),
  CRM_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(30_000),
  CRM_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  CRM_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(2_000),
  CRM_RETRY_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(600_000),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  MAIL_FROM: z.string().min(3).default('Settle <settle@localhost>'),
  /** Operations address(es) for failures that need a human; comma-separated. */
  OPS_EMAIL: z.string().min(3).optional(),
  // ---- rate limits (token buckets per process): burst and refill per second
  RATE_LIMIT_API_BURST: z.coerce.number().int().min(1).default(200),
  RATE_LIMIT_API_PER_SECOND: z.coerce.number().positive().default(50),
  // webhooks: requests that fail signature verification, per source address (verified deliveries are not throttled)
  RATE_LIMIT_WEBHOOK_BURST: z.coerce.number().int().min(1).default(500),
  RATE_LIMIT_WEBHOOK_PER_SECOND: z.coerce.number().positive().default(100),
  RATE_LIMIT_PUBLIC_BURST: z.coerce.number().int().min(1).default(20),
  RATE_LIMIT_PUBLIC_PER_SECOND: z.coerce.number().positive().default(0.5),
  /** How long a database-backed gauge (events behind, outbox backlog, inbox counts) is reused by scrapes. */
  METRICS_QUERY_TTL_MS: z.coerce.number().int().min(50).max(300_000).default(5000),
  /** /readyz per client IP (its probes are cached; this bounds the answers). */
  RATE_LIMIT_HEALTH_BURST: z.coerce.number().int().min(1).default(30),
  RATE_LIMIT_HEALTH_PER_SECOND: z.coerce.number().positive().default(10),
  /** Failed or missing API credentials per client IP (checked before the key lookup). */
  RATE_LIMIT_AUTH_BURST: z.coerce.number().int().min(1).default(20),
  RATE_LIMIT_AUTH_PER_SECOND: z.coerce.number().positive().default(0.2),
  // ---- messaging isolation (outbox relay and consumer groups)
  /** Attempts to publish (relay) or handle (consumer group) one message before its key is parked. */
  MESSAGE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  /** Backoff between those attempts: exponential from base, capped. */
  MESSAGE_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(1000),
  MESSAGE_RETRY_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(60_000),
  /** The oldest due outbox message (of a key not held) unchanged and older than this: the relay is stuck. */
  OUTBOX_STUCK_SECONDS: z.coerce.number().int().min(1).default(60),
  /** What /readyz answers while the relay is stuck: `degraded` (200) or `unavailable` (503). */
  OUTBOX_STUCK_READINESS: z.enum(['degraded', 'unavailable']).default('degraded'),
  // ---- webhook applier (queue first: stored webhooks are applied in the background)
  /** The oldest stored webhook not yet tried, unchanged and older than this: the applier is stuck. */
  WEBHOOK_APPLIER_STUCK_SECONDS: z.coerce.number().int().min(1).default(60),
  /** What /readyz answers while the applier is stuck: `degraded` (200) or `unavailable` (503). */
  WEBHOOK_APPLIER_STUCK_READINESS: z.enum(['degraded', 'unavailable']).default('degraded'),
  // ---- reconciliation (POST /v1/admin/reconciliations, npm run reconcile)
  /** Objects per provider list page (Stripe allows 1..100) and PayPal orders per batch. */
  RECONCILE_PAGE_SIZE: z.coerce.number().int().min(1).max(100).default(100),
  /** Pause between two pages of one listing (stays under the provider's rate limit). */
  RECONCILE_PAGE_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(250),
  /** Retries of one provider read after a 429 (waiting its Retry-After) or a retryable failure. */
  RECONCILE_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  /** Longest wait a Retry-After may impose. */
  RECONCILE_MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).max(600_000).default(60_000),
  /** A subscription behind the head with no progress for this long makes /readyz fail. */
  PROJECTION_STALL_SECONDS: z.coerce.number().int().min(1).default(60),
  /** `off` disables the local dev defaults of embedded dev mode (infrastructure/config/devDefaults.ts). */
  SETTLE_DEV_DEFAULTS: z.enum(['auto', 'on', 'off']).default('auto'),
});

/** TLS and SASL settings of the Kafka clients (kafkajs' `ssl` and `sasl` options), from KAFKA_SSL* / KAFKA_SASL_*. */
export interface KafkaSecurity {
  readonly ssl: false | { readonly rejectUnauthorized: boolean; readonly ca?: string[]; readonly cert?: string; readonly key?: string };
  readonly sasl: null | { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string };
}

const checkedSchema = schema.superRefine((c, ctx) => {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (!c.KAFKA_SSL) {
    for (const k of ['KAFKA_SSL_CA', 'KAFKA_SSL_CERT', 'KAFKA_SSL_KEY'] as const) if (c[k]) issue(k, 'is set but KAFKA_SSL is off: set KAFKA_SSL=on (or remove it)');
  }
  if (Boolean(c.KAFKA_SSL_CERT) !== Boolean(c.KAFKA_SSL_KEY)) issue(c.KAFKA_SSL_CERT ? 'KAFKA_SSL_KEY' : 'KAFKA_SSL_CERT', 'a client certificate needs both KAFKA_SSL_CERT and KAFKA_SSL_KEY');
  if (c.KAFKA_SASL_MECHANISM) {
    if (!c.KAFKA_SASL_USERNAME) issue('KAFKA_SASL_USERNAME', `is required with KAFKA_SASL_MECHANISM=${c.KAFKA_SASL_MECHANISM}`);
    if (!c.KAFKA_SASL_PASSWORD) issue('KAFKA_SASL_PASSWORD', `is required with KAFKA_SASL_MECHANISM=${c.KAFKA_SASL_MECHANISM}`);
  } else {
    for (const k of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) if (c[k]) issue(k, 'is set but KAFKA_SASL_MECHANISM is not (plain, scram-sha-256 or scram-sha-512)');
  }
});

export type Config = Omit<z.infer<typeof schema>, 'HOST'> & {
  readonly HOST: string;
  /** Absolute DATA_DIR. */
  readonly dataDir: string;
  readonly storage: 'postgres' | 'embedded';
  readonly messaging: 'kafka' | 'in-process';
  /** Stripe events must have this livemode. */
  readonly stripeLivemode: boolean;
  readonly kafkaSecurity: KafkaSecurity;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = checkedSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  return {
    ...c,
    HOST: c.HOST ?? (c.DATABASE_URL ? '0.0.0.0' : '127.0.0.1'),
    dataDir: path.resolve(c.DATA_DIR),
    storage: c.DATABASE_URL ? 'postgres' : 'embedded',
    messaging: c.KAFKA_BROKERS ? 'kafka' : 'in-process',
    stripeLivemode: c.STRIPE_LIVEMODE ? c.STRIPE_LIVEMODE === 'true' : (c.STRIPE_SECRET_KEY?.includes('_live_') ?? false),
    kafkaSecurity: kafkaSecurity(c),
  };
}

function kafkaSecurity(c: z.infer<typeof schema>): KafkaSecurity {
  const read = (p: string | undefined) => (p ? fs.readFileSync(p, 'utf8') : undefined);
  const ca = read(c.KAFKA_SSL_CA);
  const ssl: KafkaSecurity['ssl'] = c.KAFKA_SSL
    ? { rejectUnauthorized: c.KAFKA_SSL_REJECT_UNAUTHORIZED, ...(ca ? { ca: [ca] } : {}), ...(c.KAFKA_SSL_CERT ? { cert: read(c.KAFKA_SSL_CERT), key: read(c.KAFKA_SSL_KEY) } : {}) }
    : false;
  const sasl = c.KAFKA_SASL_MECHANISM && c.KAFKA_SASL_USERNAME && c.KAFKA_SASL_PASSWORD ? { mechanism: c.KAFKA_SASL_MECHANISM, username: c.KAFKA_SASL_USERNAME, password: c.KAFKA_SASL_PASSWORD } : null;
  return { ssl, sasl };
}
