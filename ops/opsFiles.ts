/**
 * Readers for the operations files (ops/prometheus/alerts.yml, ops/grafana/settle.json,
 * docs/operations.md) and the Prometheus exposition text, used by ops/ops.embedded.test.ts to
 * check that every metric they name is one Settle really exports. Pure functions over text.
 *
 * The rules file is YAML; `promtool check rules` proves it well-formed and its expressions valid.
 * These readers only pick out what the checks compare (alert names, `expr` values), from the
 * block layout Prometheus rule files use (`- alert:` items, `expr:` plain or `|` block scalars).
 */

/** Metric family names in a Prometheus text exposition (`# TYPE <name> <type>` lines). */
export function exportedFamilies(exposition: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** A name queried in PromQL is exported when it is a family, or a histogram/summary's series. */
export function isExported(name: string, families: ReadonlyMap<string, string>): boolean {
  if (families.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return false;
  const t = families.get(m[1]!);
  return t === 'histogram' || (t === 'summary' && m[2] !== 'bucket');
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);

/**
 * The metric names a PromQL expression selects: identifiers outside label matchers, strings,
 * ranges and grouping clauses that are not function calls, keywords or numbers. Grafana template
 * variables (`$__rate_interval`, `$tenant`) are not names.
 */
export function metricNamesOf(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const id = m[1]!;
    if (m[2] || KEYWORDS.has(id.toLowerCase())) continue;
    names.add(id);
  }
  return [...names].sort();
}

export interface RuleEntry {
  readonly alert: string;
  readonly expr: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** The alerting rules of a Prometheus rules file: name, expression and annotations. */
export function alertRules(yaml: string): RuleEntry[] {
  const lines = yaml.split('\n');
  const rules: Array<{ alert: string; expr: string; annotations: Record<string, string> }> = [];
  let current: (typeof rules)[number] | null = null;
  let inAnnotations = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const indent = line.length - line.trimStart().length;
    const alert = /^\s*- alert:\s*(\S+)\s*$/.exec(line);
    if (alert) {
      current = { alert: alert[1]!, expr: '', annotations: {} };
      rules.push(current);
      inAnnotations = -1;
      continue;
    }
    if (!current) continue;
    if (inAnnotations >= 0 && line.trim() && indent <= inAnnotations) inAnnotations = -1;
    const expr = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (expr && inAnnotations < 0) {
      const value = expr[2]!.trim();
      if (value === '|' || value === '>' || value === '|-' || value === '>-') {
        const body: string[] = [];
        while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.length - lines[i + 1]!.trimStart().length > expr[1]!.length)) body.push(lines[++i]!.trim());
        current.expr = body.join(value.startsWith('>') ? ' ' : '\n').trim();
      } else current.expr = unquote(value);
      continue;
    }
    if (/^\s*annotations:\s*$/.test(line)) {
      inAnnotations = indent;
      continue;
    }
    const kv = /^\s*([a-z_]+):\s*(.+)$/.exec(line);
    if (inAnnotations >= 0 && kv) current.annotations[kv[1]!] = unquote(kv[2]!.trim());
  }
  return rules;
}

function unquote(v: string): string {
  if (v.startsWith('"') && v.endsWith('"')) return JSON.parse(v) as string;
  if (v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  return v;
}

/** The rows of the first Markdown table under a heading (cells trimmed, header row first). */
export function markdownTable(markdown: string, heading: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#+\s/.test(l) && l.replace(/^#+\s*/, '').trim() === heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const rows: string[][] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^#+\s/.test(l)) break;
    if (!l.trim().startsWith('|')) {
      if (rows.length > 0) break;
      continue;
    }
    const cells = l.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
    if (cells.every((c) => /^:?-{3,}:?$/.test(c))) continue;
    rows.push(cells);
  }
  return rows;
}

/** Backquoted words of a table cell (`settle_outbox_backlog`, `SettleMessageKeyParked`). */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}
