/** The benchmarks start the service with the Node flags `npm start` uses, and summarize its CPU profile over the load only. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SERVICE_NODE_FLAGS, summarizeCpuProfile } from './service';

test('bench/service.ts runs the service with the same Node flags (and defaults) as `npm start`', () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')) as { scripts: Record<string, string> };
  const m = /node (.*) dist\/main\/server\.js/.exec(pkg.scripts.start!);
  expect(m).not.toBeNull();
  // `${SETTLE_HEAP_MB:-192}` is what npm's shell expands when SETTLE_HEAP_MB is unset
  const flags = m![1]!.split(/\s+/).map((f) => f.replace(/\$\{[A-Z_]+:-([^}]+)\}/, '$1'));
  expect(flags).toEqual(SERVICE_NODE_FLAGS);
});

test('summarizeCpuProfile counts only the samples from `fromMs` on (start-up left out)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-prof-test-'));
  const file = path.join(dir, 'x.cpuprofile');
  const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0 });
  fs.writeFileSync(
    file,
    JSON.stringify({
      nodes: [
        { id: 1, callFrame: frame('(root)'), hitCount: 0, children: [2, 3] },
        { id: 2, callFrame: frame('startUp'), hitCount: 2 },
        { id: 3, callFrame: frame('handleWebhook'), hitCount: 3 },
      ],
      // two start-up samples in the first 2 ms, then three of the load a second later (µs)
      samples: [2, 2, 3, 3, 3],
      timeDeltas: [1000, 1000, 1_000_000, 1000, 1000],
    }),
  );
  try {
    expect(summarizeCpuProfile(file, 2)).toEqual(['60.0 % handleWebhook', '40.0 % startUp']);
    expect(summarizeCpuProfile(file, 1, 500)).toEqual(['100.0 % handleWebhook']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
