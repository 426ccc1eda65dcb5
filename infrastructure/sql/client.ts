/**
 * The one SQL seam shared by the PostgreSQL server adapter (`pg`) and the embedded adapter
 * (PGlite). Everything above it (event store, outbox, checkpoints, projections) is written once
 * against the port domain/ports/sql.ts and runs the same SQL on both.
 */

/** The statement of queryAutocommit completed, then its commit failed (cause: the server's error). */
export class CommitFailed extends Error {
  constructor(cause: unknown) {
    super(`commit failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'CommitFailed';
  }
}

/** A schema name that is safe to interpolate (used for per-test isolation and configuration). */
export function assertSchemaName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid schema name "${name}"`);
  return name;
}

/**
 * An error raised by a statement (it carries a SQLSTATE outside class 08, connection exception):
 * the server rolled the transaction back, so nothing of it was written.
 */
export function isStatementError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  // a SQLSTATE (no class starts with E: that is Node's EPIPE, EBADF ... of a broken socket)
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E') && !code.startsWith('08') && !code.startsWith('57P');
}
