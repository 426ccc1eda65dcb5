import { Pool, Query, type PoolClient, type PoolConfig, type QueryResult } from 'pg';
import { CommitFailed, assertSchemaName } from './client';
import type { SqlClient, SqlExecutor, SqlRows } from '../../domain/ports/sql';

/**
 * A query that records whether the server reported its statement complete. With the extended
 * protocol and no open transaction block, the server sends CommandComplete when the statement has
 * run and commits at the Sync that follows: an error after CommandComplete is the commit's.
 */
class CompletionTrackingQuery extends Query {
  completed = false;

  // part of pg's protocol for query objects (Submittable), not of its type declarations
  handleCommandComplete(msg: unknown, connection: unknown): void {
    this.completed = true;
    (Query.prototype as unknown as ProtocolHandlers).handleCommandComplete.call(this, msg, connection);
  }
}

interface ProtocolHandlers {
  handleCommandComplete(msg: unknown, connection: unknown): void;
}

export interface PgClientOptions {
  connectionString: string;
  /** Schema that holds Settle's tables (search_path). Default `public`. */
  schema?: string;
  max?: number;
  applicationName?: string;
}

/** SqlClient over a `pg` connection pool: the production default. */
export class PgClient implements SqlClient {
  readonly kind = 'postgres' as const;
  readonly pool: Pool;
  readonly schema: string;

  constructor(opts: PgClientOptions) {
    this.schema = assertSchemaName(opts.schema ?? 'public');
    const config: PoolConfig = {
      connectionString: opts.connectionString,
      max: opts.max ?? 20,
      application_name: opts.applicationName ?? 'settle',
      // search_path per connection keeps every statement schema-relative (test isolation),
      // and a session left idle inside a transaction is cut off so it cannot hold back readers.
      options: `-c search_path=${this.schema} -c idle_in_transaction_session_timeout=60000`,
      connectionTimeoutMillis: 10_000,
    };
    this.pool = new Pool(config);
    // An idle client that loses its connection (server restart) must not crash the process.
    this.pool.on('error', () => undefined);
  }

  async query<T>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>> {
    const r = await this.pool.query(sql, params as unknown[] | undefined);
    return { rows: r.rows as T[] };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  /**
   * A checked-out client whose server connection dies (a database restart) emits 'error'; without
   * a listener that would crash the process. The failure still reaches the caller through the
   * query it was running (answered 503), and the broken client is not reused.
   */
  private async checkout(): Promise<{ client: PoolClient; done: (broken: boolean) => void }> {
    const client = await this.pool.connect();
    let lost = false;
    const onError = () => {
      lost = true;
    };
    client.on('error', onError);
    return {
      client,
      done: (broken) => {
        client.off('error', onError);
        client.release(broken || lost);
      },
    };
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const { client, done } = await this.checkout();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(wrap(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      done(broken);
    }
  }

  async queryAutocommit<T>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>> {
    const { client, done } = await this.checkout();
    try {
      const result = await new Promise<QueryResult>((resolve, reject) => {
        // the extended protocol even without parameters: with the simple one the server commits
        // before CommandComplete, and a failed commit would pass for a failed statement
        const q = new CompletionTrackingQuery({ text: sql, values: params as unknown[] | undefined, queryMode: 'extended' } as never, undefined, (err, res) => {
          if (err) reject(q.completed ? new CommitFailed(err) : err);
          else resolve(res);
        });
        void client.query(q);
      });
      return { rows: result.rows as T[] };
    } finally {
      done(false);
    }
  }

  async withSession<T>(fn: (session: SqlExecutor) => Promise<T>): Promise<T> {
    const { client, done } = await this.checkout();
    let broken = false;
    try {
      return await fn(wrap(client));
    } catch (err) {
      broken = true; // the session may hold locks or be mid-transaction: do not reuse it
      throw err;
    } finally {
      done(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function wrap(client: PoolClient): SqlExecutor {
  return {
    async query<T>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>> {
      const r = await client.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as T[] };
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  };
}
