/** pg_stat_statements evidence, when the server has the extension loaded (the bench's own cluster does). */
import { Client } from 'pg';

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T | null> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } catch {
    return null;
  } finally {
    await c.end();
  }
}

export async function pgStatReset(url: string): Promise<void> {
  await withClient(url, async (c) => {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await c.query('SELECT pg_stat_statements_reset()');
  });
}

/** Marks the bench's own statements (its polls while a run drains): pgStatTop leaves them out. */
export const BENCH_SQL = '/* bench */';

/** The top `n` statements by total execution time, the bench's own left out; `only` / `exclude`: those whose text contains / does not contain the string. */
export async function pgStatTop(url: string, n: number, filter: { only?: string; exclude?: string } = {}): Promise<string[]> {
  const rows = await withClient(url, async (c) => {
    const r = await c.query<{ calls: string; total: number; mean: number; query: string }>(
      `SELECT calls, total_exec_time AS total, mean_exec_time AS mean, regexp_replace(query, '\\s+', ' ', 'g') AS query
         FROM pg_stat_statements
        WHERE strpos(query, '${BENCH_SQL}') = 0 AND ($2::text IS NULL OR strpos(query, $2) > 0) AND ($3::text IS NULL OR strpos(query, $3) = 0)
        ORDER BY total_exec_time DESC LIMIT $1`,
      [n, filter.only ?? null, filter.exclude ?? null],
    );
    return r.rows;
  });
  return (rows ?? []).map((r) => `${r.total.toFixed(0).padStart(8)} ms total  ${r.calls.padStart(8)} calls  ${r.mean.toFixed(3).padStart(8)} ms mean  ${r.query.slice(0, 140)}`);
}
