/** booking commands on the in-memory event store: the fast run of test/application/bookings.cases.ts (no database). */
import { describeBookingCommands } from '../test/application/bookings.cases';
import { memoryStore } from '../test/application/storeUnderTest';

describeBookingCommands('in memory', memoryStore);
