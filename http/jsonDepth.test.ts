import { unstorableText } from './api';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from './jsonDepth';

const nested = (depth: number, leaf: unknown = 1): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
};

describe('JSON nesting depth (security issue #17, item 10)', () => {
  test('the limit counts containers: 64 is fine, 65 is too deep; scalars have depth 0', () => {
    expect(jsonDepthExceeds(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(jsonDepthExceeds(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(jsonDepthExceeds('x')).toBe(false);
    expect(jsonDepthExceeds({ a: [1, { b: null }], c: 'd' })).toBe(false);
  });

  test('iterative: 200,000 levels are checked without a stack overflow', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}1${']'.repeat(200_000)}`) as unknown;
    expect(jsonDepthExceeds(deep)).toBe(true);
  });

  test('the text scan is iterative too, and still names the first unstorable string in document order', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(100_000)}"ok"${'}'.repeat(100_000)}`) as unknown;
    expect(unstorableText(deep, 'body')).toBeNull();
    expect(unstorableText({ a: ['x', 'y\u0000'], b: '\u0000' }, 'body')).toBe('body.a.1');
    expect(unstorableText({ ['k\u0000']: 'v', b: '\u0000' }, 'body')).toBe('body');
    expect(unstorableText({ a: { b: '\ud800' } }, 'body')).toBe('body.a.b');
  });
});
