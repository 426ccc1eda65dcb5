/**
 * A local trip-booking CRM (Peak15-style) for tests: Express 5, in process, 127.0.0.1 on a free
 * port. It implements exactly the API the CRM client speaks (infrastructure/crm/crmClient.ts):
 *
 *   POST /contact-bookings               create a contact booking; deduplicated on
 *                                        `external_reference` (a second create answers 200 with
 *                                        the SAME ids, and creates nothing)
 *   POST /contact-bookings/{id}/payments associate a payment; idempotent on `payment_id`
 *
 * Strict where Settle depends on it: `Authorization: Bearer <apiKey>` (401), JSON only (415,
 * 400 for malformed JSON), every required field checked and unknown fields refused (400 with
 * `errors: [{ field, message }]`), amounts as decimal strings with exactly the currency's
 * decimals ("10.50" EUR, "500" JPY; numbers are refused), exactly one client guest (the first),
 * 404 for an unknown booking, 409 when a payment id is reused with another amount or booking.
 *
 * Behaviour for tests, settable at any time: `latencyMs`, `errorRate` (seeded RNG: the same seed
 * fails the same requests), `down` (every request 503), `hang` (never answer), `failNext`.
 * Latency is realistic: a client that gives up while the CRM is slow does not stop the CRM from
 * acting (the booking is created anyway), which is the case deduplication exists for.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { currencyExponent, isCurrency, type Money } from '../../../domain/shared/money';
import { rng } from '../../support/random';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
type Obj = Record<string, any>;

export type CrmSimOperation = 'createContactBooking' | 'associatePayment';

/** What a request ended as. `hung`: never answered (hang, or the simulator closed meanwhile). */
export type CrmSimOutcome =
  | 'created'
  | 'duplicate'
  | 'associated'
  | 'already_associated'
  | 'unauthorized'
  | 'invalid'
  | 'not_found'
  | 'conflict'
  | 'down'
  | 'injected'
  | 'random_error'
  | 'hung'
  | 'pending';

export interface CrmSimRequest {
  readonly method: string;
  readonly path: string;
  readonly operation: CrmSimOperation | null;
  /** Lower-cased header names, as Node gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawBody: string;
  /** The parsed JSON body, or null when it was not JSON. */
  readonly body: any;
  readonly at: Date;
  /** Null until answered (and forever for a request that hung). */
  status: number | null;
  outcome: CrmSimOutcome;
}

export interface CrmSimGuest {
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string | null;
  readonly isClient: boolean;
}

export interface CrmSimPayment {
  readonly id: string;
  readonly bookingId: string;
  readonly paymentId: string;
  readonly externalReference: string;
  readonly amount: Money;
  readonly createdAt: Date;
}

export interface CrmSimBooking {
  readonly id: string;
  readonly externalReference: string;
  readonly ids: Readonly<Record<string, string>>;
  readonly contact: { readonly firstName: string; readonly lastName: string; readonly email: string; readonly phone: string };
  readonly departureId: string;
  readonly paymentScheduleId: string;
  readonly waitlisted: boolean;
  readonly guests: readonly CrmSimGuest[];
  readonly amount: Money;
  /** The create request's body as received. */
  readonly payload: Obj;
  readonly createdAt: Date;
  readonly payments: readonly CrmSimPayment[];
}

/** A failure to inject: answer this HTTP status (with a JSON error body), or never answer. */
export type CrmSimFailure = number | 'hang';

export interface FailNextOptions {
  /** Only requests of this operation count (default: every request). */
  readonly operation?: CrmSimOperation;
  /**
   * `before` (default): the request fails without effect. `after`: the request takes effect
   * (the booking is created, the payment associated) and only then is the answer replaced: the
   * "the CRM did it but the answer was lost" case.
   */
  readonly when?: 'before' | 'after';
  /** Only requests whose body names this `external_reference` count (one booking's sync, whatever else is in flight). */
  readonly externalReference?: string;
}

export interface CrmSimBehaviour {
  /** Delay before every answer (and before acting). */
  latencyMs: number;
  /** Share of requests answered `errorStatus` without effect, 0..1, drawn from the seeded RNG. */
  errorRate: number;
  /** Status of `errorRate` failures (default 500). */
  errorStatus: number;
  /** Every request answers 503 at once. */
  down: boolean;
  /** No request is ever answered (clients time out). */
  hang: boolean;
}

export interface CrmSimulatorOptions extends Partial<CrmSimBehaviour> {
  /** The bearer token the simulator accepts (default: a random one). */
  readonly apiKey?: string;
  /** Seed of the RNG behind `errorRate` (default 1). */
  readonly seed?: number;
  /** Port on 127.0.0.1 (default: a free one); the demo uses the fixed port of the service's CRM_BASE_URL. */
  readonly port?: number;
}

export interface CrmSimulator extends CrmSimBehaviour {
  readonly url: string;
  readonly apiKey: string;
  /** Contact bookings actually created (duplicates not counted). */
  readonly createCount: number;
  /** Creates answered 200 with an existing booking (duplicate detection). */
  readonly duplicateCount: number;
  /** Payment associations actually made (idempotent repeats not counted). */
  readonly associateCount: number;
  /** Set several behaviours at once. */
  configure(behaviour: Partial<CrmSimBehaviour>): void;
  /** Restart the `errorRate` RNG (the same seed fails the same requests again). */
  reseed(seed: number): void;
  /** The next `count` requests (matching `opts.operation`) fail as given. */
  failNext(count: number, failure: CrmSimFailure, opts?: FailNextOptions): void;
  /** Every request received, oldest first (optionally only one operation's). */
  requests(operation?: CrmSimOperation): CrmSimRequest[];
  clearRequests(): void;
  bookings(): CrmSimBooking[];
  /** By CRM id or by external reference. */
  booking(idOrExternalReference: string): CrmSimBooking | undefined;
  payments(): CrmSimPayment[];
  /** Forget bookings, payments, requests, counters, pending failures; behaviour back to the start options. */
  reset(): void;
  /** Stops the server, dropping hung and delayed requests. */
  close(): Promise<void>;
}

interface FieldError {
  readonly field: string;
  readonly message: string;
}

const CREATE_FIELDS = new Set([
  'external_reference',
  'contact.firstname',
  'contact.lastname',
  'contact.emailaddress1',
  'contact.primaryphone',
  'p15_bookings.p15_tripdepartures_bookingsid',
  'p15_bookings.p15_waitlisted',
  'p15_guests',
  'p15_invoices.p15_paymentscheduleid',
  'amount',
  'currency',
  'returnallids',
]);
const GUEST_FIELDS = new Set(['contact.firstname', 'contact.lastname', 'contact.emailaddress1', 'isClient']);
const PAYMENT_FIELDS = new Set(['external_reference', 'payment_id', 'amount', 'currency']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Checker {
  readonly errors: FieldError[] = [];
  constructor(private readonly body: Obj) {}

  fail(field: string, message: string): void {
    this.errors.push({ field, message });
  }

  unknown(allowed: ReadonlySet<string>, obj: Obj = this.body, prefix = ''): void {
    for (const k of Object.keys(obj)) if (!allowed.has(k)) this.fail(`${prefix}${k}`, 'is not a known field');
  }

  string(field: string, opts: { optional?: boolean; email?: boolean; max?: number } = {}, obj: Obj = this.body, prefix = ''): string | undefined {
    const v = obj[field];
    const name = `${prefix}${field}`;
    if (v === undefined || v === null) {
      if (!opts.optional) this.fail(name, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') { this.fail(name, 'must be a string'); return; }
    if (v.trim() === '') { this.fail(name, 'must not be empty'); return; }
    if (v.length > (opts.max ?? 200)) { this.fail(name, `must be at most ${opts.max ?? 200} characters`); return; }
    if (opts.email && !EMAIL.test(v)) { this.fail(name, 'must be an email address'); return; }
    return v;
  }

  boolean(field: string, opts: { optional?: boolean } = {}, obj: Obj = this.body, prefix = ''): boolean | undefined {
    const v = obj[field];
    const name = `${prefix}${field}`;
    if (v === undefined) {
      if (!opts.optional) this.fail(name, 'is required');
      return undefined;
    }
    if (typeof v !== 'boolean') { this.fail(name, 'must be true or false'); return; }
    return v;
  }

  /** `amount` as a decimal string with exactly the currency's decimals, `currency` ISO 4217. */
  money(): Money | undefined {
    const currency = this.string('currency', { max: 3 });
    if (currency !== undefined && !isCurrency(currency)) this.fail('currency', 'must be an ISO 4217 currency code');
    const raw = this.body.amount;
    if (raw === undefined || raw === null) { this.fail('amount', 'is required'); return; }
    if (typeof raw !== 'string') { this.fail('amount', 'must be a decimal string such as "10.50" (numbers are not accepted)'); return; }
    if (currency === undefined || !isCurrency(currency)) return undefined;
    const exp = currencyExponent(currency);
    const pattern = exp === 0 ? /^(0|[1-9]\d{0,15})$/ : new RegExp(`^(0|[1-9]\\d{0,15})\\.(\\d{${exp}})$`);
    const m = pattern.exec(raw);
    if (!m) { this.fail('amount', exp === 0 ? `must be a whole number of ${currency} (no decimals)` : `must have exactly ${exp} decimals for ${currency}`); return; }
    return { amount: Number(`${m[1]}${m[2] ?? ''}`), currency };
  }
}

function operationOf(method: string, path: string): CrmSimOperation | null {
  if (method !== 'POST') return null;
  if (path === '/contact-bookings') return 'createContactBooking';
  if (/^\/contact-bookings\/[^/]+\/payments$/.test(path)) return 'associatePayment';
  return null;
}

export async function startCrmSimulator(opts: CrmSimulatorOptions = {}): Promise<CrmSimulator> {
  const apiKey = opts.apiKey ?? `crm_test_${randomUUID().replace(/-/g, '')}`;
  const initial: CrmSimBehaviour = {
    latencyMs: opts.latencyMs ?? 0,
    errorRate: opts.errorRate ?? 0,
    errorStatus: opts.errorStatus ?? 500,
    down: opts.down ?? false,
    hang: opts.hang ?? false,
  };
  const initialSeed = opts.seed ?? 1;
  let behaviour: CrmSimBehaviour = { ...initial };
  let random = rng(initialSeed);
  let log: CrmSimRequest[] = [];
  let bookings = new Map<string, CrmSimBooking & { payments: CrmSimPayment[] }>();
  let byReference = new Map<string, string>();
  let paymentsById = new Map<string, CrmSimPayment>();
  let counters = { created: 0, duplicates: 0, associated: 0 };
  let failures: Array<{ remaining: number; failure: CrmSimFailure; operation?: CrmSimOperation; externalReference?: string; when: 'before' | 'after' }> = [];
  const hung = new Set<Response>();
  const delays = new Set<NodeJS.Timeout>();
  let closed = false;

  const checkBehaviour = (b: Partial<CrmSimBehaviour>): void => {
    if (b.latencyMs !== undefined && !(Number.isFinite(b.latencyMs) && b.latencyMs >= 0)) throw new RangeError('latencyMs must be >= 0');
    if (b.errorRate !== undefined && !(b.errorRate >= 0 && b.errorRate <= 1)) throw new RangeError('errorRate must be within 0..1');
    if (b.errorStatus !== undefined && !(Number.isInteger(b.errorStatus) && b.errorStatus >= 400 && b.errorStatus <= 599)) throw new RangeError('errorStatus must be an HTTP error status');
  };
  checkBehaviour(initial);

  const sleep = (ms: number) =>
    new Promise<boolean>((resolve) => {
      if (ms <= 0) { resolve(true); return; }
      const t = setTimeout(() => {
        delays.delete(t);
        resolve(!closed);
      }, ms);
      delays.add(t);
    });

  /** Take the next pending failure for this request, if any. */
  const takeFailure = (operation: CrmSimOperation | null, when: 'before' | 'after', externalReference: unknown): CrmSimFailure | null => {
    const f = failures.find((x) => x.when === when && (x.operation === undefined || x.operation === operation) && (x.externalReference === undefined || x.externalReference === externalReference));
    if (!f) return null;
    f.remaining -= 1;
    if (f.remaining <= 0) failures = failures.filter((x) => x !== f);
    return f.failure;
  };

  const send = (res: Response, entry: CrmSimRequest, status: number, body: unknown, outcome: CrmSimOutcome): void => {
    entry.status = status;
    entry.outcome = outcome;
    res.status(status).json(body);
  };

  const never = (res: Response, entry: CrmSimRequest): void => {
    entry.outcome = 'hung';
    hung.add(res);
    res.on('close', () => hung.delete(res));
  };

  const fail = (res: Response, entry: CrmSimRequest, failure: CrmSimFailure, outcome: CrmSimOutcome): void => {
    if (failure === 'hang') { never(res, entry); return; }
    send(res, entry, failure, { error: failure >= 500 ? 'unavailable' : 'injected_failure', message: `simulated failure (HTTP ${failure})` }, outcome);
  };

  const invalid = (res: Response, entry: CrmSimRequest, errors: FieldError[]) =>
    send(res, entry, 400, { error: 'validation_failed', message: `${errors.length} invalid field(s): ${errors.map((e) => e.field).join(', ')}`, errors }, 'invalid');

  // ------------------------------------------------------------------ operations

  type Answer = { status: number; body: unknown; outcome: CrmSimOutcome };

  const createContactBooking = (body: Obj): Answer | FieldError[] => {
    const c = new Checker(body);
    c.unknown(CREATE_FIELDS);
    const externalReference = c.string('external_reference', { max: 100 });
    const firstName = c.string('contact.firstname');
    const lastName = c.string('contact.lastname');
    const email = c.string('contact.emailaddress1', { email: true });
    const phone = c.string('contact.primaryphone', { max: 50 });
    const departureId = c.string('p15_bookings.p15_tripdepartures_bookingsid');
    const waitlisted = c.boolean('p15_bookings.p15_waitlisted', { optional: true }) ?? false;
    const paymentScheduleId = c.string('p15_invoices.p15_paymentscheduleid');
    const returnAllIds = c.boolean('returnallids', { optional: true }) ?? false;
    const amount = c.money();
    const guests: CrmSimGuest[] = [];
    const rawGuests = body.p15_guests;
    if (rawGuests === undefined) c.fail('p15_guests', 'is required');
    else if (!Array.isArray(rawGuests)) c.fail('p15_guests', 'must be a list');
    else if (rawGuests.length === 0) c.fail('p15_guests', 'must hold at least one guest (the first is the client)');
    else
      rawGuests.forEach((g: unknown, i: number) => {
        const prefix = `p15_guests[${i}].`;
        if (!isObj(g)) { c.fail(`p15_guests[${i}]`, 'must be an object'); return; }
        c.unknown(GUEST_FIELDS, g, prefix);
        const gf = c.string('contact.firstname', {}, g, prefix);
        const gl = c.string('contact.lastname', {}, g, prefix);
        const ge = c.string('contact.emailaddress1', { optional: true, email: true }, g, prefix);
        const client = c.boolean('isClient', {}, g, prefix);
        if (client !== undefined && client !== (i === 0)) c.fail(`${prefix}isClient`, i === 0 ? 'the first guest must be the client' : 'only the first guest is the client');
        if (gf !== undefined && gl !== undefined && client !== undefined) guests.push({ firstName: gf, lastName: gl, email: ge ?? null, isClient: client });
      });
    if (c.errors.length > 0) return c.errors;

    const render = (b: CrmSimBooking) => ({ id: b.id, external_reference: b.externalReference, ...(returnAllIds ? { ids: b.ids } : {}) });
    const existing = byReference.get(externalReference!);
    if (existing) {
      counters.duplicates += 1;
      return { status: 200, body: render(bookings.get(existing)!), outcome: 'duplicate' };
    }
    const id = randomUUID();
    const ids: Record<string, string> = { contactid: randomUUID(), p15_bookingsid: id, p15_invoicesid: randomUUID() };
    guests.forEach((_, i) => {
      ids[`p15_guests.${i + 1}.contactid`] = i === 0 ? ids.contactid! : randomUUID();
      ids[`p15_guests.${i + 1}.p15_guestsid`] = randomUUID();
    });
    const booking = {
      id,
      externalReference: externalReference!,
      ids,
      contact: { firstName: firstName!, lastName: lastName!, email: email!, phone: phone! },
      departureId: departureId!,
      paymentScheduleId: paymentScheduleId!,
      waitlisted,
      guests,
      amount: amount!,
      payload: body,
      createdAt: new Date(),
      payments: [] as CrmSimPayment[],
    };
    bookings.set(id, booking);
    byReference.set(booking.externalReference, id);
    counters.created += 1;
    return { status: 201, body: render(booking), outcome: 'created' };
  };

  const associatePayment = (bookingId: string, body: Obj): Answer | FieldError[] => {
    const booking = bookings.get(bookingId);
    if (!booking) return { status: 404, body: { error: 'not_found', message: `no contact booking ${bookingId}` }, outcome: 'not_found' };
    const c = new Checker(body);
    c.unknown(PAYMENT_FIELDS);
    const externalReference = c.string('external_reference', { max: 100 });
    const paymentId = c.string('payment_id');
    const amount = c.money();
    if (amount && amount.currency !== booking.amount.currency) c.fail('currency', `must be the booking's currency (${booking.amount.currency})`);
    if (c.errors.length > 0) return c.errors;
    if (externalReference !== booking.externalReference) {
      return { status: 409, body: { error: 'external_reference_mismatch', message: `contact booking ${bookingId} belongs to ${booking.externalReference}, not ${externalReference}` }, outcome: 'conflict' };
    }
    const render = (p: CrmSimPayment) => ({ id: p.id, booking_id: p.bookingId, payment_id: p.paymentId, external_reference: p.externalReference });
    const existing = paymentsById.get(paymentId!);
    if (existing) {
      if (existing.bookingId !== bookingId) return { status: 409, body: { error: 'payment_id_reused', message: `payment ${paymentId} is associated with another contact booking` }, outcome: 'conflict' };
      if (existing.amount.amount !== amount!.amount) return { status: 409, body: { error: 'payment_id_reused', message: `payment ${paymentId} was associated with another amount` }, outcome: 'conflict' };
      return { status: 200, body: render(existing), outcome: 'already_associated' };
    }
    const payment: CrmSimPayment = { id: randomUUID(), bookingId, paymentId: paymentId!, externalReference: externalReference, amount: amount!, createdAt: new Date() };
    paymentsById.set(payment.paymentId, payment);
    booking.payments.push(payment);
    counters.associated += 1;
    return { status: 201, body: render(payment), outcome: 'associated' };
  };

  // ------------------------------------------------------------------ HTTP

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(express.text({ type: () => true, limit: '1mb', defaultCharset: 'utf-8' }));

  app.use(async (req: Request, res: Response, _next: NextFunction) => {
    const rawBody = typeof req.body === 'string' ? req.body : '';
    let body: any = null;
    try {
      body = rawBody ? JSON.parse(rawBody) : null;
    } catch {
      body = null;
    }
    const operation = operationOf(req.method, req.path);
    const entry: CrmSimRequest = { method: req.method, path: req.path, operation, headers: { ...req.headers }, rawBody, body, at: new Date(), status: null, outcome: 'pending' };
    log.push(entry);
    // One draw per request, whatever else happens: request n fails for a seed iff draw n < errorRate.
    const draw = random();

    if (behaviour.down) { send(res, entry, 503, { error: 'unavailable', message: 'the CRM is down for maintenance' }, 'down'); return; }
    const before = takeFailure(operation, 'before', body?.external_reference);
    if (before !== null) { fail(res, entry, before, 'injected'); return; }
    if (behaviour.hang) { never(res, entry); return; }
    if (!(await sleep(behaviour.latencyMs))) { never(res, entry); return; }
    if (draw < behaviour.errorRate) { send(res, entry, behaviour.errorStatus, { error: 'internal_error', message: 'simulated random failure' }, 'random_error'); return; }

    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="crm"');
      send(res, entry, 401, { error: 'unauthorized', message: req.headers.authorization ? 'invalid API key' : 'missing bearer API key' }, 'unauthorized'); return;
    }
    if (!operation) { send(res, entry, 404, { error: 'not_found', message: `no route ${req.method} ${req.path}` }, 'not_found'); return; }
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) { send(res, entry, 415, { error: 'unsupported_media_type', message: 'send application/json' }, 'invalid'); return; }
    if (!isObj(body)) { send(res, entry, 400, { error: 'invalid_json', message: 'the body must be a JSON object' }, 'invalid'); return; }

    const answer = operation === 'createContactBooking' ? createContactBooking(body) : associatePayment(decodeURIComponent(req.path.split('/')[2]!), body);
    if (Array.isArray(answer)) { invalid(res, entry, answer); return; }
    const after = takeFailure(operation, 'after', body?.external_reference);
    if (after !== null) { fail(res, entry, after, 'injected'); return; }
    send(res, entry, answer.status, answer.body, answer.outcome);
  });

  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ error: err.type ?? 'internal_error', message: err.message });
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;

  const sim: CrmSimulator = {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    get latencyMs() {
      return behaviour.latencyMs;
    },
    set latencyMs(v) {
      sim.configure({ latencyMs: v });
    },
    get errorRate() {
      return behaviour.errorRate;
    },
    set errorRate(v) {
      sim.configure({ errorRate: v });
    },
    get errorStatus() {
      return behaviour.errorStatus;
    },
    set errorStatus(v) {
      sim.configure({ errorStatus: v });
    },
    get down() {
      return behaviour.down;
    },
    set down(v) {
      sim.configure({ down: v });
    },
    get hang() {
      return behaviour.hang;
    },
    set hang(v) {
      sim.configure({ hang: v });
    },
    get createCount() {
      return counters.created;
    },
    get duplicateCount() {
      return counters.duplicates;
    },
    get associateCount() {
      return counters.associated;
    },
    configure(b) {
      checkBehaviour(b);
      behaviour = { ...behaviour, ...Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) };
    },
    reseed(seed) {
      random = rng(seed);
    },
    failNext(count, failure, o = {}) {
      if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
      if (failure !== 'hang' && !(Number.isInteger(failure) && failure >= 400 && failure <= 599)) throw new RangeError('failure must be an HTTP error status or "hang"');
      failures.push({ remaining: count, failure, operation: o.operation, externalReference: o.externalReference, when: o.when ?? 'before' });
    },
    requests(operation) {
      return operation ? log.filter((r) => r.operation === operation) : [...log];
    },
    clearRequests() {
      log = [];
    },
    bookings() {
      return [...bookings.values()].map((b) => ({ ...b, payments: [...b.payments] }));
    },
    booking(key) {
      const b = bookings.get(key) ?? bookings.get(byReference.get(key) ?? '');
      return b ? { ...b, payments: [...b.payments] } : undefined;
    },
    payments() {
      return [...paymentsById.values()];
    },
    reset() {
      behaviour = { ...initial };
      random = rng(initialSeed);
      log = [];
      bookings = new Map();
      byReference = new Map();
      paymentsById = new Map();
      counters = { created: 0, duplicates: 0, associated: 0 };
      failures = [];
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of delays) clearTimeout(t);
      delays.clear();
      for (const res of hung) res.socket?.destroy();
      hung.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return sim;
}
