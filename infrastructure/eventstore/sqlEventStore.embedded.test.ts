/** Event store contract on the embedded default (PGlite, in memory), with and without group commit. */
import { describeEventStoreContract } from '../../test/contract/eventStore.contract';
import { sqlContractSubject } from '../../test/contract/sqlSubject';
import { embeddedDatabase } from '../../test/support/databases';
import { describeGroupCommit } from '../../test/contract/groupCommit.contract';
import { describeAppendBatch } from '../../test/contract/appendBatch.contract';
import { describeQueryAutocommit } from '../../test/contract/queryAutocommit.contract';

for (const groupCommit of [true, false]) {
  describeEventStoreContract(
    `embedded PGlite, group commit ${groupCommit ? 'on' : 'off'}`,
    async () => sqlContractSubject(await embeddedDatabase(), groupCommit),
    // PGlite is one session: transactions run one after another, so keep the held-open delays short.
    { maxDelayMs: 3, appendsPerWriter: 12 },
  );
}

describeGroupCommit('embedded PGlite', () => embeddedDatabase());
describeAppendBatch('embedded PGlite', () => embeddedDatabase());
describeQueryAutocommit('embedded PGlite', () => embeddedDatabase());
