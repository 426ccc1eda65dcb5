/**
 * Stripe events for tests: the published example objects (test/fixtures/stripe/events), given
 * fresh ids, timestamps and metadata, then signed with the real Stripe-Signature scheme through
 * the official SDK's test-header helper.
 */
import fs from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';
import { fixturesDir } from './fixtures';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
export type StripeEvent = Record<string, any> & { id: string; type: string; data: { object: Record<string, any> } };

const DIR = fixturesDir('stripe', 'events');
let seq = 0;

export function stripeEvent(file: string, mutate: (object: Record<string, any>, event: StripeEvent) => void = () => undefined): StripeEvent {
  const e = JSON.parse(fs.readFileSync(path.join(DIR, `${file}.json`), 'utf8')) as StripeEvent;
  e.id = `evt_test_${Date.now().toString(36)}_${++seq}`;
  e.created = Math.floor(Date.now() / 1000);
  mutate(e.data.object, e);
  return e;
}

export function sign(payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

export async function deliver(url: string, event: StripeEvent | string, secret: string, opts: { timestamp?: number; signature?: string } = {}): Promise<{ status: number; body: any }> {
  const payload = typeof event === 'string' ? event : JSON.stringify(event);
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': opts.signature ?? sign(payload, secret, opts.timestamp) },
    body: payload,
  });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, body };
}
