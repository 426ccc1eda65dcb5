/**
 * "A read model changed": the signal behind live status pages. Listeners get the projection's
 * name and re-read what they show (a signal may repeat and never carries data). Implemented by
 * infrastructure/sql/readModelChanges.ts (this process's runners, and PostgreSQL NOTIFY from the
 * others).
 */
export interface ReadModelChanges {
  /** Calls `fn` on every change until the returned function is called. */
  subscribe(fn: (projection: string) => void): () => void;
}
