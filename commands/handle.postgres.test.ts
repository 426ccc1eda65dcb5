/** handle() on PostgreSQL (DATABASE_URL): the integration run of test/application/handle.cases.ts. */
import { describeHandle } from '../test/application/handle.cases';
import { postgresStore } from '../test/application/storeUnderTest';

describeHandle('PostgreSQL', postgresStore);
