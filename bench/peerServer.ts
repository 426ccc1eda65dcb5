/**
 * The peer of benchmark (2), run as its own process: `@supabase/stripe-sync-engine` in its
 * README's manual mode, a bare `node:http` server that hands each request's raw body and
 * `Stripe-Signature` to `StripeSync.processWebhook` (signature check, then one upsert of the
 * payment intent into `stripe.payment_intents`) and answers 200 once it resolved. Its settings are
 * the library's defaults: a pool of 10 connections, no logger, and no `revalidateObjectsViaStripeApi`
 * (so a `payment_intent.*` event is stored from the webhook's own object and the Stripe API is never
 * called; `processEvent` passes `backfillRelatedEntities = false` for payment intents).
 *
 * The bench runs the library's migrations (`migratePeer`) before it starts this server. Started
 * with `node peerServer.js` and PEER_DATABASE_URL / PEER_WEBHOOK_SECRET in its environment; prints
 * `port <n>` when it listens.
 */
import http from 'node:http';
import { Client } from 'pg';
import Stripe from 'stripe';
import { StripeSync, runMigrations } from '@supabase/stripe-sync-engine';

/** The library's schema: its migrations create their tables in `stripe` (the name is fixed in its SQL). */
export const PEER_SCHEMA = 'stripe';

/**
 * Runs the library's migrations into `stripe` of the given database. `runMigrations` logs and
 * swallows its own errors, so success is checked by the table benchmark (2) writes.
 */
export async function migratePeer(databaseUrl: string): Promise<void> {
  await runMigrations({ databaseUrl, schema: PEER_SCHEMA });
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ t: string | null }>(`SELECT to_regclass('${PEER_SCHEMA}.payment_intents')::text AS t`);
    if (!rows[0]?.t) throw new Error('the stripe-sync-engine migrations did not create stripe.payment_intents');
  } finally {
    await c.end();
  }
}

export function startPeer(databaseUrl: string, secret: string): Promise<http.Server> {
  const sync = new StripeSync({
    poolConfig: { connectionString: databaseUrl },
    schema: PEER_SCHEMA,
    // never used for payment intents with these settings; a syntactically valid test key
    stripeSecretKey: 'sk_test_bench_peer_never_called',
    stripeWebhookSecret: secret,
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      sync.processWebhook(Buffer.concat(chunks), String(req.headers['stripe-signature'] ?? '')).then(
        () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"received":true}');
        },
        (err: unknown) => {
          const invalid = err instanceof Stripe.errors.StripeSignatureVerificationError;
          res.writeHead(invalid ? 400 : 500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
        },
      );
    });
  });
  // the service's keep-alive window, so the load generator's connections behave the same
  server.keepAliveTimeout = 5000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

if (require.main === module) {
  void startPeer(process.env.PEER_DATABASE_URL ?? '', process.env.PEER_WEBHOOK_SECRET ?? '').then((s) => process.stdout.write(`port ${(s.address() as { port: number }).port}\n`));
}
