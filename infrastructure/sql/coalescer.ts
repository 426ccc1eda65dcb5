/**
 * Runs concurrent calls of one statement as batches: calls made while a batch is running wait
 * and then run together as the next batch, as one set-based statement (one round trip, one
 * commit). A quiet caller runs at once in a batch of one, so nothing waits for a batch to fill.
 *
 * Each caller still gets its own outcome:
 *  - `keyOf`: calls with the same key never share a batch, so they take effect one after another
 *    in call order, as they would without batching;
 *  - a statement error (SQLSTATE outside the connection classes) means the server rolled the
 *    statement back and wrote nothing: the batch's calls then run alone, in order, so one bad
 *    call cannot fail its neighbours;
 *  - any other failure (connection lost, database down) rejects every call of the batch, as it
 *    would have rejected each of them alone.
 */
import { isStatementError } from './client';

export interface CoalescerOptions<I> {
  /** Most calls in one batch. Default 256. */
  readonly maxBatch?: number;
  /** Batches running at once. Default 1: while one runs, the next one fills. */
  readonly maxInFlight?: number;
  /** Calls with the same key never share a batch (they run in call order). */
  readonly keyOf?: (item: I) => string;
  /** With `maxBatchBytes`: a batch stops growing at that many bytes (it always takes one call). */
  readonly sizeOf?: (item: I) => number;
  readonly maxBatchBytes?: number;
}

/** Counters, for tests and benchmarks. */
export interface CoalescerStats {
  batches: number;
  calls: number;
  fallbacks: number;
}

interface Pending<I, O> {
  readonly item: I;
  resolve(out: O): void;
  reject(err: unknown): void;
}

export class Coalescer<I, O> {
  readonly stats: CoalescerStats = { batches: 0, calls: 0, fallbacks: 0 };
  private queue: Array<Pending<I, O>> = [];
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private scheduled = false;
  /** Keys of the calls in running batches: a later call with one of them waits for it. */
  private readonly running = new Set<string>();

  /** `run` gets the batch's items and must answer one result per item, in the same order. */
  constructor(
    private readonly run: (items: readonly I[]) => Promise<readonly O[]>,
    private readonly options: CoalescerOptions<I> = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 256);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  }

  call(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // after the current tick, so calls made together share a batch
    queueMicrotask(() => {
      this.scheduled = false;
      while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
        const batch = this.take();
        // every queued call waits for a running call with its key: the batch's end reschedules
        if (batch.length === 0) break;
        this.inFlight += 1;
        void this.runBatch(batch).finally(() => {
          this.inFlight -= 1;
          if (this.options.keyOf) for (const p of batch) this.running.delete(this.options.keyOf(p.item));
          this.schedule();
        });
      }
    });
  }

  /**
   * The next batch: queued calls in order, up to maxBatch calls and maxBatchBytes, skipping (and
   * keeping queued) a call whose key is already in the batch or running.
   */
  private take(): Array<Pending<I, O>> {
    const { keyOf, sizeOf, maxBatchBytes } = this.options;
    const batch: Array<Pending<I, O>> = [];
    const rest: Array<Pending<I, O>> = [];
    const keys = new Set<string>(this.running);
    let bytes = 0;
    let full = false;
    for (const p of this.queue) {
      const k = keyOf?.(p.item);
      const size = sizeOf && maxBatchBytes !== undefined ? sizeOf(p.item) : 0;
      full ||= batch.length >= this.maxBatch || (batch.length > 0 && maxBatchBytes !== undefined && bytes + size > maxBatchBytes);
      if (full || (k !== undefined && keys.has(k))) {
        // a later call with a key already in the batch waits for it; so do calls after it with that key
        if (k !== undefined) keys.add(k);
        rest.push(p);
        continue;
      }
      if (k !== undefined) keys.add(k);
      bytes += size;
      batch.push(p);
    }
    this.queue = rest;
    if (keyOf) for (const p of batch) this.running.add(keyOf(p.item));
    return batch;
  }

  private async runBatch(batch: Array<Pending<I, O>>): Promise<void> {
    this.stats.batches += 1;
    this.stats.calls += batch.length;
    let results: readonly O[];
    try {
      results = await this.run(batch.map((p) => p.item));
      if (results.length !== batch.length) throw new Error(`batch of ${batch.length} answered ${results.length} results`);
    } catch (err) {
      if (batch.length > 1 && isStatementError(err)) {
        this.stats.fallbacks += 1;
        for (const p of batch) await this.run([p.item]).then((r) => (r.length === 1 ? p.resolve(r[0] as O) : p.reject(new Error(`batch of 1 answered ${r.length} results`))), (e: unknown) => p.reject(e));
        return;
      }
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i] as O));
  }
}
