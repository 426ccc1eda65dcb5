/**
 * The one SQL seam shared by the PostgreSQL server adapter (`pg`) and the embedded adapter
 * (PGlite). Everything above it (event store, outbox, checkpoints, projections) is written once
 * against this interface and runs the same SQL on both.
 */
export interface SqlRows<T> {
  rows: T[];
}

export interface SqlExecutor {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface SqlClient extends SqlExecutor {
  readonly kind: 'postgres' | 'pglite';
  /** Runs fn in one transaction: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * One statement in a transaction of its own, in one round trip on the server (no BEGIN and
   * COMMIT round trips). A failure once the statement has completed, i.e. at its commit, is thrown
   * as CommitFailed: the caller can then tell a statement that refused (rolled back, nothing
   * written) from a commit that did not succeed (not acknowledged).
   */
  queryAutocommit<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>>;
  /**
   * Runs fn on one dedicated session (for session-level advisory locks). The session is given
   * back (and its locks released) when fn settles.
   */
  withSession<T>(fn: (session: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The statement of queryAutocommit completed, then its commit failed (cause: the server's error). */
export class CommitFailed extends Error {
  constructor(cause: unknown) {
    super(`commit failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'CommitFailed';
  }
}

/** int8 / xid8 values arrive as strings (pg), numbers or bigints (PGlite): normalise. */
export function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  throw new TypeError(`not an integer: ${String(v)}`);
}

/** A schema name that is safe to interpolate (used for per-test isolation and configuration). */
export function assertSchemaName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid schema name "${name}"`);
  return name;
}

/** Text PostgreSQL cannot store (NUL) or that is not Unicode (an unpaired UTF-16 surrogate). */
export const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * An error raised by a statement (it carries a SQLSTATE outside class 08, connection exception):
 * the server rolled the transaction back, so nothing of it was written.
 */
export function isStatementError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  // a SQLSTATE (no class starts with E: that is Node's EPIPE, EBADF ... of a broken socket)
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E') && !code.startsWith('08') && !code.startsWith('57P');
}
