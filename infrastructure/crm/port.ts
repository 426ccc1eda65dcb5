/**
 * The CRM port this adapter implements. The saga owns it: it lives in domain/ports/crm.ts and is
 * only re-exported here, so there is exactly one `CrmError` class (the saga's `instanceof CrmError`
 * holds for what the client throws) and one set of request types.
 */
export { CrmError, type Crm, type CrmContactBookingRequest, type CrmPaymentRequest } from '../../domain/ports/crm';
import type { CrmError } from '../../domain/ports/crm';

export type CrmErrorKind = CrmError['kind'];
