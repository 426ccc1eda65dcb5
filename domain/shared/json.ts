/**
 * Reading untrusted provider JSON (webhook bodies, listed provider objects) without `any`: a value
 * is an object or not, and a path through it either leads somewhere or gives `undefined`.
 */
export type JsonObject = Readonly<Record<string, unknown>>;

export const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null;

/** The value at a path of object keys and array indexes, `undefined` where the path breaks off. */
export function jsonAt(v: unknown, ...path: ReadonlyArray<string | number>): unknown {
  let cur = v;
  for (const k of path) {
    if (!isJsonObject(cur)) return undefined;
    cur = (cur as Readonly<Record<string | number, unknown>>)[k];
  }
  return cur;
}

/** A string or number field as text (ids, timestamps, statuses), `''` for anything else. */
export const jsonText = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
