// ESLint flat config (`npm run lint`, and scripts/lint.test.ts in `npm test`): typescript-eslint's
// strict type-checked preset over every .ts file of the repository. Product code takes the preset
// whole (a few rule options below, each with its reason); tests, bench and scripts turn off the few
// rules listed at the end, each with its reason. Findings are fixed, not silenced: an
// `eslint-disable` comment must name its rule and say why, and an unused one is itself a finding.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'dist-bench/**', 'build/**', 'data/**', 'coverage/**', '.cache/**', '**/*.js', '**/*.cjs', '**/*.mjs'],
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // numbers print the same everywhere (ids, counts, minor units, ports); objects, nullish and
      // `any` in a template stay findings
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `(x) => res.end(x)` and `() => void promise` callbacks are idiomatic; a void value used
      // anywhere else (assigned, returned from a block, in a condition) stays a finding
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // a leading underscore is TypeScript's mark for "deliberately unused": a parameter an
      // interface requires, or a field dropped from a rest copy (`const { secret: _s, ...shown } = x`)
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // tests and what only tests use: test/ (drivers, simulators, support), *.cases.ts, bench/,
    // scripts/, and ops/opsFiles.ts (the readers the ops tests check the alert rules with)
    files: ['**/*.test.ts', '**/*.cases.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'ops/**/*.ts'],
    rules: {
      // a test states what it expects to be there; a wrong `!` fails the test where it stands
      '@typescript-eslint/no-non-null-assertion': 'off',
      // response bodies, fixtures and simulator payloads are parsed JSON (`any`); the assertions on
      // them are the type check
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // teardown guards a setup that failed halfway (`let svc: T` set in beforeAll, `svc?.stop()` in
      // afterAll): the type cannot say "maybe unset" without a `!` at every use in the tests
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // fakes and stubs implement async ports with synchronous bodies: `async` keeps the port's
      // shape (a throw becomes a rejection, as from the real adapter)
      '@typescript-eslint/require-await': 'off',
    },
  },
);
