/** The npm audit verdict (scripts/audit.cjs): high/critical fails, an unreachable service is reported, never passed silently. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- audit.cjs is the CommonJS script test.sh runs with node; the test loads that very file
const { judge } = require('./audit.cjs') as { judge: (r: unknown) => { ok: boolean | null; line: string } };

describe('npm audit verdict', () => {
  const report = (v: Record<string, number>, vulnerabilities: Record<string, { severity: string }> = {}) => ({
    auditReportVersion: 2,
    vulnerabilities,
    metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0, ...v } },
  });

  test('no advisories passes', () => {
    expect(judge(report({}))).toEqual({ ok: true, line: expect.stringContaining('no high or critical') });
  });
  test('low and moderate only pass, with their counts', () => {
    const v = judge(report({ low: 2, moderate: 1 }));
    expect(v.ok).toBe(true);
    expect(v.line).toContain('low 2, moderate 1');
  });
  test('a high or critical advisory fails and is named', () => {
    const v = judge(report({ high: 1, critical: 1 }, { 'some-lib': { severity: 'high' }, other: { severity: 'critical' }, meh: { severity: 'low' } }));
    expect(v.ok).toBe(false);
    expect(v.line).toContain('some-lib (high)');
    expect(v.line).toContain('other (critical)');
    expect(v.line).not.toContain('meh');
  });
  test('an unreachable advisory service is NOT CHECKED, with the reason', () => {
    const v = judge({ message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', statusCode: 405 });
    expect(v.ok).toBeNull();
    expect(v.line).toContain('NOT CHECKED');
    expect(v.line).toContain('405');
    expect(judge({ error: { code: 'ENOAUDIT', summary: 'Your configured registry does not support audit requests.' } }).ok).toBeNull();
  });
});
