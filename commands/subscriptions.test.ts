/** subscription commands on the in-memory event store: the fast run of test/application/subscriptions.cases.ts (no database). */
import { describeSubscriptionCommands } from '../test/application/subscriptions.cases';
import { memoryStore } from '../test/application/storeUnderTest';

describeSubscriptionCommands('in memory', memoryStore);
