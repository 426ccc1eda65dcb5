/**
 * Who may call the API: tenants and their API keys (hashed, shown once, revocable), and the
 * Idempotency-Key records of the REST commands. Implemented in SQL by
 * infrastructure/sql/apiAccess.ts; http authenticates and replays through these.
 */
export interface Tenant {
  tenantId: string;
  name: string;
  createdAt: Date;
}

export interface ApiKeyRecord {
  keyId: string;
  tenantId: string;
  prefix: string;
  label: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface TenantDirectory {
  /** Creates a tenant; null when the id is taken. */
  createTenant(tenantId: string, name: string): Promise<Tenant | null>;
  getTenant(tenantId: string): Promise<Tenant | null>;
  /** Issues a key; the plaintext is returned here and never stored. */
  issueKey(tenantId: string, label: string | null): Promise<{ record: ApiKeyRecord; apiKey: string }>;
  revokeKey(tenantId: string, keyId: string): Promise<boolean>;
  /** Whether a key (by id) is still live: not revoked (live streams re-check this). */
  keyActive(keyId: string): Promise<boolean>;
  /** The tenant of a live key, or null. */
  authenticate(apiKey: string): Promise<{ tenantId: string; keyId: string } | null>;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

export type IdempotencyClaim =
  /** `token` identifies this claim: only its owner may complete or release it. */
  | { kind: 'claimed'; token: string }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in_progress' }
  | { kind: 'mismatch'; method: string; path: string };

export interface IdempotencyStore {
  /** `alsoMatches`: another fingerprint of the same body that a stored record may carry (an earlier release's). */
  claim(scope: string, key: string, method: string, path: string, bodyHash: string, alsoMatches?: string): Promise<IdempotencyClaim>;
  complete(scope: string, key: string, token: string, response: StoredResponse): Promise<void>;
  /** A request that failed on our side (5xx) releases its key so a retry runs again. */
  release(scope: string, key: string, token: string): Promise<void>;
  /** Deletes records older than the retention (at least 24 hours). */
  prune(retentionHours?: number): Promise<number>;
}
