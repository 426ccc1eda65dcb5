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

export async function pgStatTop(url: string, n: number): Promise<string[]> {
  const rows = await withClient(url, async (c) => {
    const r = await c.query<{ calls: string; total: number; mean: number; query: string }>(
      `SELECT calls, total_exec_time AS total, mean_exec_time AS mean, regexp_replace(query, '\\s+', ' ', 'g') AS query
         FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $1`,
      [n],
    );
    return r.rows;
  });
  return (rows ?? []).map((r) => `${Number(r.total).toFixed(0).padStart(8)} ms total  ${String(r.calls).padStart(8)} calls  ${Number(r.mean).toFixed(3).padStart(8)} ms mean  ${r.query.slice(0, 140)}`);
}
