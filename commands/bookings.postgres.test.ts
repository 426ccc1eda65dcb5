/** booking commands on PostgreSQL (DATABASE_URL): the integration run of test/application/bookings.cases.ts. */
import { describeBookingCommands } from '../test/application/bookings.cases';
import { postgresStore } from '../test/application/storeUnderTest';

describeBookingCommands('PostgreSQL', postgresStore);
