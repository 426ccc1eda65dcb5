/** handle() on the in-memory event store: the fast run of test/application/handle.cases.ts (no database). */
import { describeHandle } from '../test/application/handle.cases';
import { memoryStore } from '../test/application/storeUnderTest';

describeHandle('in memory', memoryStore);
