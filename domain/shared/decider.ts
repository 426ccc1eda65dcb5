/**
 * The decider shape every aggregate follows (see ../shared/style.md, Emmett):
 *   decide(command, state) -> events    (pure; throws DomainRefusal to refuse)
 *   evolve(state, event)   -> state     (pure; total over the aggregate's events)
 * Time is never read inside the domain: commands carry `now` in their metadata.
 */
export interface CommandMetadata {
  /** The moment the command is decided at (passed in, never read from a clock here). */
  readonly now: Date;
}

export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: CommandMetadata;
}

export interface DomainEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

export interface Decider<C extends Command, E extends DomainEvent, S> {
  readonly initialState: S;
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
}

/**
 * A business refusal. `kind` says how the API reports it: `conflict` (409, the state forbids it
 * now, e.g. a live subscription exists) or `invalid` (422, the request can never succeed as
 * given, e.g. refund larger than paid). `code` is stable and becomes the problem type.
 */
export class DomainRefusal extends Error {
  override readonly name = 'DomainRefusal';
  constructor(
    readonly code: string,
    message: string,
    readonly kind: 'conflict' | 'invalid' = 'conflict',
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** Folds events into state. */
export function fold<E extends DomainEvent, S>(decider: Pick<Decider<Command, E, S>, 'evolve' | 'initialState'>, events: readonly E[]): S {
  return events.reduce((s, e) => decider.evolve(s, e), decider.initialState);
}

/** Compile-time exhaustiveness: a new command or event type that is not handled fails to build. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(x)}`);
}
