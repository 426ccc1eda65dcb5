import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiKeyRecord, IdempotencyClaim, IdempotencyStore, StoredResponse, Tenant, TenantDirectory } from '../../domain/ports/apiAccess';
import type { SqlClient } from '../../domain/ports/sql';

/**
 * Tenants, their API keys (hashed, shown once, revocable) and Idempotency-Key records, in SQL:
 * the adapters of domain/ports/apiAccess.ts.
 */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class SqlTenantDirectory implements TenantDirectory {
  constructor(private readonly db: SqlClient) {}

  /** Creates a tenant; false when the id is taken. */
  async createTenant(tenantId: string, name: string): Promise<Tenant | null> {
    const { rows } = await this.db.query<{ tenant_id: string; name: string; created_at: Date }>(
      `INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id, name, created_at`,
      [tenantId, name],
    );
    const r = rows[0];
    return r ? { tenantId: r.tenant_id, name: r.name, createdAt: new Date(r.created_at) } : null;
  }

  async getTenant(tenantId: string): Promise<Tenant | null> {
    const { rows } = await this.db.query<{ tenant_id: string; name: string; created_at: Date }>(`SELECT tenant_id, name, created_at FROM tenants WHERE tenant_id = $1`, [tenantId]);
    const r = rows[0];
    return r ? { tenantId: r.tenant_id, name: r.name, createdAt: new Date(r.created_at) } : null;
  }

  /** Issues a key; the plaintext is returned here and never stored. */
  async issueKey(tenantId: string, label: string | null): Promise<{ record: ApiKeyRecord; apiKey: string }> {
    const apiKey = `sk_settle_${randomBytes(24).toString('base64url')}`;
    const keyId = randomUUID();
    const prefix = apiKey.slice(0, 14);
    const { rows } = await this.db.query<{ created_at: Date }>(
      `INSERT INTO api_keys (key_id, tenant_id, prefix, key_hash, label) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
      [keyId, tenantId, prefix, hashKey(apiKey), label],
    );
    const [created] = rows;
    if (!created) throw new Error('api key insert returned no row');
    return { apiKey, record: { keyId, tenantId, prefix, label, createdAt: new Date(created.created_at), revokedAt: null } };
  }

  async revokeKey(tenantId: string, keyId: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp()) WHERE tenant_id = $1 AND key_id = $2 RETURNING key_id`,
      [tenantId, keyId],
    );
    return rows.length === 1;
  }

  /** Whether a key (by id) is still live: not revoked (live streams re-check this). */
  async keyActive(keyId: string): Promise<boolean> {
    const { rows } = await this.db.query(`SELECT 1 FROM api_keys WHERE key_id::text = $1 AND revoked_at IS NULL`, [keyId]);
    return rows.length === 1;
  }

  /** The tenant of a live key, or null. */
  async authenticate(apiKey: string): Promise<{ tenantId: string; keyId: string } | null> {
    const { rows } = await this.db.query<{ tenant_id: string; key_id: string }>(
      `SELECT tenant_id, key_id::text AS key_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
      [hashKey(apiKey)],
    );
    const r = rows[0];
    return r ? { tenantId: r.tenant_id, keyId: r.key_id } : null;
  }
}

/**
 * How long an in-progress claim blocks a concurrent retry before it is considered abandoned
 * (the process died mid-request). Longer than any request can run, provider calls with their
 * retries included.
 */
const CLAIM_TIMEOUT_SECONDS = 300;

export class SqlIdempotencyStore implements IdempotencyStore {
  constructor(private readonly db: SqlClient) {}

  /** `alsoMatches`: another fingerprint of the same body that a stored record may carry (an earlier release's). */
  async claim(scope: string, key: string, method: string, path: string, bodyHash: string, alsoMatches?: string): Promise<IdempotencyClaim> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query<{ token: string }>(
        `INSERT INTO idempotency_keys (scope, idempotency_key, method, path, body_hash, state) VALUES ($1, $2, $3, $4, $5, 'in_progress')
         ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING locked_at::text AS token`,
        [scope, key, method, path, bodyHash],
      );
      if (inserted.rows[0]) return { kind: 'claimed' as const, token: inserted.rows[0].token };
      const { rows } = await tx.query<{ method: string; path: string; body_hash: string; state: string; response_status: number | null; response_body: unknown; stale: boolean }>(
        `SELECT method, path, body_hash, state, response_status, response_body,
                locked_at < clock_timestamp() - make_interval(secs => $3) AS stale
           FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 FOR UPDATE`,
        [scope, key, CLAIM_TIMEOUT_SECONDS],
      );
      const r = rows[0];
      if (!r) return { kind: 'in_progress' as const };
      if (r.method !== method || r.path !== path || (r.body_hash !== bodyHash && r.body_hash !== alsoMatches)) return { kind: 'mismatch' as const, method: r.method, path: r.path };
      if (r.state === 'done') return { kind: 'replay' as const, response: { status: Number(r.response_status), body: r.response_body } };
      if (r.stale) {
        const taken = await tx.query<{ token: string }>(
          `UPDATE idempotency_keys SET locked_at = clock_timestamp() WHERE scope = $1 AND idempotency_key = $2 RETURNING locked_at::text AS token`,
          [scope, key],
        );
        const [claimed] = taken.rows;
        if (!claimed) throw new Error('claim returned no row');
        return { kind: 'claimed' as const, token: claimed.token };
      }
      return { kind: 'in_progress' as const };
    });
  }

  /** Stores the response; only the claim's owner can (a taken-over claim's late answer is dropped). */
  async complete(scope: string, key: string, token: string, response: StoredResponse): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_keys SET state = 'done', response_status = $4, response_body = $5::jsonb
        WHERE scope = $1 AND idempotency_key = $2 AND state = 'in_progress' AND locked_at::text = $3`,
      [scope, key, token, response.status, JSON.stringify(response.body ?? null)],
    );
  }

  /** A request that failed on our side (5xx) releases its key so a retry runs again. */
  async release(scope: string, key: string, token: string): Promise<void> {
    await this.db.query(`DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND state = 'in_progress' AND locked_at::text = $3`, [scope, key, token]);
  }

  /** Deletes records older than the retention (at least 24 hours). */
  async prune(retentionHours = 48): Promise<number> {
    const { rows } = await this.db.query(`DELETE FROM idempotency_keys WHERE created_at < clock_timestamp() - make_interval(hours => $1) RETURNING 1`, [
      Math.max(24, retentionHours),
    ]);
    return rows.length;
  }
}
