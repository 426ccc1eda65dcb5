/**
 * The requests reconciliation makes are valid for Stripe's API: every list call of the Stripe
 * ledger adapter (created[gte], limit, starting_after, status=all for subscriptions,
 * expand[]=data.latest_charge for payment intents, Stripe-Account for connected accounts)
 * against the official stripe-mock, which validates parameters against Stripe's OpenAPI spec.
 * (stripe-mock answers with canned objects, so histories are tested with the fake list server:
 * commands/reconciliation.stripe.postgres.test.ts.)
 */
import { ProviderError } from '../../domain/ports/billingProvider';
import { STRIPE_KINDS } from '../../commands/reconciliation';
import { StripeLedgerAdapter } from './stripeLedger';

function stripeMockBase(): string {
  const base = process.env.STRIPE_API_BASE;
  if (!base) throw new Error('STRIPE_API_BASE is not set: run with stripe-mock (npm test starts it)');
  return base;
}

describe('Stripe ledger adapter against stripe-mock', () => {
  const ledger = new StripeLedgerAdapter({ secretKey: 'sk_test_123', apiBase: stripeMockBase() });
  const since = new Date(Date.now() - 7 * 86_400_000);

  test.each(STRIPE_KINDS.flatMap((k) => [[k, null], [k, 'acct_1ReconSmoke']] as Array<[(typeof STRIPE_KINDS)[number], string | null]>))('lists %s on %s, and pages on with starting_after', async (kind, accountId) => {
    const first = await ledger.list(kind, { accountId, since, limit: 100, startingAfter: null });
    expect(Array.isArray(first.objects)).toBe(true);
    expect(typeof first.hasMore).toBe('boolean');
    expect(first.objects.length).toBeGreaterThan(0);
    const object = String(first.objects[0]!.object);
    expect(object).toBe(kind);
    const next = await ledger.list(kind, { accountId, since, limit: 1, startingAfter: String(first.objects[0]!.id) });
    expect(Array.isArray(next.objects)).toBe(true);
  });

  test('a page size outside 1..100 and a malformed account id are refused before any call', async () => {
    await expect(ledger.list('charge', { accountId: null, since, limit: 101, startingAfter: null })).rejects.toMatchObject({ kind: 'invalid', code: 'limit_invalid' });
    await expect(ledger.list('charge', { accountId: 'not-an-account', since, limit: 10, startingAfter: null })).rejects.toBeInstanceOf(ProviderError);
  });
});
