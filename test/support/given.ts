/**
 * given / when / then for deciders, in the style of Emmett's DeciderSpecification:
 *   spec(decider).given([events]).when(command).then([events])
 *   spec(decider).given([events]).when(command).thenRefuses('code')
 * Used by domain tests only (no I/O, no clocks).
 */
import { DomainRefusal, fold, type Command, type Decider, type DomainEvent } from '../../domain/shared/decider';

export function spec<C extends Command, E extends DomainEvent, S>(decider: Decider<C, E, S>) {
  return {
    given(events: readonly E[]) {
      const state = fold(decider, events);
      return {
        state,
        when(command: C) {
          const run = () => decider.decide(command, state);
          return {
            then(expected: readonly E[]) {
              expect(run()).toEqual(expected);
            },
            thenMatches(expected: ReadonlyArray<{ type: E['type']; data?: unknown }>) {
              const got = run();
              expect(got).toHaveLength(expected.length);
              got.forEach((e, i) => expect(e).toMatchObject(expected[i] as object));
            },
            thenNothing() {
              expect(run()).toEqual([]);
            },
            thenRefuses(code: string, kind?: 'conflict' | 'invalid') {
              let err: unknown;
              try {
                run();
              } catch (e) {
                err = e;
              }
              expect(err).toBeInstanceOf(DomainRefusal);
              expect((err as DomainRefusal).code).toBe(code);
              if (kind) expect((err as DomainRefusal).kind).toBe(kind);
            },
          };
        },
      };
    },
  };
}
