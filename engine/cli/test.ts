import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CommandContext } from './main.ts';
import type { Test } from '../types/flow.ts';
import type { Problem } from '../schema/problem.ts';
import { displayPath, flowFilesOf } from '../flow/directory.ts';
import { loadFlowFiles } from '../flow/loader.ts';
import { readYamlFile } from '../schema/document.ts';
import { validateAgainst, flowTestsSchema } from '../schema/validate.ts';
import { formatProblem } from '../schema/problem.ts';
import { runFlowTest, type TestResult } from '../testing/run.ts';
import { junitReport } from '../testing/junit.ts';

/** Tests beside a flow: flows/booking.yaml has its extra tests in flows/booking.test.yaml. */
async function testsBeside(flowFile: string): Promise<{ tests: Test[]; problems: Problem[] }> {
  const file = flowFile.replace(/\.(ya?ml)$/, '.test.$1');
  if (!existsSync(file)) return { tests: [], problems: [] };
  const read = await readYamlFile(file, displayPath(file));
  if (!read.ok) return { tests: [], problems: read.problems };
  const problems = validateAgainst(flowTestsSchema, read.value, read.source);
  return problems.length > 0 ? { tests: [], problems } : { tests: (read.value as { tests: Test[] }).tests, problems: [] };
}

const flowFileCount = (n: number) => `${n} flow file${n === 1 ? '' : 's'}`;

/** `hooks test [paths]`: runs each flow's tests through the real interpreter; exit 1 on any failure. */
export const testCommand = {
  summary: 'run the flows\' tests (--reporter text|junit, --output <file> for the JUnit XML); exit 1 on any failure',
  options: { reporter: { type: 'string' as const, default: 'text' }, output: { type: 'string' as const } },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    if (values.reporter !== 'text' && values.reporter !== 'junit') {
      ctx.err('hooks test: --reporter must be text or junit');
      return 2;
    }
    const { files, missing } = await flowFilesOf(positionals.length > 0 ? positionals.map((p) => resolve(p)) : [ctx.config.flows.dir]);
    if (missing.length > 0) {
      ctx.err(`hooks test: ${displayPath(missing[0])}: no such file or folder`);
      return 2;
    }
    // a tests file stands for its flow
    const flowFiles = files.map((file) => file.replace(/\.test\.(ya?ml)$/, '.$1'));
    const results: TestResult[] = [];
    let broken = 0;
    let untested = 0;
    const printing = values.reporter === 'text' || Boolean(values.output);
    for (const outcome of await loadFlowFiles([...new Set(flowFiles)], ctx.config)) {
      const beside = await testsBeside(outcome.file);
      const problems = [...outcome.problems, ...beside.problems];
      if (problems.length > 0 || !outcome.flow) {
        broken++;
        for (const p of problems) ctx.out(`✗ ${formatProblem(p)}`);
        continue;
      }
      const tests = [...(outcome.flow.definition.tests ?? []), ...beside.tests];
      if (tests.length === 0) {
        untested++;
        if (printing) ctx.out(`${displayPath(outcome.file)}: no tests`);
      }
      for (const test of tests) {
        const result = await runFlowTest(ctx.config, outcome.flow, test);
        results.push(result);
        if (printing) {
          ctx.out(`${result.passed ? '✓' : '✗'} ${result.flow} › ${result.name}`);
          for (const diff of result.diffs) ctx.out(`    ${diff}`);
        }
      }
    }
    if (values.reporter === 'junit') {
      const xml = junitReport(results);
      if (values.output) await writeFile(String(values.output), xml);
      else ctx.out(xml.trimEnd());
    }
    const failed = results.filter((r) => !r.passed).length;
    if (printing) {
      const notes = [broken && `${flowFileCount(broken)} did not load`, untested && `${flowFileCount(untested)} had no tests`].filter(Boolean);
      ctx.out(`${results.length - failed} passed, ${failed} failed${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`);
    }
    return failed > 0 || broken > 0 ? 1 : 0;
  },
};
