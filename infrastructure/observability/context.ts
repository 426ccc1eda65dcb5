import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The ids of the request (or message) being handled, carried through async calls so every log
 * line and every appended event can name them without passing them by hand.
 */
export interface RequestContext {
  readonly requestId: string;
  readonly correlationId: string;
  readonly tenantId?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}
