/**
 * The newcomer demo: drives a running Settle through its public HTTP API and webhook endpoints
 * only, and leaves something worth looking at in the console.
 *
 *   1. a tenant (admin API) with its own API key, a departure, three bookings and an invoice;
 *   2. signed Stripe webhooks built from Stripe's example objects: one booking paid, one declined
 *      (card_declined / insufficient_funds);
 *   3. the CRM simulator (test/simulators/crm) on the service's CRM_BASE_URL: the first booking
 *      syncs at once; for the third, the CRM creates the booking but its answer fails (503), so the
 *      saga retries and the CRM finds it by external reference: "a booking that needed a CRM retry";
 *   4. the invoice paid through PayPal: a PayPal order started through the API, approved at the
 *      PayPal simulator (test/simulators/paypal) on the service's PAYPAL_API_BASE, then PayPal's
 *      CHECKOUT.ORDER.APPROVED and PAYMENT.CAPTURE.COMPLETED webhooks, signed by the simulator and
 *      verified by the service through its real path (cert fetched from that trusted loopback
 *      host); the service reads the order and capture back from the simulator's API before it
 *      records the payment (a webhook body alone never records money);
 *   5. waits for the read models (query API, `min_position`, then polling for what the saga does
 *      later) and returns the ids.
 *
 * Secrets come from the service's dev defaults file (DATA_DIR/dev-defaults.json) with the same
 * rule as the service: an environment variable wins over the file. Every run makes a new tenant,
 * so running it twice leaves two independent sets.
 */
import { randomBytes } from 'node:crypto';
import { DEV_PAYPAL_API_BASE, DEV_PAYPAL_SIMULATOR_CREDENTIALS, devDefaultsPath, mergeDevDefaults, readDevDefaults } from '../infrastructure/config/devDefaults';
import { startCrmSimulator, type CrmSimulator } from '../test/simulators/crm';
import { startPayPalSimulator, type PayPalSimulator } from '../test/simulators/paypal';
import { deliver, stripeEvent, type StripeEvent } from '../test/support/stripeEvents';
import { isJsonObject, jsonAt, jsonText, type JsonObject } from '../domain/shared/json';

/** A failure the person running the demo can act on; the message says what to do. */
export class DemoError extends Error {
  override readonly name = 'DemoError';
}

export interface DemoSettings {
  readonly baseUrl: string;
  /** The dev defaults file the secrets came from, or null when the environment gave them all. */
  readonly devDefaultsFile: string | null;
  readonly adminKey: string;
  /** Where the admin key came from, for error messages. */
  readonly adminKeyFrom: string;
  readonly stripeWebhookSecret: string;
  readonly paypalWebhookId: string;
  readonly paypalApiBase: string;
  /** The simulator's API credentials (the service reads PayPal payments back with them). */
  readonly paypalClientId: string;
  readonly paypalClientSecret: string;
  readonly crmBaseUrl: string;
  readonly crmApiKey: string;
  /** How long to wait for each read-model outcome. */
  readonly waitMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Settings from the environment and the service's dev defaults file (environment wins). */
export function demoSettings(env: Env): DemoSettings {
  const baseUrl = (env.SETTLE_URL || 'http://localhost:3000').replace(/\/+$/, '');
  const file = devDefaultsPath(env);
  const values = readDevDefaults(file);
  const merged = values ? mergeDevDefaults(env, values).env : { ...env };
  const need = ['ADMIN_API_KEY', 'STRIPE_WEBHOOK_SECRET', 'PAYPAL_WEBHOOK_ID', 'CRM_BASE_URL', 'CRM_API_KEY'] as const;
  const missing = need.filter((n) => !merged[n]);
  if (missing.length > 0) {
    throw new DemoError(
      values
        ? `missing ${missing.join(', ')} (the environment overrides ${file} but does not give them all)`
        : `no dev defaults at ${file}, so the service is not in embedded dev mode (or uses another DATA_DIR).\n` +
          `  Start it from this directory with \`npm start\` (DATABASE_URL unset, NODE_ENV not production, HOST unset or loopback, SETTLE_DEV_DEFAULTS not off),\n` +
          `  or set DATA_DIR to the service's, or give the demo ${missing.join(', ')} exactly as the service has them.`,
    );
  }
  const given = (n: (typeof need)[number]): string => {
    const v = merged[n];
    if (!v) throw new DemoError(`missing ${n}`); // the check above has named every missing one already
    return v;
  };
  const waitSeconds = Number(env.DEMO_WAIT_SECONDS ?? 60);
  return {
    baseUrl,
    devDefaultsFile: values ? file : null,
    adminKey: given('ADMIN_API_KEY'),
    adminKeyFrom: env.ADMIN_API_KEY ? 'ADMIN_API_KEY in the environment' : file,
    stripeWebhookSecret: given('STRIPE_WEBHOOK_SECRET'),
    paypalWebhookId: given('PAYPAL_WEBHOOK_ID'),
    paypalApiBase: merged.PAYPAL_API_BASE || DEV_PAYPAL_API_BASE,
    paypalClientId: merged.PAYPAL_CLIENT_ID || DEV_PAYPAL_SIMULATOR_CREDENTIALS.clientId,
    paypalClientSecret: merged.PAYPAL_CLIENT_SECRET || DEV_PAYPAL_SIMULATOR_CREDENTIALS.clientSecret,
    crmBaseUrl: given('CRM_BASE_URL'),
    crmApiKey: given('CRM_API_KEY'),
    waitMs: Number.isFinite(waitSeconds) && waitSeconds > 0 ? waitSeconds * 1000 : 60_000,
  };
}

export interface DemoSummary {
  readonly runId: string;
  readonly consoleUrl: string;
  readonly tenantId: string;
  /** The demo tenant's API key (a local, throwaway tenant): sign in to the console with it. */
  readonly tenantApiKey: string;
  readonly devDefaultsFile: string | null;
  readonly departureId: string;
  readonly succeeded: { bookingId: string; providerPaymentId: string; crmBookingId: string };
  readonly declined: { bookingId: string; providerPaymentId: string; errorCode: string; declineCode: string };
  readonly crmRetried: { bookingId: string; providerPaymentId: string; crmBookingId: string; failedAttempts: number; lastError: string };
  readonly paypal: { invoiceId: string; orderId: string; captureId: string };
}

/** A JSON answer of the service or a simulator: read through jsonAt, never trusted. */
type Json = JsonObject;

interface Reply {
  status: number;
  /** The parsed JSON answer: whatever the peer sent (not always an object). */
  body: unknown;
}

function loopbackPort(url: string, variable: string): number {
  const u = new URL(url);
  // the simulators listen on 127.0.0.1 and name themselves so (the PayPal cert URL must be on the trusted host)
  if (u.protocol !== 'http:' || u.hostname !== '127.0.0.1' || !u.port) {
    throw new DemoError(`${variable}=${url} is not a local http://127.0.0.1:<port> address: the demo runs that simulator itself, so the service must point at a local port`);
  }
  return Number(u.port);
}

function problemText(r: Reply): string {
  if (!isJsonObject(r.body)) return `${r.status} ${String(r.body)}`;
  const title = jsonAt(r.body, 'title');
  const detail = jsonAt(r.body, 'detail');
  return `${r.status} ${title == null ? '' : jsonText(title)}: ${detail == null ? JSON.stringify(r.body) : jsonText(detail)}`;
}

async function listening<T>(what: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new DemoError(`port ${port} (the ${what} simulator's) is in use: is another demo still running?`);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DemoError(`the ${what} simulator needs the openssl command-line tool (to make its webhook signing cert); install openssl`);
    throw err;
  }
}

export async function runDemo(s: DemoSettings, say: (line: string) => void = () => undefined): Promise<DemoSummary> {
  const base = s.baseUrl;
  try {
    const health = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) });
    if (health.status !== 200) throw new DemoError(`${base}/healthz answered ${health.status}: is that Settle?`);
  } catch (err) {
    if (err instanceof DemoError) throw err;
    const code = ((err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message) || 'no answer';
    throw new DemoError(`Settle is not answering at ${base} (${code}).\n  Start it in another terminal with \`npm start\` (or set SETTLE_URL to where it runs).`);
  }

  const crmPort = loopbackPort(s.crmBaseUrl, 'CRM_BASE_URL');
  const paypalPort = loopbackPort(s.paypalApiBase, 'PAYPAL_API_BASE');
  let crm: CrmSimulator | null = null;
  let paypal: PayPalSimulator | null = null;
  try {
    crm = await listening('CRM', crmPort, () => startCrmSimulator({ apiKey: s.crmApiKey, port: crmPort }));
    paypal = await listening('PayPal', paypalPort, () => startPayPalSimulator({ webhookId: s.paypalWebhookId, clientId: s.paypalClientId, clientSecret: s.paypalClientSecret, port: paypalPort }));
    say(`CRM simulator on ${crm.url}, PayPal simulator on ${paypal.url}`);
    return await scenario(s, crm, paypal, say);
  } finally {
    await paypal?.close();
    await crm?.close();
  }
}

async function scenario(s: DemoSettings, crm: CrmSimulator, paypal: PayPalSimulator, say: (line: string) => void): Promise<DemoSummary> {
  const base = s.baseUrl;
  const call = async (key: string, method: string, path: string, body?: unknown): Promise<Reply> => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let parsed: unknown = {};
    try {
      parsed = text ? (JSON.parse(text) as unknown) : {};
    } catch {
      parsed = { text };
    }
    return { status: r.status, body: parsed };
  };
  const expectStatus = (r: Reply, status: number, what: string): Json => {
    if (r.status !== status) throw new DemoError(`${what}: ${problemText(r)}`);
    if (!isJsonObject(r.body)) throw new DemoError(`${what}: ${r.status} without a JSON object`);
    return r.body;
  };

  // ---- tenant, key, departure, bookings, invoice
  const runId = `${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(3).toString('hex')}`;
  const tenantId = `demo-${runId}`;
  const created = await call(s.adminKey, 'POST', '/v1/tenants', { tenantId, name: `Demo Trips (${runId})` });
  if (created.status === 401 || created.status === 403) {
    throw new DemoError(
      `the service refused the admin key from ${s.adminKeyFrom} (${problemText(created)}).\n` +
        `  Is it running with another DATA_DIR, its own ADMIN_API_KEY, or NODE_ENV=production? Start it with \`npm start\` from this directory.`,
    );
  }
  expectStatus(created, 201, 'creating the demo tenant');
  const apiKey = expectStatus(await call(s.adminKey, 'POST', `/v1/tenants/${tenantId}/api-keys`, { label: 'demo' }), 201, 'creating its API key').apiKey as string;
  say(`tenant ${tenantId} with its own API key`);

  const departureId = 'lisbon-food-2026-05';
  expectStatus(await call(apiKey, 'POST', '/v1/departures', { departureId, name: 'Lisbon food tour, May 2026', paymentScheduleId: 'ps-deposit-30', capacity: 16 }), 201, 'creating the departure');

  const price = { amount: 129000, currency: 'EUR' };
  const book = async (firstName: string, lastName: string, email: string) => {
    const b = expectStatus(
      await call(apiKey, 'POST', '/v1/bookings', {
        departureId,
        contact: { firstName, lastName, email, phone: '+351 21 000 0000' },
        guests: [{ firstName, lastName, email }],
        price,
      }),
      201,
      'requesting a booking',
    );
    return b.bookingId as string;
  };
  const paidBooking = await book('Ada', 'Lovelace', 'ada@example.com');
  const declinedBooking = await book('Grace', 'Hopper', 'grace@example.com');
  const retriedBooking = await book('Alan', 'Turing', 'alan@example.com');
  say(`departure ${departureId}; bookings ${paidBooking}, ${declinedBooking}, ${retriedBooking}`);

  const invoice = expectStatus(
    await call(apiKey, 'POST', '/v1/invoices', {
      customerId: 'acme-offsite',
      customer: { name: 'Acme Offsite GmbH', email: 'travel@acme.example' },
      number: `DEMO-${runId}`,
      currency: 'EUR',
      lineItems: [
        { description: 'Team offsite, Lisbon: 8 seats', quantity: 8, unitAmount: 52500 },
        { description: 'Airport transfer', quantity: 1, unitAmount: 18000 },
      ],
      dueDate: new Date(Date.now() + 14 * 86_400_000).toISOString().slice(0, 10),
      allowedPaymentMethods: ['paypal'],
    }),
    201,
    'issuing the invoice',
  );
  const invoiceId = invoice.invoiceId as string;
  // read-your-writes: reads wait (up to 2 s) until the read models include everything above
  const minPosition = `min_position=${encodeURIComponent(String(invoice.position))}`;

  // ---- provider webhooks and the read models
  const stripeHook = `${base}/webhooks/stripe`;
  const sendStripe = async (e: StripeEvent, what: string) => {
    const r = await deliver(stripeHook, e, s.stripeWebhookSecret);
    if (r.status === 400 && /signature/i.test(JSON.stringify(r.body))) {
      throw new DemoError(`the service did not accept the Stripe signature (${problemText(r)}): its STRIPE_WEBHOOK_SECRET is not the one in ${s.devDefaultsFile ?? 'the environment'}`);
    }
    if (r.status !== 200) throw new DemoError(`Stripe webhook (${what}): ${problemText(r)}`);
  };
  const paymentIntent = (file: 'payment_intent.succeeded' | 'payment_intent.payment_failed', bookingId: string, tag: string) => {
    const pi = `pi_demo_${runId.replace(/-/g, '')}_${tag}`;
    const ch = `ch_demo_${runId.replace(/-/g, '')}_${tag}`;
    const e = stripeEvent(file, (o) => {
      o.id = pi;
      o.amount = price.amount;
      o.currency = price.currency.toLowerCase();
      o.amount_received = file === 'payment_intent.succeeded' ? price.amount : 0;
      o.latest_charge = ch;
      o.description = `Booking ${bookingId}`;
      o.metadata = { tenant_id: tenantId, booking_id: bookingId };
      const lastPaymentError: unknown = o.last_payment_error;
      if (typeof lastPaymentError === 'object' && lastPaymentError !== null) Object.assign(lastPaymentError, { charge: ch });
    });
    return { e, pi };
  };

  const until = async <T>(what: string, probe: () => Promise<T | null>): Promise<T> => {
    const deadline = Date.now() + s.waitMs;
    for (;;) {
      const v = await probe();
      if (v !== null) return v;
      if (Date.now() > deadline) throw new DemoError(`timed out after ${s.waitMs / 1000} s waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const bookingRow = async (bookingId: string) => {
    const r = await call(apiKey, 'GET', `/v1/bookings/${bookingId}?${minPosition}`);
    return r.status === 200 && isJsonObject(r.body) ? r.body : null;
  };
  const crmDone = (bookingId: string) =>
    until(`booking ${bookingId} to reach the CRM (is the service's CRM_BASE_URL ${s.crmBaseUrl}?)`, async () => {
      const b = await bookingRow(bookingId);
      if (b?.needsAttention) throw new DemoError(`booking ${bookingId} needs attention: ${JSON.stringify(b.attention)}`);
      return b?.stage === 'payment_associated' ? b : null;
    });

  // 1. paid by card, synced to the CRM at once
  const paid = paymentIntent('payment_intent.succeeded', paidBooking, 'paid');
  await sendStripe(paid.e, 'payment_intent.succeeded');
  const paidRow = await crmDone(paidBooking);
  say(`${paidBooking}: paid by card (${paid.pi}) and in the CRM as ${jsonText(jsonAt(paidRow, 'crm', 'bookingId'))}`);

  // 2. declined: insufficient funds
  const declined = paymentIntent('payment_intent.payment_failed', declinedBooking, 'declined');
  await sendStripe(declined.e, 'payment_intent.payment_failed');
  const failure = await until(`the declined payment of ${declinedBooking} in /v1/payments`, async () => {
    const r = await call(apiKey, 'GET', `/v1/payments?payable_id=${declinedBooking}&${minPosition}`);
    const data = jsonAt(r.body, 'data');
    const payments: readonly unknown[] = Array.isArray(data) ? data : [];
    return payments.find((p) => jsonAt(p, 'status') === 'failed') ?? null;
  });
  const errorCode = jsonText(jsonAt(failure, 'errorCode'));
  const declineCode = jsonText(jsonAt(failure, 'declineCode'));
  say(`${declinedBooking}: card declined (${errorCode} / ${declineCode})`);

  // 3. paid; the CRM creates the booking but its answer is lost (503): the saga retries
  crm.failNext(1, 503, { operation: 'createContactBooking', externalReference: retriedBooking, when: 'after' });
  const retried = paymentIntent('payment_intent.succeeded', retriedBooking, 'retried');
  await sendStripe(retried.e, 'payment_intent.succeeded');
  const retriedRow = await crmDone(retriedBooking);
  const stage = jsonAt(retriedRow, 'crm', 'stages', 'create_contact_booking');
  const lastFailedAttempt = jsonAt(stage, 'lastFailedAttempt');
  const attempts = jsonAt(stage, 'attempts');
  const lastErrorValue = jsonAt(stage, 'lastError');
  const lastError = typeof lastErrorValue === 'string' ? lastErrorValue : null;
  const retriedCrmBookingId = jsonText(jsonAt(retriedRow, 'crm', 'bookingId'));
  // attempts counts every call started (the one that failed and the one that succeeded); lastFailedAttempt the failed ones
  const failedAttempts = typeof lastFailedAttempt === 'number' ? lastFailedAttempt : typeof attempts === 'number' ? attempts : 0;
  if (!(failedAttempts >= 1)) throw new DemoError(`booking ${retriedBooking} reached the CRM without the injected failure: is the service's CRM_BASE_URL ${s.crmBaseUrl}?`);
  say(`${retriedBooking}: paid (${retried.pi}); CRM attempt 1 failed (${lastError ?? 'null'}), the retry found it: ${retriedCrmBookingId}`);

  // 4. the invoice paid through PayPal: an order from the service, the buyer's approval at PayPal
  //    (the simulator), PayPal's CHECKOUT.ORDER.APPROVED webhook (the service reads the order back
  //    and captures it), then PayPal's PAYMENT.CAPTURE.COMPLETED (read back too: the same payment)
  const session = expectStatus(await call(apiKey, 'POST', `/v1/invoices/${invoiceId}/payment-sessions`, { method: 'paypal' }), 201, 'starting the PayPal payment');
  const orderId = String(session.reference);
  paypal.approveOrder(orderId);
  const approved = await paypal.sendWebhook(`${base}/webhooks/paypal`, paypal.events.orderApproved(orderId));
  if (approved.status !== 200) throw new DemoError(`PayPal webhook: ${problemText({ status: approved.status, body: JSON.parse(approved.body || '{}') as Json })}`);
  // the 200 means the delivery is stored: the service reads the order back and captures it when it applies it
  const captureId = await until(`PayPal order ${orderId} to be captured after its approval (is the service's PAYPAL_API_BASE ${s.paypalApiBase}, with the simulator's credentials?)`, () =>
    Promise.resolve(jsonText(jsonAt(paypal.order(orderId), 'purchase_units', 0, 'payments', 'captures', 0, 'id')) || null),
  );
  const capture = paypal.events.captureCompleted(captureId);
  const delivered = await paypal.sendWebhook(`${base}/webhooks/paypal`, capture);
  if (delivered.status !== 200) {
    let body: Json = {};
    try {
      body = JSON.parse(delivered.body) as Json;
    } catch {
      body = { detail: delivered.body };
    }
    throw new DemoError(
      `PayPal webhook: ${problemText({ status: delivered.status, body })}` +
        (delivered.status === 400 ? `\n  The service must have PAYPAL_WEBHOOK_ID and PAYPAL_API_BASE (${s.paypalApiBase}) as the demo has them.` : ''),
    );
  }
  await until(`invoice ${invoiceId} to be paid`, async () => {
    const r = await call(apiKey, 'GET', `/v1/invoices/${invoiceId}?${minPosition}`);
    return jsonAt(r.body, 'status') === 'paid' ? r.body : null;
  });
  say(`${invoiceId}: paid through PayPal (order ${orderId}, capture ${captureId})`);

  return {
    runId,
    consoleUrl: `${base}/admin`,
    tenantId,
    tenantApiKey: apiKey,
    devDefaultsFile: s.devDefaultsFile,
    departureId,
    succeeded: { bookingId: paidBooking, providerPaymentId: paid.pi, crmBookingId: jsonText(jsonAt(paidRow, 'crm', 'bookingId')) },
    declined: { bookingId: declinedBooking, providerPaymentId: declined.pi, errorCode, declineCode },
    crmRetried: { bookingId: retriedBooking, providerPaymentId: retried.pi, crmBookingId: retriedCrmBookingId, failedAttempts, lastError: lastError ?? '' },
    paypal: { invoiceId, orderId, captureId },
  };
}
