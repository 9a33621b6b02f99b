import type { TestResult } from './run.ts';

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JUnit XML, one suite per flow, as CI systems show test results. */
export function junitReport(results: TestResult[]): string {
  const byFlow = new Map<string, TestResult[]>();
  for (const r of results) byFlow.set(r.flow, [...(byFlow.get(r.flow) ?? []), r]);
  const failures = results.filter((r) => !r.passed).length;
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="hooks test" tests="${results.length}" failures="${failures}">`];
  for (const [flow, tests] of byFlow) {
    const failed = tests.filter((t) => !t.passed).length;
    const time = tests.reduce((sum, t) => sum + t.durationMs, 0);
    lines.push(`  <testsuite name="${escape(flow)}" file="${escape(tests[0].file)}" tests="${tests.length}" failures="${failed}" time="${seconds(time)}">`);
    for (const t of tests) {
      const open = `    <testcase classname="${escape(flow)}" name="${escape(t.name)}" file="${escape(t.file)}" time="${seconds(t.durationMs)}"`;
      if (t.passed) lines.push(`${open}/>`);
      else lines.push(`${open}>`, `      <failure message="${escape(t.diffs[0] ?? 'failed')}">${escape(t.diffs.join('\n'))}</failure>`, '    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
