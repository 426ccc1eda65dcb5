/**
 * Turns provider facts (model/invoices.ts) into the webhook events Stripe would send for them:
 * Stripe's published example objects (test/fixtures/stripe/events) given the facts' ids,
 * amounts, currencies and times, on a connected account, signed with the real Stripe-Signature
 * scheme. One fact gives the events Stripe sends for it (a succeeded PaymentIntent gives
 * `payment_intent.succeeded` and `charge.succeeded`; a refund gives `charge.refunded` with the
 * charge's cumulative state at that moment and `refund.created`; ...).
 */
import fs from 'node:fs';
import path from 'node:path';
import { sign } from '../../support/stripeEvents';
import { fixturesDir } from '../../support/fixtures';
import { toStripeAmount } from '../model/currencies';
import { STRIPE_CONNECT_SECRET, STRIPE_PLATFORM_SECRET } from './service';
import type { ChargeFact, DisputeFact, MoneyFact, RefundFact } from '../model/invoices';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

export interface StripeDelivery {
  readonly id: string;
  readonly type: string;
  /** The connected account it happened on (Connect endpoint), or null (platform endpoint). */
  readonly account: string | null;
  readonly body: string;
}

const cache = new Map<string, Obj>();
function fixture(type: string): Obj {
  if (!cache.has(type)) cache.set(type, JSON.parse(fs.readFileSync(path.join(fixturesDir('stripe', 'events'), `${type}.json`), 'utf8')) as Obj);
  return structuredClone(cache.get(type)!);
}

export interface WorldContext {
  /**
   * What a charge's key (`ChargeFact.invoiceKey`: an invoice or a booking of the history) paid
   * for, as Settle put it on the PaymentIntent: its metadata, and the connected account the
   * payment ran on (null: the platform account).
   */
  readonly targetOf: (key: string) => { metadata: Record<string, string>; account: string | null };
}

/** The events Stripe sends for one fact, in the order Stripe creates them. */
export function eventsFor(fact: MoneyFact, facts: readonly MoneyFact[], ctx: WorldContext): StripeDelivery[] {
  const chargeOf = (ch: string) => facts.find((f): f is ChargeFact => f.kind === 'charge' && f.ch === ch)!;
  const out: StripeDelivery[] = [];
  const emit = (type: string, created: number, account: string | null, object: Obj, id: string, base = type) => {
    const e = fixture(base);
    e.type = type;
    e.id = id;
    e.created = created;
    if (account) e.account = account;
    else delete e.account;
    e.data.object = object;
    out.push({ id, type, account, body: JSON.stringify(e) });
  };
  switch (fact.kind) {
    case 'invoice':
      return [];
    case 'charge': {
      const { metadata, account } = ctx.targetOf(fact.invoiceKey);
      const amount = toStripeAmount(fact.amount, fact.currency);
      const cur = fact.currency.toLowerCase();
      const pi = fixture(fact.outcome === 'succeeded' ? 'payment_intent.succeeded' : 'payment_intent.payment_failed').data.object as Obj;
      Object.assign(pi, { id: fact.pi, amount, currency: cur, created: fact.created, latest_charge: fact.ch, metadata });
      pi.amount_received = fact.outcome === 'succeeded' ? amount : 0;
      if (fact.outcome === 'failed') Object.assign(pi.last_payment_error, { charge: fact.ch, code: fact.errorCode ?? 'card_declined', decline_code: fact.declineCode ?? null });
      const charge = chargeObject(fact, 0, []);
      if (fact.legacy) {
        // Charges API: no PaymentIntent; the charge itself carries what it was for
        charge.metadata = metadata;
        if (fact.outcome === 'failed') {
          Object.assign(charge, { status: 'failed', paid: false, captured: false, amount_captured: 0, failure_code: fact.errorCode ?? 'card_declined', failure_message: 'Your card was declined.' });
          charge.outcome = { ...(charge.outcome ?? {}), type: 'issuer_declined', reason: fact.declineCode ?? null, network_status: 'declined_by_network' };
        }
        emit(fact.outcome === 'succeeded' ? 'charge.succeeded' : 'charge.failed', fact.created + 1, account, charge, `evt_${fact.ch}_${fact.outcome === 'succeeded' ? 'ok' : 'failed'}`, 'charge.succeeded');
        return out;
      }
      if (fact.outcome === 'succeeded') {
        emit('charge.succeeded', fact.created + 1, account, charge, `evt_${fact.ch}_ok`);
        emit('payment_intent.succeeded', fact.created + 1, account, pi, `evt_${fact.pi}_ok`);
      } else {
        charge.status = 'failed';
        charge.paid = false;
        charge.amount_captured = 0;
        charge.failure_code = fact.errorCode ?? 'card_declined';
        emit('charge.failed', fact.created + 1, account, charge, `evt_${fact.ch}_failed`);
        emit('payment_intent.payment_failed', fact.created + 1, account, pi, `evt_${fact.pi}_failed`);
      }
      return out;
    }
    case 'refund': {
      const c = chargeOf(fact.ch);
      const { account, metadata } = ctx.targetOf(c.invoiceKey);
      // the charge as it is right after this refund: every refund of it created up to now
      const upTo = facts.filter((f): f is RefundFact => f.kind === 'refund' && f.ch === fact.ch && (f.created < fact.created || (f.created === fact.created && f.re <= fact.re)));
      const refunds = upTo.map((r) => refundObject(r, c));
      const cumulative = upTo.reduce((a, r) => a + r.amount, 0);
      const charge = chargeObject(c, cumulative, refunds);
      if (c.legacy) charge.metadata = metadata; // a Charges API charge carries what it was for
      emit('charge.refunded', fact.created, account, charge, `evt_${fact.re}_charge`);
      emit('refund.created', fact.created, account, refundObject(fact, c), `evt_${fact.re}_created`, 'charge.refunded');
      return out;
    }
    case 'dispute': {
      const c = chargeOf(fact.ch);
      const { account } = ctx.targetOf(c.invoiceKey);
      // Stripe's dispute lifecycle ("Disputes" > "Dispute lifecycle", event types
      // charge.dispute.*): created (needs_response), funds_withdrawn (the amount leaves the
      // balance); won: funds_reinstated (the amount comes back), then closed `won`; lost: closed
      // `lost`, the funds stay withdrawn. Settle needs created and closed; the funds events
      // carry nothing new and must change nothing.
      emit('charge.dispute.created', fact.created, account, disputeObject(fact, c, 'needs_response'), `evt_${fact.dp}_created`);
      emit('charge.dispute.funds_withdrawn', fact.created, account, disputeObject(fact, c, 'needs_response'), `evt_${fact.dp}_withdrawn`, 'charge.dispute.created');
      if (fact.outcome === 'won') emit('charge.dispute.funds_reinstated', fact.closed!, account, disputeObject(fact, c, 'won'), `evt_${fact.dp}_reinstated`, 'charge.dispute.created');
      if (fact.outcome !== 'open') emit('charge.dispute.closed', fact.closed!, account, disputeObject(fact, c, fact.outcome), `evt_${fact.dp}_closed`, 'charge.dispute.created');
      return out;
    }
    case 'paypalCapture':
    case 'paypalRefund':
      return out; // not Stripe's: driver/paypalWorld.ts plays them
  }
}

function chargeObject(c: ChargeFact, amountRefunded: number, refunds: Obj[]): Obj {
  const o = fixture('charge.succeeded').data.object as Obj;
  const amount = toStripeAmount(c.amount, c.currency);
  Object.assign(o, {
    id: c.ch,
    payment_intent: c.legacy ? null : c.pi,
    amount,
    amount_captured: amount,
    amount_refunded: toStripeAmount(amountRefunded, c.currency),
    refunded: amountRefunded >= c.amount,
    currency: c.currency.toLowerCase(),
    created: c.created,
    metadata: {},
  });
  o.refunds = { object: 'list', data: refunds, has_more: false, total_count: refunds.length, url: `/v1/charges/${c.ch}/refunds` };
  return o;
}

function refundObject(r: RefundFact, c: ChargeFact): Obj {
  const o = structuredClone((fixture('charge.refunded').data.object as Obj).refunds.data[0]) as Obj;
  Object.assign(o, { id: r.re, amount: toStripeAmount(r.amount, c.currency), charge: c.ch, payment_intent: c.legacy ? null : c.pi, currency: c.currency.toLowerCase(), created: r.created, status: 'succeeded', metadata: {}, reason: 'requested_by_customer' });
  return o;
}

function disputeObject(d: DisputeFact, c: ChargeFact, status: string): Obj {
  const o = fixture('charge.dispute.created').data.object as Obj;
  Object.assign(o, { id: d.dp, amount: toStripeAmount(d.amount, c.currency), charge: c.ch, payment_intent: c.legacy ? null : c.pi, currency: c.currency.toLowerCase(), created: d.created, status, metadata: {} });
  return o;
}

/** POSTs one delivery to the endpoint Stripe sends it to (Connect or platform), signed now. */
export async function deliver(baseUrl: string, d: StripeDelivery): Promise<{ status: number; body: string }> {
  return d.account ? deliverStripe(`${baseUrl}/webhooks/stripe/connect`, d, STRIPE_CONNECT_SECRET) : deliverStripe(`${baseUrl}/webhooks/stripe`, d, STRIPE_PLATFORM_SECRET);
}

/** POSTs one delivery to a webhook endpoint, signed now with `secret`. */
export async function deliverStripe(url: string, d: StripeDelivery, secret: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sign(d.body, secret) }, body: d.body });
  return { status: r.status, body: await r.text() };
}
