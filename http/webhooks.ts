/**
 * Provider webhook endpoints. Verification runs on the raw body before anything is parsed or
 * stored; an unverified request stores nothing and gets a precise 4xx problem.
 *
 *   POST /webhooks/stripe          platform events, STRIPE_WEBHOOK_SECRET, no `account`
 *   POST /webhooks/stripe/connect  connected-account events, STRIPE_CONNECT_WEBHOOK_SECRET, `account` set
 *   POST /webhooks/paypal          PayPal events, verified for PAYPAL_WEBHOOK_ID, transmission time within
 *                                  PAYPAL_WEBHOOK_TOLERANCE_SECONDS, transmission id not seen with another
 *                                  body; money is then recorded only from PayPal's API (commands/webhooks/paypal.ts)
 *
 * Queue first: a verified event is answered 200 as soon as its inbox row is committed (`status:
 * "received"`, or the row's status when it was delivered before); the applier
 * (infrastructure/webhooks/applier.ts) applies it right after, and the row then shows processed,
 * parked or ignored with the reason. Only a failure to store it answers 5xx.
 */
import type { HttpMetrics, HttpSettings } from './services';
import { createHash } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import Stripe from 'stripe';
import type { Endpoint, WebhookIngestor } from '../commands/webhooks/ingest';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from './jsonDepth';
import { Problem } from './problem';
import type { FailedAuthLimiter } from './rateLimit';

export interface PayPalVerifier {
  verify(headers: Record<string, string | undefined>, rawBody: Buffer): Promise<{ ok: true } | { ok: false; reason: string }>;
}

/** PayPal transmissions seen (infrastructure/webhooks/paypalTransmissions.ts). */
export interface PayPalTransmissionMemory {
  remember(transmissionId: string, bodySha256: string, eventId: string | null): Promise<'new' | 'replay' | 'conflict'>;
  forget(transmissionId: string, bodySha256: string): Promise<void>;
}

export interface WebhookDeps {
  readonly config: HttpSettings;
  readonly ingestor: WebhookIngestor;
  readonly metrics: HttpMetrics;
  readonly paypalVerifier: PayPalVerifier | null;
  readonly paypalTransmissions?: PayPalTransmissionMemory | null;
}

const raw = express.raw({ type: () => true, limit: '1mb' });

function reject(deps: WebhookDeps, endpoint: Endpoint, status: number, slug: string, title: string, detail: string): never {
  deps.metrics.webhooksRejected.inc({ endpoint, reason: slug });
  throw new Problem(status, slug, title, detail);
}

/** A request that did not prove it comes from the provider: charged to its address's budget (`FailedAuthLimiter`), then refused. */
function unverified(deps: WebhookDeps, limit: FailedAuthLimiter | undefined, req: Request, endpoint: Endpoint, slug: string, title: string, detail: string): never {
  limit?.charge(req);
  reject(deps, endpoint, 400, slug, title, detail);
}

function body(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

async function stripeEndpoint(deps: WebhookDeps, limit: FailedAuthLimiter | undefined, endpoint: 'stripe' | 'stripe_connect', req: Request, res: Response): Promise<void> {
  const secret = endpoint === 'stripe' ? deps.config.STRIPE_WEBHOOK_SECRET : deps.config.STRIPE_CONNECT_WEBHOOK_SECRET;
  if (!secret) reject(deps, endpoint, 503, 'webhook-not-configured', 'Webhook Not Configured', `No signing secret is configured for the ${endpoint} endpoint`);
  const signature = req.get('stripe-signature');
  if (!signature) unverified(deps, limit, req, endpoint, 'missing-signature', 'Missing Signature', 'The Stripe-Signature header is required');
  const payload = body(req);
  let event: Stripe.Event;
  try {
    event = Stripe.webhooks.constructEvent(payload, signature, secret, deps.config.WEBHOOK_TOLERANCE_SECONDS);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const stale = /tolerance/i.test(message);
    unverified(deps, limit, req, endpoint, stale ? 'signature-expired' : 'invalid-signature', stale ? 'Signature Expired' : 'Invalid Signature', `The webhook signature did not verify: ${message}`);
  }
  if (jsonDepthExceeds(event)) reject(deps, endpoint, 400, 'json-too-deep', 'JSON Nested Too Deeply', `The verified event nests more than ${MAX_JSON_DEPTH} levels deep`);
  const e = event as unknown as { id?: unknown; type?: unknown; livemode?: unknown; account?: unknown };
  if (typeof e.id !== 'string' || typeof e.type !== 'string') reject(deps, endpoint, 400, 'malformed-event', 'Malformed Event', 'A Stripe event needs an id and a type');
  if (e.livemode !== deps.config.stripeLivemode) {
    reject(deps, endpoint, 400, 'livemode-mismatch', 'Wrong Mode', `This endpoint accepts ${deps.config.stripeLivemode ? 'live' : 'test'} mode events only`);
  }
  const account = typeof e.account === 'string' ? e.account : null;
  if (endpoint === 'stripe' && account) reject(deps, endpoint, 400, 'connect-event-on-platform-endpoint', 'Wrong Endpoint', 'Connected-account events are accepted only on /webhooks/stripe/connect');
  if (endpoint === 'stripe_connect' && !account) reject(deps, endpoint, 400, 'platform-event-on-connect-endpoint', 'Wrong Endpoint', 'Platform events are accepted only on /webhooks/stripe');
  // stored durably, then answered: the applier applies it (its row shows processed, parked or ignored, with the reason)
  const r = await deps.ingestor.receive(endpoint, e.id, e.type, account, event, payload.toString('utf8'));
  acknowledge(res, e.id, r.status, r.duplicate);
}

async function paypalEndpoint(deps: WebhookDeps, limit: FailedAuthLimiter | undefined, req: Request, res: Response): Promise<void> {
  if (!deps.paypalVerifier) reject(deps, 'paypal', 503, 'webhook-not-configured', 'Webhook Not Configured', 'PAYPAL_WEBHOOK_ID is not configured');
  const payload = body(req);
  const headers: Record<string, string | undefined> = {};
  for (const h of ['paypal-transmission-id', 'paypal-transmission-time', 'paypal-transmission-sig', 'paypal-cert-url', 'paypal-auth-algo']) headers[h.toUpperCase()] = req.get(h);
  const v = await deps.paypalVerifier.verify(headers, payload);
  if (!v.ok && v.reason === 'transmission_expired') {
    unverified(deps, limit, req, 'paypal', 'signature-expired', 'Signature Expired', `The PayPal transmission time is outside the accepted window (PAYPAL_WEBHOOK_TOLERANCE_SECONDS = ${deps.config.PAYPAL_WEBHOOK_TOLERANCE_SECONDS} s)`);
  }
  if (!v.ok) unverified(deps, limit, req, 'paypal', 'invalid-signature', 'Invalid Signature', `The PayPal webhook signature did not verify: ${v.reason}`);
  let event: { id?: unknown; event_type?: unknown };
  try {
    event = JSON.parse(payload.toString('utf8')) as typeof event;
  } catch {
    reject(deps, 'paypal', 400, 'malformed-json', 'Malformed JSON', 'The verified body is not JSON');
  }
  if (jsonDepthExceeds(event)) reject(deps, 'paypal', 400, 'json-too-deep', 'JSON Nested Too Deeply', `The verified event nests more than ${MAX_JSON_DEPTH} levels deep`);
  if (typeof event.id !== 'string' || typeof event.event_type !== 'string') reject(deps, 'paypal', 400, 'malformed-event', 'Malformed Event', 'A PayPal event needs an id and an event_type');
  // The signature covers the body only through its CRC32, which another body can match: the
  // transmission id (signed) is remembered with the body's SHA-256, and another body under it is refused.
  const transmissionId = headers['PAYPAL-TRANSMISSION-ID'];
  if (transmissionId === undefined) throw new Error('invariant: a verified PayPal delivery has a PAYPAL-TRANSMISSION-ID');
  const bodySha256 = createHash('sha256').update(payload).digest('hex');
  if (deps.paypalTransmissions) {
    const seen = await deps.paypalTransmissions.remember(transmissionId, bodySha256, event.id);
    if (seen === 'conflict') reject(deps, 'paypal', 400, 'transmission-reused', 'Transmission Reused', 'This PAYPAL-TRANSMISSION-ID was already delivered with another body');
    // the same transmission again (PayPal's retry, or a replay): handled as a redelivery, the inbox applies it once
    if (seen === 'replay') req.log?.info({ transmissionId, eventId: event.id }, 'PayPal transmission seen before (same body): a redelivery');
  }
  // stored, then answered; if applying it records nothing (refused against PayPal's record, or a type
  // Settle ignores), the applier forgets its transmission id so it does not lock out the genuine body
  const r = await deps.ingestor.receive('paypal', event.id, event.event_type, null, event, payload.toString('utf8'));
  acknowledge(res, event.id, r.status, r.duplicate);
}

/**
 * The 200 of a stored delivery, written directly: `res.json` would also hash the body for an ETag
 * and check freshness, which a provider's POST never uses (a measurable share of the hot path).
 */
function acknowledge(res: Response, id: string, status: string, duplicate: boolean): void {
  const json = JSON.stringify({ received: true, id, status, duplicate });
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/**
 * `unverifiedLimit`: the budget of requests that fail verification (missing, invalid or expired
 * signature) per source address; an address without budget left is answered 429 before its body
 * is read or verified. Verified deliveries never spend it: they are not throttled.
 */
export function webhookRoutes(deps: WebhookDeps, unverifiedLimit?: FailedAuthLimiter): Router {
  const r = Router();
  const gate = unverifiedLimit ? [unverifiedLimit.gate] : [];
  r.post('/webhooks/stripe', ...gate, raw, (req, res) => stripeEndpoint(deps, unverifiedLimit, 'stripe', req, res));
  r.post('/webhooks/stripe/connect', ...gate, raw, (req, res) => stripeEndpoint(deps, unverifiedLimit, 'stripe_connect', req, res));
  r.post('/webhooks/paypal', ...gate, raw, (req, res) => paypalEndpoint(deps, unverifiedLimit, req, res));
  return r;
}
