/**
 * Baseline of benchmark (2), run as its own process: the HTTP ceiling of one Node process on this
 * machine. A bare `node:http` server that reads the body, verifies the Stripe signature with the
 * official SDK (as Settle's endpoint does) and answers a small JSON 200, storing nothing. The
 * same load generator drives it, so (2) can say how much of the machine's HTTP capacity the
 * service keeps while storing, deduplicating and applying every event.
 *
 * Started with `node httpCeiling.js <secret>`; prints `port <n>` when it listens.
 */
import http from 'node:http';
import Stripe from 'stripe';

export function startCeiling(secret: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const event = Stripe.webhooks.constructEvent(Buffer.concat(chunks), String(req.headers['stripe-signature'] ?? ''), secret) as { id: string };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ received: true, id: event.id }));
      } catch {
        res.writeHead(400, { 'content-type': 'application/problem+json' });
        res.end('{"title":"Invalid Signature"}');
      }
    });
  });
  // the service's keep-alive window, so the load generator's connections behave the same
  server.keepAliveTimeout = 5000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

if (require.main === module) {
  void startCeiling(process.argv[2] ?? '').then((s) => process.stdout.write(`port ${(s.address() as { port: number }).port}\n`));
}
