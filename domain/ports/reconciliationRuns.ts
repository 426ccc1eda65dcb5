/**
 * Reconciliation with the providers: what a run is asked, what it finds, and where runs are
 * recorded. The reconciler (commands/reconciliation.ts) writes runs through `ReconciliationRuns`;
 * the SQL adapter (infrastructure/sql/reconciliationRuns.ts, table reconciliation_runs) also reads
 * them back as `ReconciliationRunRecord`s for the API.
 */

export type ReconciliationEndpoint = 'stripe' | 'stripe_connect' | 'paypal';

export interface ReconciliationRequest {
  /** One tenant, or null for every tenant (and every platform object). */
  readonly tenantId: string | null;
  /** Provider objects created (Stripe) or changed (PayPal captures and refunds) at or after this instant. */
  readonly since: Date;
  readonly dryRun: boolean;
}

/**
 * - `missing`: facts Settle lacks (repaired through the inbox, or would be in a dry run);
 * - `unattributable`: money on a provider object Settle cannot tie to an invoice or booking;
 * - `conflict`: the aggregate refuses what the provider says (needs a human);
 * - `foreign_tenant`: an object on a tenant's connected account names another tenant;
 * - `previous_account`: money on an account the tenant was re-linked away from (never applied).
 */
export type DifferenceKind = 'missing' | 'unattributable' | 'conflict' | 'foreign_tenant' | 'previous_account';
export type DifferenceOutcome = 'repaired' | 'would_repair' | 'parked' | 'unrepairable';

export interface Difference {
  readonly provider: 'stripe' | 'paypal';
  /** Stripe connected account the object lives on; null for the platform (and PayPal). */
  readonly account: string | null;
  /** payment_intent, charge, refund, dispute, invoice, subscription, paypal_order. */
  readonly object: string;
  readonly objectId: string;
  /** The synthesised event (`recon_<object id>_<state>`) and its type. */
  readonly eventId: string;
  readonly eventType: string;
  readonly kind: DifferenceKind;
  readonly tenantId: string | null;
  /** Streams the facts belong to. */
  readonly streams: readonly string[];
  /** Event types Settle lacks (what the repair appends, as far as deciding in memory tells). */
  readonly facts: readonly string[];
  readonly outcome: DifferenceOutcome;
  readonly detail: string | null;
}

export interface ReconciliationResult {
  /** Provider objects looked at. */
  readonly examined: number;
  readonly found: number;
  readonly repaired: number;
  readonly unrepairable: number;
  readonly differences: readonly Difference[];
}

/** Where runs are recorded (the reconciliation_runs table). */
export interface ReconciliationRuns {
  create(runId: string, req: ReconciliationRequest): Promise<void>;
  finish(runId: string, outcome: { status: 'succeeded'; result: ReconciliationResult } | { status: 'failed'; error: string; result: ReconciliationResult }): Promise<void>;
}

export interface ReconciliationRunRecord {
  readonly runId: string;
  readonly tenantId: string | null;
  readonly since: string;
  readonly dryRun: boolean;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly examined: number;
  readonly found: number;
  readonly repaired: number;
  readonly unrepairable: number;
  readonly error: string | null;
  readonly differences?: readonly Difference[];
}

