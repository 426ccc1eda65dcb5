/**
 * "Exactly one active runner" for background loops (outbox relay, projections). On PostgreSQL a
 * session advisory lock on a dedicated connection: when the holder dies its connection closes,
 * the lock is released, and another instance takes over at its next attempt (seconds). The
 * embedded database belongs to one process, so there the lease is always held. Implemented in
 * infrastructure/sql/leaderLease.ts.
 */
export interface LeaderLease {
  readonly name: string;
  tryAcquire(): Promise<boolean>;
  isHeld(): boolean;
  release(): Promise<void>;
}
