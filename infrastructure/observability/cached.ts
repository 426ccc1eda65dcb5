/**
 * A short-lived, single-flight cache for expensive read-only probes (metric gauges counting rows,
 * readiness checks): concurrent callers share one call in flight, and its result is reused for
 * `ttlMs` after it settles, so N scrapes or probes at once cost one query. A failure is shared by
 * the callers that waited for it but is not kept.
 */
export function cached<K, V>(fn: (key: K) => Promise<V>, ttlMs: number, now: () => number = Date.now): (key: K) => Promise<V> {
  const entries = new Map<K, { promise: Promise<V>; settledAt: number | null }>();
  return (key) => {
    const e = entries.get(key);
    if (e && (e.settledAt === null || now() - e.settledAt < ttlMs)) return e.promise;
    const entry: { promise: Promise<V>; settledAt: number | null } = { promise: Promise.resolve().then(() => fn(key)), settledAt: null };
    entries.set(key, entry);
    entry.promise.then(
      () => void (entry.settledAt = now()),
      () => {
        if (entries.get(key) === entry) entries.delete(key);
      },
    );
    return entry.promise;
  };
}
