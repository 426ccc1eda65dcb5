/**
 * The SQL port: the query interface the event store, outbox, checkpoints and read models are
 * written against (read models are SQL tables by design: projections write them through it).
 * Implemented by the PostgreSQL server adapter (`pg`) and the embedded one (PGlite) in
 * infrastructure/sql/; the values and text rules of the store live here with it.
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

/** int8 / xid8 values arrive as strings (pg), numbers or bigints (PGlite): normalise. */
export function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  throw new TypeError(`not an integer: ${String(v)}`);
}

/** Text PostgreSQL cannot store (NUL) or that is not Unicode (an unpaired UTF-16 surrogate). */
export const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
