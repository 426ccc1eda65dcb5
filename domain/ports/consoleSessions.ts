/**
 * Admin console sessions, kept server-side: the cookie carries a random token. Every lookup
 * re-checks the credential the session was opened with (a tenant session ends when its API key is
 * revoked, an admin session when ADMIN_API_KEY changes). Implemented in SQL by
 * infrastructure/sql/consoleSessions.ts.
 */
export type ConsolePrincipal = { kind: 'admin'; tenantId: string | null } | { kind: 'tenant'; tenantId: string; keyId: string };

export interface ConsoleSession {
  readonly principal: ConsolePrincipal;
  readonly csrfToken: string;
  readonly expiresAt: Date;
}

export interface ConsoleSessions {
  /** Opens a session; returns the cookie token (never stored) and the session. */
  open(principal: ConsolePrincipal, adminKey?: string): Promise<{ token: string; session: ConsoleSession }>;
  /** The live session of a cookie token, or null (unknown, expired, key revoked, admin key changed). */
  find(token: string | undefined, adminKey: string | undefined): Promise<ConsoleSession | null>;
  /** An admin session chooses the tenant it looks at. */
  actAs(token: string, tenantId: string): Promise<void>;
  close(token: string): Promise<void>;
}
