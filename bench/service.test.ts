/** The benchmarks start the service with the Node flags `npm start` uses. */
import fs from 'node:fs';
import path from 'node:path';
import { SERVICE_NODE_FLAGS } from './service';

test('bench/service.ts runs the service with the same Node flags (and defaults) as `npm start`', () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')) as { scripts: Record<string, string> };
  const m = /node (.*) dist\/main\/server\.js/.exec(pkg.scripts.start!);
  expect(m).not.toBeNull();
  // `${SETTLE_HEAP_MB:-192}` is what npm's shell expands when SETTLE_HEAP_MB is unset
  const flags = m![1]!.split(/\s+/).map((f) => f.replace(/\$\{[A-Z_]+:-([^}]+)\}/, '$1'));
  expect(flags).toEqual(SERVICE_NODE_FLAGS);
});
