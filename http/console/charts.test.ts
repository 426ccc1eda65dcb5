import { barChart, columnChart, daysBetween, niceCeiling } from './charts';

describe('console SVG charts', () => {
  test('a column chart: one bar per category and series, heights in proportion, exact values in tooltips, a legend', () => {
    const svg = columnChart({ title: 'Payments per day', categories: ['2026-11-01', '2026-11-02'], series: [{ name: 'Succeeded', values: [4, 2] }, { name: 'Failed', values: [1, 0] }] }).value;
    expect(svg).toMatch(/^<svg class="chart" viewBox="0 0 640 220" role="img" aria-labelledby="chart-payments-per-day-t chart-payments-per-day-d"/);
    expect(svg).toContain('<title id="chart-payments-per-day-t">Payments per day</title>');
    const rects = [...svg.matchAll(/<rect class="s(\d)" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"><title>([^<]*)<\/title>/g)].map((m) => ({ series: m[1], h: Number(m[2]), tip: m[3] }));
    expect(rects.map((r) => r.tip)).toEqual(['2026-11-01 · Succeeded: 4', '2026-11-01 · Failed: 1', '2026-11-02 · Succeeded: 2', '2026-11-02 · Failed: 0']);
    // the axis tops at 5 (nice ceiling of 4): 4 is 4/5 of the plot, 2 half of that
    expect(rects[0]!.h).toBeCloseTo(164 * 0.8, 0);
    expect(rects[2]!.h).toBeCloseTo(rects[0]!.h / 2, 0);
    expect(rects[3]!.h).toBe(0);
    expect(svg).toContain('>Succeeded</text>');
    expect(svg).toContain('>11-01</text>');
    expect(svg).not.toContain('style=');
  });

  test('values read through the given format (money), and 90 days keep a dozen axis labels', () => {
    const days = daysBetween('2026-09-01', '2026-11-29');
    expect(days).toHaveLength(90);
    const svg = columnChart({ title: 'Collected', categories: days, series: [{ name: 'Collected', values: days.map((_, i) => i * 100) }], format: (n) => `€${(n / 100).toFixed(2)}` }).value;
    expect(svg).toContain('<title>2026-11-29 · Collected: €89.00</title>');
    expect(svg).toContain('>€100.00</text>'); // the axis top: nice ceiling of 8900
    expect([...svg.matchAll(/text-anchor="middle">/g)].length).toBeLessThanOrEqual(12);
  });

  test('every text is escaped: titles, labels and series names from data cannot inject markup', () => {
    const evil = '<script>alert(1)</script>';
    const a = columnChart({ title: evil, categories: [evil], series: [{ name: evil, values: [1] }] }).value;
    const b = barChart({ title: evil, bars: [{ label: `"${evil}`, value: 3 }] }).value;
    for (const svg of [a, b]) {
      expect(svg).not.toContain('<script>');
      expect(svg).toContain('&lt;script&gt;');
    }
    expect(b).toContain('&quot;&lt;script&gt;');
  });

  test('a bar chart: one labelled bar per item, the largest full width, values beside them; empty data reads as such', () => {
    const svg = barChart({ title: 'Invoices by status', bars: [{ label: 'Open', value: 2 }, { label: 'Paid', value: 4 }] }).value;
    const widths = [...svg.matchAll(/<rect class="s0" x="200" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([185, 370]);
    expect(svg).toContain('<desc id="chart-invoices-by-status-d">Open: 2; Paid: 4</desc>');
    expect(barChart({ title: 'None', bars: [] }).value).toContain('<desc id="chart-none-d">No data</desc>');
  });

  test('nice ceilings', () => {
    expect([0, 0.3, 1, 4, 7, 10, 11, 8900, 25_000].map(niceCeiling)).toEqual([1, 0.5, 1, 5, 10, 10, 20, 10_000, 50_000]);
  });
});
