/**
 * SqlClient.queryAutocommit on PostgreSQL and on the embedded store (run by the adapter test
 * files of infrastructure/sql): one statement in a transaction of its own, where a failure at the
 * commit is a CommitFailed and a failure of the statement is the server's error as is.
 */
import { CommitFailed } from '../../infrastructure/sql/client';
import type { TestDatabase } from '../support/databases';

export function describeQueryAutocommit(adapter: string, make: () => Promise<TestDatabase>): void {
  describe(`SqlClient.queryAutocommit: ${adapter}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await make();
      // a deferred constraint trigger raises at COMMIT, after its statement has completed
      await t.db.exec(`
        CREATE TABLE qa_items (id int PRIMARY KEY, poison boolean NOT NULL DEFAULT false);
        CREATE FUNCTION qa_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.poison THEN RAISE EXCEPTION 'poisoned at commit'; END IF;
          RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER qa_poison AFTER INSERT ON qa_items
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION qa_refuse_poison();`);
    });
    afterAll(async () => {
      await t?.drop();
    });
    const count = async () => Number((await t.db.query<{ n: string | number }>('SELECT count(*) AS n FROM qa_items')).rows[0]!.n);

    test('returns the rows of a statement that committed', async () => {
      const { rows } = await t.db.queryAutocommit<{ id: number }>('INSERT INTO qa_items (id) VALUES ($1) RETURNING id', [1]);
      expect(rows).toEqual([{ id: 1 }]);
      expect(await count()).toBe(1);
    });

    test('a statement that raises is thrown as the server error, not as CommitFailed; nothing is written', async () => {
      const err = await t.db.queryAutocommit('INSERT INTO qa_items (id) VALUES ($1), ($1)', [2]).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(CommitFailed);
      expect((err as { code?: string }).code).toBe('23505');
      expect(await count()).toBe(1);
    });

    test('a failure at commit is CommitFailed carrying the server error; nothing is written; the client goes on working', async () => {
      const err = await t.db.queryAutocommit('INSERT INTO qa_items (id, poison) VALUES ($1, true) RETURNING id', [3]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommitFailed);
      expect(((err as CommitFailed).cause as Error).message).toContain('poisoned at commit');
      expect(await count()).toBe(1);
      await expect(t.db.queryAutocommit('INSERT INTO qa_items (id) VALUES ($1) RETURNING id', [4])).resolves.toEqual({ rows: [{ id: 4 }] });
    });
  });
}
