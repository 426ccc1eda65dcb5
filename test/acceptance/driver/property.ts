/**
 * What the random properties (invoices, bookings) share: the two ways they run the service, narrowed
 * by `ACCEPTANCE_VARIANT`, and the artifact a failing history leaves for its replay.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Settle } from './service';

const VARIANTS = [
  ['PostgreSQL + Kafka', 'postgres', 'kafka'],
  ['the embedded default: PGlite + in-process messaging', 'embedded', 'in-process'],
] as const;

/** Both variants, or the one `ACCEPTANCE_VARIANT` names (`kafka` or `embedded`: a long run of one variant, a replay on the right one). */
export function propertyVariants(): Array<(typeof VARIANTS)[number]> {
  const variant = process.env.ACCEPTANCE_VARIANT;
  return VARIANTS.filter(([, storage]) => !variant || variant === (storage === 'postgres' ? 'kafka' : 'embedded'));
}

/**
 * Writes `test-artifacts/acceptance-<property>-<time>.json` (the differences, how many histories the
 * service had seen before, its last 40 output lines, and the history: what a replay reads) and
 * returns the failure message: the differences, the history as readable lines, the replay command.
 */
export function failureReport<H>(property: 'invoices' | 'bookings', settle: Settle, h: H, describeHistory: (h: H) => string, problems: string[], played: number): string {
  const dir = path.resolve(__dirname, '../../../test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `acceptance-${property}-${Date.now()}.json`);
  fs.writeFileSync(file, JSON.stringify({ problems, historiesBefore: played, serviceOutput: settle.output.slice(-40), history: h }, null, 1));
  return `${problems.join('\n')}\n\nhistory:\n${describeHistory(h)}\n\nreplay: ACCEPTANCE_REPLAY=${file} npx jest test/acceptance/${property}`;
}
