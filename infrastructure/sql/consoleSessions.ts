import { createHash, randomBytes } from 'node:crypto';
import type { ConsolePrincipal, ConsoleSession, ConsoleSessions } from '../../domain/ports/consoleSessions';
import type { SqlClient } from '../../domain/ports/sql';
import { hashKey } from './apiAccess';

/**
 * Admin console sessions (domain/ports/consoleSessions.ts), stored server-side (table `console_sessions`, migration 8). The cookie
 * carries a random token; only its SHA-256 is stored. Every lookup re-checks the credential the
 * session was opened with: a tenant session ends when its API key is revoked, an admin session
 * when ADMIN_API_KEY changes (or is unset).
 */
const tokenHash = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export class SqlConsoleSessions implements ConsoleSessions {
  constructor(
    private readonly db: SqlClient,
    private readonly ttlSeconds = 8 * 3600,
  ) {}

  /** Opens a session; returns the cookie token (never stored) and the session. */
  async open(principal: ConsolePrincipal, adminKey?: string): Promise<{ token: string; session: ConsoleSession }> {
    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const { rows } = await this.db.query<{ expires_at: Date }>(
      `INSERT INTO console_sessions (session_hash, principal_kind, key_id, admin_key_hash, tenant_id, csrf_token, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp() + make_interval(secs => $7)) RETURNING expires_at`,
      [
        tokenHash(token),
        principal.kind,
        principal.kind === 'tenant' ? principal.keyId : null,
        principal.kind === 'admin' ? hashKey(adminKey ?? '') : null,
        principal.tenantId,
        csrfToken,
        this.ttlSeconds,
      ],
    );
    // opportunistic cleanup of expired sessions
    await this.db.query('DELETE FROM console_sessions WHERE expires_at < clock_timestamp()');
    const [opened] = rows;
    if (!opened) throw new Error('console session insert returned no row');
    return { token, session: { principal, csrfToken, expiresAt: new Date(opened.expires_at) } };
  }

  /** The live session of a cookie token, or null (unknown, expired, key revoked, admin key changed). */
  async find(token: string | undefined, adminKey: string | undefined): Promise<ConsoleSession | null> {
    if (!token || !TOKEN.test(token)) return null;
    const { rows } = await this.db.query<{ principal_kind: string; key_id: string | null; tenant_id: string | null; admin_key_hash: string | null; csrf_token: string; expires_at: Date }>(
      `SELECT s.principal_kind, s.key_id::text AS key_id, s.tenant_id, s.admin_key_hash, s.csrf_token, s.expires_at
         FROM console_sessions s LEFT JOIN api_keys k ON k.key_id = s.key_id
        WHERE s.session_hash = $1 AND s.expires_at > clock_timestamp()
          AND (s.principal_kind = 'admin' OR (k.revoked_at IS NULL AND k.tenant_id = s.tenant_id))`,
      [tokenHash(token)],
    );
    const r = rows[0];
    if (!r) return null;
    if (r.principal_kind === 'admin') {
      if (!adminKey || r.admin_key_hash !== hashKey(adminKey)) return null;
      return { principal: { kind: 'admin', tenantId: r.tenant_id }, csrfToken: r.csrf_token, expiresAt: new Date(r.expires_at) };
    }
    if (r.tenant_id === null || r.key_id === null) return null; // a tenant session names its tenant and key
    return { principal: { kind: 'tenant', tenantId: r.tenant_id, keyId: r.key_id }, csrfToken: r.csrf_token, expiresAt: new Date(r.expires_at) };
  }

  /** An admin session chooses the tenant it looks at. */
  async actAs(token: string, tenantId: string): Promise<void> {
    await this.db.query(`UPDATE console_sessions SET tenant_id = $2 WHERE session_hash = $1 AND principal_kind = 'admin'`, [tokenHash(token), tenantId]);
  }

  async close(token: string): Promise<void> {
    await this.db.query('DELETE FROM console_sessions WHERE session_hash = $1', [tokenHash(token)]);
  }
}
