/**
 * A recording proxy in front of stripe-mock (STRIPE_API_BASE): the service under test is pointed
 * at it, so a scenario can see which Stripe calls the service made (method, path, Stripe-Account,
 * form body) and can have Stripe answer one call the way real Stripe answers it in a situation
 * stripe-mock cannot reach (e.g. "This invoice can no longer be voided" once the customer paid).
 * Everything else is answered by stripe-mock itself, which validates every request against
 * Stripe's published API.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedCall {
  readonly method: string;
  readonly path: string;
  readonly account: string | undefined;
  readonly body: string;
  /** The status the service got. */
  status: number;
}

interface Canned {
  readonly match: (c: ProxiedCall) => boolean;
  readonly status: number;
  readonly body: unknown;
}

export class StripeProxy {
  readonly calls: ProxiedCall[] = [];
  private canned: Canned[] = [];
  private server: http.Server | null = null;
  url = '';

  constructor(private readonly target: URL) {}

  /** The next call that `match`es is answered `status` with Stripe's error `body` instead of reaching stripe-mock. */
  answerNext(match: (c: ProxiedCall) => boolean, status: number, body: unknown): void {
    this.canned.push({ match, status, body });
  }

  callsTo(method: string, path: RegExp | string): ProxiedCall[] {
    return this.calls.filter((c) => c.method === method && (typeof path === 'string' ? c.path === path : path.test(c.path)));
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url ?? '/', 'http://proxy');
        const account = req.headers['stripe-account'];
        const call: ProxiedCall = { method: req.method ?? '', path: url.pathname, account: Array.isArray(account) ? account[0] : account, body: body.toString('utf8'), status: 0 };
        this.calls.push(call);
        const i = this.canned.findIndex((c) => c.match(call));
        if (i >= 0) {
          const [c] = this.canned.splice(i, 1);
          call.status = c!.status;
          res.writeHead(c!.status, { 'content-type': 'application/json', 'request-id': `req_proxy_${this.calls.length}` });
          res.end(JSON.stringify(c!.body));
          return;
        }
        const up = http.request({ host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.target.host } }, (upRes) => {
          call.status = upRes.statusCode ?? 502;
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        });
        up.on('error', (err) => {
          call.status = 502;
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { type: 'api_error', message: `proxy: ${err.message}` } }));
        });
        up.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The proxy in front of the stripe-mock `npm test` started. */
export function stripeMockProxy(): StripeProxy {
  const base = process.env.STRIPE_API_BASE;
  if (!base) throw new Error('STRIPE_API_BASE is not set: run the acceptance tests through `npm test`, which starts stripe-mock');
  return new StripeProxy(new URL(base));
}
