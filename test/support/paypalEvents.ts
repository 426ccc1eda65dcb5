/**
 * PayPal webhook events for tests and the demo: PayPal's published example bodies
 * (test/fixtures/paypal/webhooks) given a fresh event id and create time, then changed by
 * `mutate`. Signing is the PayPal simulator's (`signWebhook` / `sendWebhook`), which signs like
 * PayPal does with a cert the service fetches from the simulator.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fixturesDir } from './fixtures';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
export type PayPalEvent = Record<string, any> & { id: string; event_type: string; resource: Record<string, any> };

const DIR = fixturesDir('paypal', 'webhooks');
const ID_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** An id in PayPal's shape (upper-case letters and digits). */
export function paypalId(length = 17): string {
  const b = randomBytes(length);
  let s = '';
  for (let i = 0; i < length; i++) s += ID_CHARS.charAt(b[i]! % ID_CHARS.length);
  return s;
}

export function paypalEvent(file: string, mutate: (resource: Record<string, any>, event: PayPalEvent) => void = () => undefined): PayPalEvent {
  const e = JSON.parse(fs.readFileSync(path.join(DIR, `${file}.json`), 'utf8')) as PayPalEvent;
  e.id = `WH-${paypalId(17)}-${paypalId(17)}`;
  e.create_time = new Date().toISOString();
  for (const l of Array.isArray(e.links) ? (e.links as Array<{ href: string }>) : []) l.href = l.href.replace(/WH-[A-Z0-9-]+/, e.id);
  mutate(e.resource, e);
  return e;
}
