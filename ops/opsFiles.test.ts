import { alertRules, codeSpans, exportedFamilies, isExported, markdownTable, metricNamesOf } from './opsFiles';

describe('reading the operations files', () => {
  test('metric names of a PromQL expression: not functions, keywords, labels, strings, ranges, grouping or Grafana variables', () => {
    expect(metricNamesOf('sum by (endpoint) (increase(settle_webhooks_rejected_total{reason=~"invalid-signature|x"}[10m])) > 10')).toEqual(['settle_webhooks_rejected_total']);
    expect(metricNamesOf('max(settle_outbox_oldest_age_seconds) > 300 and max(settle_outbox_backlog) > 0')).toEqual(['settle_outbox_backlog', 'settle_outbox_oldest_age_seconds']);
    expect(metricNamesOf('histogram_quantile(0.99, sum by (le, route) (rate(settle_http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))')).toEqual(['settle_http_request_duration_seconds_bucket']);
    expect(metricNamesOf('a / on (x) group_left (y) b offset 5m unless c == bool 1e3')).toEqual(['a', 'b', 'c']);
  });

  test('exported families come from # TYPE lines; histogram series count as their family', () => {
    const f = exportedFamilies('# HELP x_total X\n# TYPE x_total counter\nx_total 1\n# TYPE h histogram\nh_bucket{le="1"} 0\n# TYPE s summary\n');
    expect([...f.keys()]).toEqual(['x_total', 'h', 's']);
    expect(isExported('s_sum', f)).toBe(true);
    expect(isExported('s_bucket', f)).toBe(false);
    expect(isExported('h_bucket', f)).toBe(true);
    expect(isExported('h_count', f)).toBe(true);
    expect(isExported('x_total_count', f)).toBe(false);
    expect(isExported('nope', f)).toBe(false);
  });

  test('alert rules: names, plain and block expressions, annotations', () => {
    const yaml = [
      'groups:',
      '  - name: g',
      '    rules:',
      '      - alert: One',
      '        expr: max(a) > 0',
      '        annotations:',
      '          summary: "one {{ $value }}"',
      "          runbook: 'docs/x.md#one'",
      '      - alert: Two',
      '        expr: |',
      '          b > 1',
      '          and',
      '          c',
      '        for: 5m',
    ].join('\n');
    expect(alertRules(yaml)).toEqual([
      { alert: 'One', expr: 'max(a) > 0', annotations: { summary: 'one {{ $value }}', runbook: 'docs/x.md#one' } },
      { alert: 'Two', expr: 'b > 1\nand\nc', annotations: {} },
    ]);
  });

  test('a Markdown table under its heading, and the code spans of a cell', () => {
    const md = '# Doc\n\n## Failures\n\nText.\n\n| a | b |\n| --- | --- |\n| `x` and `y` | 2 |\n\nAfter.\n\n## Other\n| z |\n';
    expect(markdownTable(md, 'Failures')).toEqual([['a', 'b'], ['`x` and `y`', '2']]);
    expect(codeSpans('`x` and `y`')).toEqual(['x', 'y']);
    expect(() => markdownTable(md, 'Missing')).toThrow('no heading');
  });
});
