/**
 * What Settle learned about provider objects (provider_refs) and how Stripe connected accounts
 * stand with it (connected_accounts). Used by the webhook translators and processor (commands/);
 * implemented over SQL by infrastructure/webhooks/inbox.ts.
 */

/** Looks up what Settle learned about provider objects. */
export interface RefResolver {
  lookup(provider: string, ref: string): Promise<{ tenantId: string; targetType: string; targetId: string } | null>;
}

/**
 * How a Stripe connected account stands with Settle. Exactly one account per tenant is `current`
 * (linked by an operator, POST /v1/tenants/{id}/stripe-account); re-linking makes the old one
 * `previous`; an account that only ever sent events is `unlinked` (tenantId null).
 */
export type AccountLink = { readonly status: 'current' | 'previous'; readonly tenantId: string } | { readonly status: 'unlinked'; readonly tenantId: null };

export interface ProviderRefs extends RefResolver {
  /** How a Stripe connected account is linked; null when Settle never heard of it. */
  accountLink(accountId: string): Promise<AccountLink | null>;
  learn(provider: string, ref: string, tenantId: string, targetType: string, targetId: string): Promise<void>;
  /** Records an account's capabilities (account.updated); never links it. Returns how it is linked afterwards. */
  connectedAccount(a: { accountId: string; chargesEnabled: boolean; payoutsEnabled: boolean; detailsSubmitted: boolean }): Promise<AccountLink>;
}

export interface ConnectedAccountRow {
  readonly accountId: string;
  readonly status: 'current' | 'previous';
  readonly chargesEnabled: boolean;
  readonly payoutsEnabled: boolean;
  readonly detailsSubmitted: boolean;
  readonly linkedAt: string | null;
  readonly replacedAt: string | null;
}

/**
 * Which Stripe connected account takes a tenant's Connect payments: exactly one `current` account
 * per tenant, set only by an operator (link). Re-linking makes the old account `previous`: its
 * webhooks are recorded and flagged, never applied. Implemented in SQL (infrastructure/webhooks/inbox.ts).
 */
export interface ConnectedAccounts {
  /** The tenant's current account when it can take charges, or null. */
  accountFor(tenantId: string): Promise<string | null>;
  /** The tenant's current account whatever its capabilities (reconciliation reads it), or null. */
  currentAccount(tenantId: string): Promise<string | null>;
  /** The tenant's current account and the ones it replaced, newest first. */
  list(tenantId: string): Promise<ConnectedAccountRow[]>;
  /**
   * Links an account to a tenant as its current one; the tenant's previous current account (if
   * another) becomes `previous`. An account linked to another tenant (now or before) is refused:
   * `linked_elsewhere`.
   */
  link(tenantId: string, accountId: string): Promise<{ linked: true; previousAccountId: string | null } | { linked: false; reason: 'linked_elsewhere'; tenantId: string }>;
}
