/** Where test/fixtures is: found upwards from this file, so code compiled elsewhere (the demo build) reads the same fixtures. */
import fs from 'node:fs';
import path from 'node:path';

export function fixturesDir(...sub: string[]): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', ...sub);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`no test/fixtures/${sub.join('/')} above ${__dirname}`);
  }
}
