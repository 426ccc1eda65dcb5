/** subscription commands on PostgreSQL (DATABASE_URL): the integration run of test/application/subscriptions.cases.ts. */
import { describeSubscriptionCommands } from '../test/application/subscriptions.cases';
import { postgresStore } from '../test/application/storeUnderTest';

describeSubscriptionCommands('PostgreSQL', postgresStore);
