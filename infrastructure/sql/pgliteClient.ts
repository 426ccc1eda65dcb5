import { PGlite } from '@electric-sql/pglite';
import { CommitFailed, assertSchemaName } from './client';
import type { SqlClient, SqlExecutor, SqlRows } from '../../domain/ports/sql';

/**
 * SqlClient over embedded PostgreSQL (PGlite): the default when no DATABASE_URL is configured.
 * PGlite is one session in this process, so every query and transaction is serialised through a
 * FIFO mutex, and each operation first yields to the event loop: PGlite resolves through
 * microtasks, and a tight loop over it would otherwise starve timers and sockets.
 */
export class PgliteClient implements SqlClient {
  readonly kind = 'pglite' as const;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly db: PGlite,
    readonly schema: string,
  ) {}

  /** dataDir: a directory to persist in, or undefined for an in-memory database (tests). */
  static async open(dataDir: string | undefined, schema = 'public'): Promise<PgliteClient> {
    assertSchemaName(schema);
    const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema};`);
    return new PgliteClient(db, schema);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      if (this.closed) throw new Error('embedded database is closed');
      await new Promise<void>((resolve) => setImmediate(resolve));
      return fn();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private raw(): SqlExecutor {
    const db = this.db;
    return {
      async query<T>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>> {
        const r = await db.query<T>(sql, params as unknown[] | undefined);
        return { rows: r.rows };
      },
      async exec(sql: string): Promise<void> {
        await db.exec(sql);
      },
    };
  }

  query<T>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>> {
    return this.exclusive(() => this.raw().query<T>(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.exclusive(() => this.raw().exec(sql));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const ex = this.raw();
      await ex.query('BEGIN');
      try {
        const result = await fn(ex);
        await ex.query('COMMIT');
        return result;
      } catch (err) {
        await ex.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** In-process, so BEGIN and COMMIT cost no round trip: an ordinary transaction, classified alike. */
  async queryAutocommit<T>(sql: string, params?: readonly unknown[]): Promise<SqlRows<T>> {
    const query = { completed: false }; // set inside the transaction's callback
    try {
      return await this.transaction(async (tx) => {
        const rows = await tx.query<T>(sql, params);
        query.completed = true;
        return rows;
      });
    } catch (err) {
      throw query.completed ? new CommitFailed(err) : err;
    }
  }

  withSession<T>(fn: (session: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(() => fn(this.raw()));
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.closed = true;
      await this.db.close();
    }).catch(() => undefined);
  }
}
