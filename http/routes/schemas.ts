/** Request schemas shared by several routes. Money: integer minor units + ISO 4217 currency. */
import { z } from 'zod';
import { ID_PATTERN } from '../../commands/streams';
import { MAX_MINOR_UNITS, isCurrency } from '../../domain/shared/money';

export const id = z.string().regex(ID_PATTERN, 'use 1-100 letters, digits, "_" or "-"');

/** Every code isCurrency accepts (the domain's table), for the documents: all three upper-case letter codes, filtered. */
export const CURRENCY_CODES: readonly string[] = (() => {
  const out: string[] = [];
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  for (const a of letters) for (const b of letters) for (const c of letters) if (isCurrency(a + b + c)) out.push(a + b + c);
  return out;
})();

export const currency = z
  .string()
  .refine(isCurrency, 'must be an ISO 4217 currency code in upper case, e.g. EUR')
  .meta({ description: 'ISO 4217 code, upper case', example: 'EUR', pattern: '^[A-Z]{3}$', enum: [...CURRENCY_CODES] });

export const minorUnits = z
  .number()
  .int('must be an integer number of minor units (cents), not a decimal')
  .min(0)
  .max(MAX_MINOR_UNITS)
  .meta({ description: "Integer amount in the currency's minor unit (cents for EUR, yen for JPY)" });

export const money = z.object({ amount: minorUnits, currency }).strict();

export const positiveMoney = z.object({ amount: minorUnits.refine((n) => n > 0, 'must be above zero').meta({ exclusiveMinimum: 0 }), currency }).strict();

/*
 * Dates and instants: the grammar accepted is what every layer below parses the same way (the
 * JavaScript Date, PostgreSQL's date and timestamptz input). A value outside it used to reach
 * PostgreSQL and answer 500 (year 0000 does not exist there; an offset of +16:00 is beyond the
 * ±15:59 it accepts).
 *   date:    YYYY-MM-DD, a real day of the proleptic Gregorian calendar, years 0001 to 9999
 *   instant: a date, or an RFC 3339 date-time YYYY-MM-DDTHH:MM:SS[.fraction of 1-9 digits] followed
 *            by Z or an offset ±HH:MM of at most 14:00 (the widest real time zone, UTC+14)
 */
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** A real calendar day, years 0001-9999. */
export function isCalendarDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1 || mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  return daysInMonth !== undefined && d <= daysInMonth;
}

/** A date, or an RFC 3339 date-time with Z or an offset within ±14:00 (see above). */
export function isInstant(s: string): boolean {
  if (isCalendarDate(s)) return true;
  const m = DATE_TIME.exec(s);
  if (!m?.[1] || !isCalendarDate(m[1])) return false;
  const [h, min, sec] = [Number(m[2]), Number(m[3]), Number(m[4])];
  if (h > 23 || min > 59 || sec > 59) return false;
  if (m[5] === undefined) return true;
  const [oh, om] = [Number(m[6]), Number(m[7])];
  return om <= 59 && oh * 60 + om <= 14 * 60;
}

/** The JSON Schema of isCalendarDate: `format: date` (RFC 3339 full-date, calendar-valid) and years from 0001. */
export const DATE_PATTERN = '^(?!0000)\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$';

export const isoDate = z.string().refine(isCalendarDate, 'must be a date as YYYY-MM-DD (a real day, years 0001 to 9999)').meta({ format: 'date', pattern: DATE_PATTERN });

export const INSTANT_RULE = 'must be a date (YYYY-MM-DD) or an RFC 3339 date-time such as 2026-03-01T10:00:00Z or 2026-03-01T10:00:00+02:00 (years 0001 to 9999, offsets within ±14:00; write + as %2B in a query string)';

export const instant = z.string().max(40).refine(isInstant, INSTANT_RULE).meta({ description: 'YYYY-MM-DD or an RFC 3339 date-time (Z or an offset within ±14:00)', example: '2026-03-01T00:00:00Z' });
