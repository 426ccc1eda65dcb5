/**
 * Bookings as a customer's app drives them, through the public API only: a departure, a booking
 * on it, its payment and refunds as Stripe reports them (signed platform webhooks built by
 * stripeWorld), and the reads a user makes. Nothing here imports product code.
 */
import { deliver, eventsFor } from './stripeWorld';
import { idOfLength, type Tenant } from './tenant';
import { startSettle, type Settle } from './service';
import { startCrmSimulator, type CrmSimulator } from '../../simulators/crm';
import type { ChargeFact, MoneyFact } from '../model/invoices';
import { BOOKING_CRM_MAX_ATTEMPTS } from '../model/histories';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
export type Money = { amount: number; currency: string };

/** A departure with a 100-character id (the API's maximum). */
export async function newDeparture(tenant: Tenant, tag: string, capacity: number): Promise<string> {
  const departureId = idOfLength(`D${tag}`);
  const r = await tenant.api.post('/v1/departures', { departureId, name: `Departure ${tag}`, paymentScheduleId: `sched-${tag}`, capacity });
  if (r.status !== 201) throw new Error(`create departure: ${r.status} ${JSON.stringify(r.body)}`);
  return departureId;
}

/** A booking request on a departure; returns its id and the status the API answered (requested / waitlisted). */
export async function newBooking(tenant: Tenant, departureId: string, price: Money, who = 'Ada'): Promise<{ bookingId: string; status: string }> {
  const r = await tenant.api.post<any>('/v1/bookings', {
    departureId,
    contact: { firstName: who, lastName: 'Lovelace', email: `${who.toLowerCase()}@example.com`, phone: '+44 20 7946 0000' },
    guests: [{ firstName: who, lastName: 'Lovelace' }],
    price,
  });
  if (r.status !== 201) throw new Error(`create booking: ${r.status} ${JSON.stringify(r.body)}`);
  return { bookingId: r.body.bookingId as string, status: r.body.status as string };
}

/** Stripe's facts about one booking, delivered as the signed platform webhooks Stripe sends. */
export class BookingMoney {
  readonly facts: MoneyFact[] = [];
  constructor(
    private readonly settle: Settle,
    private readonly tenant: Tenant,
    readonly bookingId: string,
  ) {}

  private async send(fact: MoneyFact): Promise<void> {
    this.facts.push(fact);
    const ctx = { targetOf: () => ({ metadata: { tenant_id: this.tenant.id, booking_id: this.bookingId }, account: null }) };
    for (const d of eventsFor(fact, this.facts, ctx)) {
      const r = await deliver(this.settle.url, d);
      if (r.status !== 200) throw new Error(`webhook ${d.type}: ${r.status} ${r.body}`);
    }
  }

  /** A succeeded PaymentIntent with its charge; returns the charge fact. */
  async pay(price: Money, tag: string): Promise<ChargeFact> {
    const now = Math.floor(Date.now() / 1000);
    const charge: ChargeFact = { kind: 'charge', invoiceKey: 'booking', pi: `pi_${tag}`, ch: `ch_${tag}`, amount: price.amount, currency: price.currency, created: now, outcome: 'succeeded' };
    await this.send(charge);
    return charge;
  }

  async refund(charge: ChargeFact, amount: number, tag: string): Promise<void> {
    await this.send({ kind: 'refund', ch: charge.ch, re: `re_${tag}`, amount, created: Math.floor(Date.now() / 1000) });
  }

  async dispute(charge: ChargeFact, outcome: 'open' | 'won' | 'lost', tag: string): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    await this.send({ kind: 'dispute', ch: charge.ch, dp: `dp_${tag}`, amount: charge.amount, created: now, outcome, closed: outcome === 'open' ? null : now + 1 });
  }
}

/** GET /v1/bookings/{id}, failing with the answer when it is not 200. */
export async function readBooking(tenant: Tenant, bookingId: string): Promise<any> {
  const r = await tenant.api.get<any>(`/v1/bookings/${bookingId}`);
  if (r.status !== 200) throw new Error(`read booking: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Today's finance totals for one currency (zeros when none). */
export async function financeTotals(tenant: Tenant, currency: string): Promise<any> {
  const day = new Date().toISOString().slice(0, 10);
  const r = await tenant.api.get<any>(`/v1/reports/finance?from=${day}&to=${day}`);
  if (r.status !== 200) throw new Error(`finance: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body.totals as any[]).find((t) => t.currency === currency) ?? { currency, grossCollected: 0, refunds: 0, disputed: 0, disputeLosses: 0, net: 0 };
}

/** The payment rows of one booking (GET /v1/payments). */
export async function bookingPayments(tenant: Tenant, bookingId: string): Promise<any[]> {
  const r = await tenant.api.get<any>(`/v1/payments?limit=100&payable_id=${encodeURIComponent(bookingId)}`);
  if (r.status !== 200) throw new Error(`payments: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data as any[];
}

/** A departure of one seat (100-character id), a booking on it (Ada) and a second one (Grace) that the API answers as waitlisted: the two statuses are the caller's to check. */
export async function waitlistedBooking(tenant: Tenant, tag: string, price: Money): Promise<{ departureId: string; first: { bookingId: string; status: string }; waiting: { bookingId: string; status: string } }> {
  const departureId = await newDeparture(tenant, tag, 1);
  const first = await newBooking(tenant, departureId, price, 'Ada');
  const waiting = await newBooking(tenant, departureId, price, 'Grace');
  return { departureId, first, waiting };
}

/** A booking on a departure of its own (10 seats), paid in full as Stripe reports it; `beforePaying` sees its id first (to arm a simulator). */
export async function paidBooking(settle: Settle, tenant: Tenant, price: Money, tag: string, beforePaying: (bookingId: string) => void = () => undefined): Promise<string> {
  const departureId = await newDeparture(tenant, tag, 10);
  const { bookingId } = await newBooking(tenant, departureId, price);
  beforePaying(bookingId);
  await new BookingMoney(settle, tenant, bookingId).pay(price, tag);
  return bookingId;
}

/** The service settings of the CRM scenarios: the CRM simulator, and one retry interval for the CRM saga and the message consumers. */
export function crmEnv(crm: { url: string; apiKey: string }, retryMs: number, opts: { timeoutMs: number; maxAttempts: number }): Record<string, string> {
  return {
    CRM_BASE_URL: crm.url,
    CRM_API_KEY: crm.apiKey,
    CRM_TIMEOUT_MS: String(opts.timeoutMs),
    CRM_MAX_ATTEMPTS: String(opts.maxAttempts),
    CRM_RETRY_BASE_MS: String(retryMs),
    CRM_RETRY_MAX_MS: String(retryMs),
    MESSAGE_RETRY_BASE_MS: String(retryMs),
    MESSAGE_RETRY_MAX_MS: String(retryMs),
  };
}

/** What a booking CRM scenario runs against; read in tests (it is set in `beforeAll`). */
export interface BookingScenario {
  readonly settle: Settle;
  readonly crm: CrmSimulator;
}

/**
 * The set-up the booking property and its named scenarios share, registered as their `beforeAll` /
 * `afterAll`: the CRM simulator, the built service (default PostgreSQL with in-process messaging)
 * using it (`crmEnv`: 100 ms retries, 1 s timeout, `BOOKING_CRM_MAX_ATTEMPTS`); afterwards the
 * service, then the simulator, are stopped.
 */
export function bookingScenario(options: { storage?: 'postgres' | 'embedded'; messaging?: 'in-process' | 'kafka'; setUpTimeoutMs?: number } = {}): BookingScenario {
  let settle: Settle | undefined;
  let crm: CrmSimulator | undefined;
  beforeAll(async () => {
    crm = await startCrmSimulator();
    settle = await startSettle({ storage: options.storage ?? 'postgres', messaging: options.messaging ?? 'in-process', env: crmEnv(crm, 100, { timeoutMs: 1000, maxAttempts: BOOKING_CRM_MAX_ATTEMPTS }) });
  }, options.setUpTimeoutMs ?? 90_000);
  afterAll(async () => {
    await settle?.stop();
    await crm?.close();
  });
  const set = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`bookingScenario: no ${what} before beforeAll ran`);
    return v;
  };
  return {
    get settle() {
      return set(settle, 'service');
    },
    get crm() {
      return set(crm, 'CRM simulator');
    },
  };
}
