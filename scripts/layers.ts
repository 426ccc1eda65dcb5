/**
 * The layer rule (ARCHITECTURE.md, "Layers"): which top-level folder may import which. Read with
 * the TypeScript compiler's own parser, so every `import`, `export … from`, `import()` and
 * `require()` of a relative module counts; test files are outside the rule (a test may reach
 * into any layer it pins).
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const LAYERS = ['domain', 'commands', 'projections', 'infrastructure', 'http', 'main'] as const;
export type Layer = (typeof LAYERS)[number];

/** What each layer may import besides itself. */
export const ALLOWED: Readonly<Record<Layer, readonly Layer[]>> = {
  domain: [],
  commands: ['domain'],
  projections: ['domain'],
  infrastructure: ['domain'],
  http: ['commands', 'projections', 'domain'],
  main: ['domain', 'commands', 'projections', 'infrastructure', 'http'],
};

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly from: Layer;
  readonly to: Layer;
  readonly specifier: string;
  /** The imported module, relative to the root, without extension (e.g. `infrastructure/sql/client`). */
  readonly target: string;
}

function layerOf(root: string, file: string): Layer | null {
  const first = path.relative(root, file).split(path.sep)[0];
  return (LAYERS as readonly string[]).includes(first ?? '') ? (first as Layer) : null;
}

/** The relative module specifiers of one source text, with their 1-based lines. */
export function importsOf(fileName: string, text: string): Array<{ specifier: string; line: number }> {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Array<{ specifier: string; line: number }> = [];
  const add = (lit: ts.Node) => {
    if (ts.isStringLiteralLike(lit)) out.push({ specifier: lit.text, line: sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node) && node.arguments.length === 1 && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) add(node.arguments[0]!);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) && !/\.d\.ts$/.test(e.name) && !/\.contract\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Every import that crosses the layers against ALLOWED, under root. */
export function layerViolations(root: string): Violation[] {
  const out: Violation[] = [];
  for (const layer of LAYERS) {
    const dir = path.join(root, layer);
    if (!fs.existsSync(dir)) continue;
    for (const file of sourceFiles(dir)) {
      for (const { specifier, line } of importsOf(file, fs.readFileSync(file, 'utf8'))) {
        if (!specifier.startsWith('.')) continue;
        const resolved = path.resolve(path.dirname(file), specifier);
        const to = layerOf(root, resolved);
        if (to === null || to === layer || ALLOWED[layer].includes(to)) continue;
        out.push({ file: path.relative(root, file).split(path.sep).join('/'), line, from: layer, to, specifier, target: path.relative(root, resolved).split(path.sep).join('/').replace(/\.(js|ts)$/, '') });
      }
    }
  }
  return out;
}

if (require.main === module) {
  const v = layerViolations(path.resolve(__dirname, '..'));
  for (const x of v) process.stdout.write(`${x.file}:${x.line} ${x.from} → ${x.to} (${x.target})\n`);
  process.exit(v.length === 0 ? 0 : 1);
}
