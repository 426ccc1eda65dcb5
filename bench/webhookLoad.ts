/**
 * Load generator of benchmarks (2) and (4), run as its own process. Sends signed Stripe
 * `payment_intent.payment_failed` events built from the provider's example object (each a new
 * failed attempt on one of the given invoices) over keep-alive HTTP connections:
 *   - mode `max`: `connections` closed loops as fast as the service answers, 10 % of requests
 *     re-deliver an event already sent (a duplicate delivery);
 *   - mode `paced`: one new event every 1/rate s (open loop); after its 200, `pollers` pollers list
 *     the payments of the invoices with outstanding attempts (round robin; an invoice is listed
 *     at most once per `pollMs`) until each attempt shows up in the query API.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Stripe from 'stripe';
import { childMain, percentile } from './lib';

export interface WebhookLoadInput {
  url: string;
  secret: string;
  apiKey: string;
  tenantId: string;
  invoices: string[];
  mode: 'max' | 'paced';
  connections: number;
  durationMs: number;
  duplicateRatio: number;
  rate?: number;
  pollMs?: number;
  /** paced mode: concurrent pollers (default 4) */
  pollers?: number;
  runId: string;
}

export interface WebhookLoadResult {
  requests: number;
  duplicatesSent: number;
  /** wall-clock (epoch ms) when the first request was sent and when the last answer came */
  startedAtMs: number;
  endedAtMs: number;
  seconds: number;
  perSecond: number;
  status: Record<string, number>;
  ackP50: number;
  ackP99: number;
  /** event ids answered 200 at least once */
  acked: string[];
  /** paced mode: webhook sent -> attempt visible in GET /v1/payments */
  visibleP50?: number;
  visibleP99?: number;
  visibleCount?: number;
  notVisible?: number;
  /** paced mode: query API requests made by the pollers */
  polls?: number;
}

/** The payment intent ids of a run start with this (`pi_<runId>_<n>`): how the bench finds a run's effects. */
export const paymentPrefix = (runId: string): string => `pi_${runId}_`;

const FIXTURE = path.resolve(__dirname, '../../test/fixtures/stripe/events/payment_intent.payment_failed.json');

export async function webhookLoad(input: WebhookLoadInput): Promise<WebhookLoadResult> {
  const template = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- untyped JSON (a parsed document or fixture), read by shape
  const agent = new http.Agent({ keepAlive: true, maxSockets: input.connections + 8 });
  const target = new URL(`${input.url}/webhooks/stripe`);
  let seq = 0;

  function newEvent(): { id: string; invoiceId: string; pi: string; body: string } {
    const n = ++seq;
    const invoiceId = input.invoices[n % input.invoices.length]!;
    const pi = `${paymentPrefix(input.runId)}${n}`;
    const e = structuredClone(template);
    e.id = `evt_${input.runId}_${n}`;
    e.created = Math.floor(Date.now() / 1000);
    const o = e.data.object;
    o.id = pi;
    o.metadata = { tenant_id: input.tenantId, invoice_id: invoiceId };
    o.latest_charge = `ch_${input.runId}_${n}`;
    if (o.last_payment_error) o.last_payment_error.charge = o.latest_charge;
    return { id: e.id as string, invoiceId, pi, body: JSON.stringify(e) };
  }

  function post(body: string): Promise<number> {
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: input.secret });
    return new Promise((resolve) => {
      const req = http.request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  }

  function get(p: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve) => {
      const req = http.request({ agent, host: target.hostname, port: target.port, path: p, method: 'GET', headers: { authorization: `Bearer ${input.apiKey}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', () => resolve({ status: 0, body: '' }));
      req.end();
    });
  }

  const sent: Array<{ id: string; body: string }> = [];
  const acked = new Set<string>();
  const status: Record<string, number> = {};
  const ackLatencies: number[] = [];
  let requests = 0;
  let duplicatesSent = 0;
  let polls = 0;

  async function deliver(e: { id: string; body: string }): Promise<number> {
    const t0 = performance.now();
    const s = await post(e.body);
    ackLatencies.push(performance.now() - t0);
    requests++;
    status[s] = (status[s] ?? 0) + 1;
    if (s === 200) acked.add(e.id);
    return s;
  }

  const startedAtMs = Date.now();
  const started = performance.now();
  const deadline = started + input.durationMs;
  const visible: number[] = [];
  let notVisible = 0;

  if (input.mode === 'max') {
    await Promise.all(
      Array.from({ length: input.connections }, async () => {
        while (performance.now() < deadline) {
          if (sent.length > 0 && Math.random() < input.duplicateRatio) {
            duplicatesSent++;
            await deliver(sent[Math.floor(Math.random() * sent.length)]!);
          } else {
            const e = newEvent();
            sent.push(e);
            await deliver(e);
          }
        }
      }),
    );
  } else {
    const interval = 1000 / (input.rate ?? 10);
    const pollMs = input.pollMs ?? 10;
    // Events acknowledged but not yet seen in the query API, by invoice. A fixed number of pollers
    // (so the read load does not grow with the lag) take invoices round robin and list their
    // payments; every outstanding attempt found in the answer is visible from then on.
    const outstanding = new Map<string, Array<{ pi: string; t0: number }>>();
    const queue: string[] = [];
    // when each invoice was last listed: it is not listed again within pollMs
    const lastPolled = new Map<string, number>();
    let sending = true;
    const pollers = Array.from({ length: input.pollers ?? 4 }, async () => {
      while (sending || outstanding.size > 0) {
        const invoiceId = queue.shift();
        if (!invoiceId || !outstanding.has(invoiceId)) {
          await new Promise((res) => setTimeout(res, pollMs));
          continue;
        }
        const wait = (lastPolled.get(invoiceId) ?? -Infinity) + pollMs - performance.now();
        if (wait > 0) {
          queue.push(invoiceId);
          await new Promise((res) => setTimeout(res, Math.min(wait, pollMs)));
          continue;
        }
        lastPolled.set(invoiceId, performance.now());
        polls++;
        const r = await get(`/v1/payments?payable_id=${encodeURIComponent(invoiceId)}&limit=200`);
        const now = performance.now();
        const waiting = outstanding.get(invoiceId) ?? [];
        const still = waiting.filter((w) => {
          if (r.status === 200 && r.body.includes(`"${w.pi}"`)) {
            visible.push(now - w.t0);
            return false;
          }
          if (now - w.t0 > 30_000) {
            notVisible++;
            return false;
          }
          return true;
        });
        if (still.length > 0) {
          outstanding.set(invoiceId, still);
          queue.push(invoiceId);
        } else outstanding.delete(invoiceId);
      }
    });
    const inflight: Array<Promise<void>> = [];
    for (let k = 0; performance.now() < deadline; k++) {
      const due = started + k * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const e = newEvent();
      inflight.push(
        (async () => {
          const t0 = performance.now();
          if ((await deliver(e)) !== 200) return;
          const list = outstanding.get(e.invoiceId);
          if (list) list.push({ pi: e.pi, t0 });
          else {
            outstanding.set(e.invoiceId, [{ pi: e.pi, t0 }]);
            queue.push(e.invoiceId);
          }
        })(),
      );
    }
    await Promise.all(inflight);
    sending = false;
    await Promise.all(pollers);
  }
  const seconds = (performance.now() - started) / 1000;
  const endedAtMs = startedAtMs + seconds * 1000;
  agent.destroy();
  return {
    requests,
    duplicatesSent,
    startedAtMs,
    endedAtMs,
    seconds,
    perSecond: requests / seconds,
    status,
    ackP50: percentile(ackLatencies, 50),
    ackP99: percentile(ackLatencies, 99),
    acked: [...acked],
    ...(input.mode === 'paced' ? { visibleP50: percentile(visible, 50), visibleP99: percentile(visible, 99), visibleCount: visible.length, notVisible, polls } : {}),
  };
}

// the input is the WebhookLoadInput bench/webhookBench.ts sends through runChild
if (require.main === module) childMain((input) => webhookLoad(input as WebhookLoadInput));
