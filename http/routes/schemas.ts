/** Request schemas shared by several routes. Money: integer minor units + ISO 4217 currency. */
import { z } from 'zod';
import { ID_PATTERN } from '../../commands/streams';
import { MAX_MINOR_UNITS, isCurrency } from '../../domain/shared/money';

export const id = z.string().regex(ID_PATTERN, 'use 1-100 letters, digits, "_" or "-"');

export const currency = z
  .string()
  .refine(isCurrency, 'must be an ISO 4217 currency code in upper case, e.g. EUR')
  .meta({ description: 'ISO 4217 code', example: 'EUR' });

export const minorUnits = z
  .number()
  .int('must be an integer number of minor units (cents), not a decimal')
  .min(0)
  .max(MAX_MINOR_UNITS)
  .meta({ description: "Integer amount in the currency's minor unit (cents for EUR, yen for JPY)" });

export const money = z.object({ amount: minorUnits, currency }).strict();

export const positiveMoney = z.object({ amount: minorUnits.refine((n) => n > 0, 'must be above zero'), currency }).strict();

export const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD');
