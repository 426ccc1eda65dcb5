/**
 * The projection port: what a read model is to the runner that keeps it (infrastructure/projections/
 * runner.ts), and what operators and the query API may ask of a running projection (http gets
 * these as ProjectionControl, never the runner). Read models are SQL tables by design (see
 * domain/ports/sql.ts).
 */
import type { DomainEventType } from '../events';
import type { Position, RecordedEvent } from './eventStore';
import type { SqlExecutor } from './sql';

/** Logical table name -> physical table of one generation (`T`: the projection's logical names). */
export type Tables<T extends string = string> = Readonly<Record<T, string>>;

export interface ProjectionDefinition<T extends string = string> {
  readonly name: string;
  /** Logical names of the tables this projection owns (each gets a view of that name). */
  readonly tables: readonly T[];
  /** DDL creating one generation of the tables (and the indexes apply relies on) under the given names. */
  ddl(t: Tables<T>): string;
  /**
   * Indexes only the read side uses (apply never looks rows up through them). A live generation
   * gets them with its tables; a rebuild creates them once its generation is filled, just before
   * switching to it: one sort per index instead of a B-tree insertion per row.
   */
  queryIndexes?(t: Tables<T>): string;
  /** Event types this projection reads (typed from the event unions: a misspelt type does not compile); other events only move its checkpoint. */
  readonly eventTypes: ReadonlySet<DomainEventType>;
  /** Applies a batch of relevant events, in order, inside the runner's transaction. Deterministic. */
  apply(tx: SqlExecutor, events: readonly RecordedEvent[], t: Tables<T>): Promise<void>;
}

/** What a projection does with an event it cannot apply. */
export type OnError = 'skip' | 'halt';

/** One projection as operators see it (admin API and console system page). */
export interface ProjectionOverview {
  readonly name: string;
  readonly generation: number;
  readonly position: string | null;
  readonly leader: boolean;
  readonly caughtUp: boolean;
  readonly lagSeconds: number;
  readonly rebuilding: boolean;
  readonly halted: string | null;
  readonly deadLetters: number;
  readonly onError: OnError;
}

/** A running projection as the query API (min_position) and operators (admin API, console) use it. */
export interface ProjectionControl {
  readonly name: string;
  /** The position of the last event applied to the live generation (null: none yet). */
  position(): Promise<Position | null>;
  /** Asks the runner to read new events now instead of at its next poll. */
  wakeForEvents(): void;
  overview(): Promise<ProjectionOverview>;
  /** Marks the projection for rebuild; its runner (on whichever instance leads) picks it up (this one at once). */
  requestRebuild(): Promise<boolean>;
  /** Clears a halt; with `skip` the checkpoint first moves past the dead-lettered event. The runner retries at once. */
  resume(skip: boolean): Promise<boolean>;
}
