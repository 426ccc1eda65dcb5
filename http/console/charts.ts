/**
 * Server-rendered SVG charts for the console: pure functions from numbers to markup, no script,
 * no inline style (the console's CSP allows neither); colours come from the stylesheet through
 * the series' class (`s0`, `s1`, `s2`). Every text (titles, labels, formatted values) goes
 * through the `html` escaper. A chart is an image with a title and a description; its numbers are
 * always also shown as a table by the page (charts are not the only way to read them).
 */
import { html, type Html } from './html';

export interface Series {
  readonly name: string;
  /** One value per category, in the categories' order. */
  readonly values: readonly number[];
}

export interface ColumnChart {
  /** Accessible name of the image (also its tooltip). */
  readonly title: string;
  readonly categories: readonly string[];
  /** Up to three series, drawn side by side per category. */
  readonly series: readonly Series[];
  /** How a value reads (axis and bar tooltips): counts, money. */
  readonly format?: (n: number) => string;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
}

const W = 640;
const PAD = { left: 8, right: 8, top: 22, bottom: 34 };
const fmtDefault = (n: number) => String(n);

/** A round number at or above max (1, 2, 5 × 10^k), so the top of the axis reads well. */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * Columns per category (days), the series of a category side by side. Category labels are thinned
 * to at most ~12 so 90 days stay legible; each column carries its exact value as a tooltip.
 */
export function columnChart(c: ColumnChart): Html {
  const fmt = c.format ?? fmtDefault;
  const height = 220;
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const top = niceCeiling(Math.max(0, ...c.series.flatMap((s) => s.values)));
  const n = Math.max(1, c.categories.length);
  const slot = plotW / n;
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, c.series.length));
  const every = Math.max(1, Math.ceil(n / 12));
  const bars = c.categories.map((cat, i) =>
    c.series.map((s, k) => {
      const v = Math.max(0, s.values[i] ?? 0);
      const h = (v / top) * plotH;
      const x = PAD.left + i * slot + slot * 0.1 + k * barW;
      return html`<rect class="s${k}" x="${round(x)}" y="${round(PAD.top + plotH - h)}" width="${round(barW)}" height="${round(h)}"><title>${cat} · ${s.name}: ${fmt(v)}</title></rect>`;
    }),
  );
  const labels = c.categories.map((cat, i) => (i % every === 0 ? html`<text x="${round(PAD.left + i * slot + slot / 2)}" y="${height - PAD.bottom + 14}" text-anchor="middle">${shortLabel(cat)}</text>` : ''));
  const legend = c.series.map((s, k) => html`<rect class="s${k}" x="${PAD.left + k * 150}" y="4" width="10" height="10"></rect><text x="${PAD.left + k * 150 + 14}" y="13">${s.name}</text>`);
  return svg(
    c.title,
    `${c.series.map((s) => s.name).join(', ')} per ${c.categories.length} categories; the highest value is ${fmt(Math.max(0, ...c.series.flatMap((s) => s.values)))}`,
    height,
    html`${legend}<line class="axis" x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${W - PAD.right}" y2="${PAD.top + plotH}"></line><text class="tick" x="${W - PAD.right}" y="${PAD.top - 4}" text-anchor="end">${fmt(top)}</text>${bars}${labels}`,
  );
}

/** Horizontal bars for a few named counts (stages, statuses, decline reasons), each labelled with its value. */
export function barChart(c: { title: string; bars: readonly Bar[]; format?: (n: number) => string }): Html {
  const fmt = c.format ?? fmtDefault;
  const row = 24;
  const height = Math.max(1, c.bars.length) * row + 8;
  const labelW = 200;
  const valueW = 70;
  const plotW = W - labelW - valueW;
  const top = Math.max(1, ...c.bars.map((b) => b.value));
  const body = c.bars.map((b, i) => {
    const y = 4 + i * row;
    const w = (Math.max(0, b.value) / top) * plotW;
    return html`<text x="${labelW - 6}" y="${y + 15}" text-anchor="end">${clip(b.label, 30)}</text><rect class="s0" x="${labelW}" y="${y + 3}" width="${round(w)}" height="${row - 8}"><title>${b.label}: ${fmt(b.value)}</title></rect><text x="${round(labelW + w + 6)}" y="${y + 15}">${fmt(b.value)}</text>`;
  });
  return svg(c.title, c.bars.map((b) => `${b.label}: ${fmt(b.value)}`).join('; ') || 'No data', height, html`${body}`);
}

function svg(title: string, desc: string, height: number, body: Html): Html {
  const id = `chart-${slug(title)}`;
  return html`<svg class="chart" viewBox="0 0 ${W} ${height}" role="img" aria-labelledby="${id}-t ${id}-d" xmlns="http://www.w3.org/2000/svg"><title id="${id}-t">${title}</title><desc id="${id}-d">${desc}</desc>${body}</svg>`;
}

/** 2026-11-25 -> 11-25 (a day on the axis); other labels unchanged. */
function shortLabel(s: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) ? s.slice(5) : s;
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'x';
}

/** Every UTC day from `from` to `to` (YYYY-MM-DD, inclusive). */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); t <= end; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}
