/** The local trip-booking CRM simulator: see simulator.ts for what it implements and README.md for use. */
export {
  startCrmSimulator,
  type CrmSimBehaviour,
  type CrmSimBooking,
  type CrmSimFailure,
  type CrmSimGuest,
  type CrmSimOperation,
  type CrmSimOutcome,
  type CrmSimPayment,
  type CrmSimRequest,
  type CrmSimulator,
  type CrmSimulatorOptions,
  type FailNextOptions,
} from './simulator';
