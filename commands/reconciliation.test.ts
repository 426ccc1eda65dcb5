/**
 * The reconciler's pacing, without a database: pages are staggered, a 429's Retry-After is
 * waited out (capped), retryable failures back off, and a read that keeps failing fails the run
 * (recorded, not thrown). Objects to provider events: commands/webhooks/synthesize.ts.
 */
import { ProviderError } from '../domain/ports/billingProvider';
import type { EventStore } from '../domain/ports/eventStore';
import { ProviderRateLimited, type StripeLedger, type StripeLedgerKind, type StripeListQuery } from '../domain/ports/providerLedger';
import { Reconciler, type ReconciliationResult, type ReconciliationRuns } from './reconciliation';
import { payPalEnvelopes, stripeEnvelopes } from './webhooks/synthesize';

function harness(ledger: StripeLedger | null, opts: { maxRetries?: number } = {}) {
  const sleeps: number[] = [];
  const finished: Array<{ status: string; error?: string; result: ReconciliationResult }> = [];
  const runs: ReconciliationRuns = { create: async () => undefined, finish: async (_id, o) => void finished.push(o) };
  const reconciler = new Reconciler({
    store: {} as EventStore,
    refs: { lookup: async () => null },
    stripe: ledger,
    paypal: null,
    paypalReader: null,
    currentAccount: async () => null,
    previousAccounts: async () => [],
    tenantIds: async () => [],
    knownPayPalOrders: async () => [],
    apply: async () => ({ status: 'processed', duplicate: false }),
    runs,
    pageSize: 2,
    pageDelayMs: 7,
    maxRetries: opts.maxRetries ?? 3,
    maxRetryAfterMs: 5000,
    sleep: async (ms) => void sleeps.push(ms),
  });
  return { reconciler, sleeps, finished };
}

const req = { tenantId: null, since: new Date('2026-11-01T00:00:00Z'), dryRun: true };

describe('Reconciler pacing', () => {
  test('pages follow starting_after, with the page delay between them; a 429 waits its Retry-After (capped)', async () => {
    const calls: Array<[StripeLedgerKind, StripeListQuery]> = [];
    let limited = 2;
    const ledger: StripeLedger = {
      async list(kind, q) {
        calls.push([kind, q]);
        if (kind === 'charge' && limited > 0) throw new ProviderRateLimited(limited-- === 2 ? 2000 : 60_000, 'slow down');
        if (kind !== 'charge') return { objects: [], hasMore: false };
        const page = q.startingAfter === null ? ['ch_3', 'ch_2'] : ['ch_1'];
        return { objects: page.map((id) => ({ id, object: 'charge', status: 'pending', created: 1 })), hasMore: q.startingAfter === null };
      },
    };
    const { reconciler, sleeps, finished } = harness(ledger);
    const run = await reconciler.run(req);
    expect(run.status).toBe('succeeded');
    expect(calls.filter(([k]) => k === 'charge').map(([, q]) => q.startingAfter)).toEqual([null, null, null, 'ch_2']);
    expect(calls.every(([, q]) => q.limit === 2 && q.accountId === null && q.since.getTime() === req.since.getTime())).toBe(true);
    expect(sleeps).toEqual([2000, 5000, 7]); // Retry-After 2 s, then 60 s capped to 5 s, then the page delay
    expect(finished[0]).toMatchObject({ status: 'succeeded', result: { examined: 3, found: 0 } });
  });

  test('a read that keeps failing fails the run after the retries (backoff), and the failure is recorded', async () => {
    const ledger: StripeLedger = {
      async list() {
        throw new ProviderError('retryable', 'Stripe is down', 'http_503');
      },
    };
    const { reconciler, sleeps, finished } = harness(ledger, { maxRetries: 2 });
    const run = await reconciler.run(req);
    expect(run).toMatchObject({ status: 'failed', error: expect.objectContaining({ message: 'Stripe is down' }) });
    expect(sleeps).toEqual([250, 500]);
    expect(finished[0]).toMatchObject({ status: 'failed', error: 'Stripe is down' });
  });

  test('with no provider configured a run is refused (provider unavailable), not an empty success', async () => {
    const { reconciler } = harness(null);
    await expect(reconciler.start(req)).rejects.toMatchObject({ kind: 'unavailable', code: 'no_provider' });
  });

  test('an invalid request is not retried', async () => {
    let n = 0;
    const { reconciler } = harness({
      async list() {
        n++;
        throw new ProviderError('invalid', 'bad parameter', 'invalid_request');
      },
    });
    expect((await reconciler.run(req)).status).toBe('failed');
    expect(n).toBe(1);
  });
});

const RECON_NOW = new Date('2026-11-01T00:00:00Z');

describe('provider objects as the events of their current state', () => {
  test('Stripe: one event per state, ids recon_<object>_<state>; a subscription per billing period; nothing for pending states', () => {
    expect(stripeEnvelopes('payment_intent', { id: 'pi_1', status: 'succeeded', created: 10, latest_charge: { id: 'ch_1', created: 20 } }, 'acct_1', RECON_NOW).map((e) => [e.id, e.type, e.created, e.account])).toEqual([
      ['recon_pi_1_succeeded', 'payment_intent.succeeded', 20, 'acct_1'],
    ]);
    expect(stripeEnvelopes('payment_intent', { id: 'pi_2', status: 'requires_payment_method', last_payment_error: { charge: 'ch_9' }, created: 10 }, null, RECON_NOW).map((e) => [e.id, e.type])).toEqual([
      ['recon_pi_2_failed_ch_9', 'payment_intent.payment_failed'],
    ]);
    expect(stripeEnvelopes('payment_intent', { id: 'pi_3', status: 'requires_payment_method', created: 10 }, null, RECON_NOW)).toEqual([]);
    expect(stripeEnvelopes('refund', { id: 're_1', status: 'pending', created: 10 }, null, RECON_NOW)).toEqual([]);
    expect(stripeEnvelopes('dispute', { id: 'dp_1', status: 'won', created: 10 }, null, RECON_NOW).map((e) => e.id)).toEqual(['recon_dp_1_created', 'recon_dp_1_won']);
    expect(stripeEnvelopes('invoice', { id: 'in_1', status: 'paid', created: 10, status_transitions: { paid_at: 30 } }, null, RECON_NOW).map((e) => [e.type, e.created])).toEqual([['invoice.paid', 30]]);
    expect(stripeEnvelopes('invoice', { id: 'in_2', status: 'draft', created: 10 }, null, RECON_NOW)).toEqual([]);
    const sub = (end: number) => ({ id: 'sub_1', status: 'active', created: 10, items: { data: [{ current_period_end: end }] } });
    expect(stripeEnvelopes('subscription', sub(100), null, RECON_NOW)[0]!.id).not.toBe(stripeEnvelopes('subscription', sub(200), null, RECON_NOW)[0]!.id);
    expect(stripeEnvelopes('subscription', { id: 'sub_2', status: 'canceled', created: 10 }, null, RECON_NOW).map((e) => e.type)).toEqual(['customer.subscription.deleted']);
  });

  test('PayPal: captures and refunds changed since the date, given the order id and custom_id they may lack', () => {
    const order = {
      id: 'ORDER1',
      purchase_units: [
        {
          custom_id: 'coach|inv_1',
          payments: {
            captures: [
              { id: 'CAP1', status: 'PARTIALLY_REFUNDED', update_time: '2026-11-02T00:00:00Z' },
              { id: 'CAP0', status: 'DECLINED', update_time: '2026-10-01T00:00:00Z' },
              { id: 'CAP2', status: 'PENDING', update_time: '2026-11-03T00:00:00Z' },
            ],
            refunds: [{ id: 'REF1', status: 'COMPLETED', create_time: '2026-11-04T00:00:00Z' }],
          },
        },
      ],
    };
    const envs = payPalEnvelopes(order, new Date('2026-11-01T00:00:00Z'));
    expect(envs.map((e) => [e.id, e.event_type, e.resource.custom_id])).toEqual([
      ['recon_CAP1_COMPLETED', 'PAYMENT.CAPTURE.COMPLETED', 'coach|inv_1'],
      ['recon_REF1_COMPLETED', 'PAYMENT.CAPTURE.REFUNDED', 'coach|inv_1'],
    ]);
    expect(envs[0]!.resource.supplementary_data).toEqual({ related_ids: { order_id: 'ORDER1' } });
  });
});
