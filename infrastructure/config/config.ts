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

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
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
  EVENTSTORE_URL: url(['esdb:', 'esdb+discover:', 'kurrentdb:']).optional(),
  /** Group commit: concurrent appends share one transaction (PostgreSQL and embedded event store). */
  EVENTSTORE_GROUP_COMMIT: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
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
  RATE_LIMIT_WEBHOOK_BURST: z.coerce.number().int().min(1).default(500),
  RATE_LIMIT_WEBHOOK_PER_SECOND: z.coerce.number().positive().default(100),
  RATE_LIMIT_PUBLIC_BURST: z.coerce.number().int().min(1).default(20),
  RATE_LIMIT_PUBLIC_PER_SECOND: z.coerce.number().positive().default(0.5),
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
  SETTLE_DEV_DEFAULTS: z.enum(['auto', 'off']).default('auto'),
});

export type Config = z.infer<typeof schema> & {
  /** Absolute DATA_DIR. */
  readonly dataDir: string;
  readonly storage: 'postgres' | 'embedded';
  readonly messaging: 'kafka' | 'in-process';
  /** Stripe events must have this livemode. */
  readonly stripeLivemode: boolean;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  return {
    ...c,
    dataDir: path.resolve(c.DATA_DIR),
    storage: c.DATABASE_URL ? 'postgres' : 'embedded',
    messaging: c.KAFKA_BROKERS ? 'kafka' : 'in-process',
    stripeLivemode: c.STRIPE_LIVEMODE ? c.STRIPE_LIVEMODE === 'true' : (c.STRIPE_SECRET_KEY?.includes('_live_') ?? false),
  };
}
