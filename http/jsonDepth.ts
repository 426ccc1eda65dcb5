import type { NextFunction, Request, Response } from 'express';
import { Problem } from './problem';

/**
 * Nesting limit of JSON bodies (API requests and verified webhooks). No legitimate Settle request
 * or provider event comes near it (Stripe and PayPal events nest about 6 to 10 levels); a body
 * nested thousands deep would otherwise reach recursive code (validation, text scans,
 * JSON.stringify when stored) and overflow the stack: a 500 for a client's mistake.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether a parsed JSON value nests objects/arrays deeper than `max`. Iterative: any depth is safe. */
export function jsonDepthExceeds(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, d] = top;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
  return false;
}

export function tooDeepProblem(): Problem {
  return new Problem(400, 'json-too-deep', 'JSON Nested Too Deeply', `The JSON body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep`, [], { maxDepth: MAX_JSON_DEPTH });
}

/** After express.json: a body nested deeper than MAX_JSON_DEPTH is a 400 problem before anything reads it. */
export function rejectDeepJson(req: Request, _res: Response, next: NextFunction): void {
  if (req.body !== null && typeof req.body === 'object' && jsonDepthExceeds(req.body)) throw tooDeepProblem();
  next();
}
