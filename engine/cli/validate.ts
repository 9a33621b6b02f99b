import { resolve } from 'node:path';
import { displayPath, flowFilesOf } from '../flow/directory.ts';
import { loadFlowFiles, type FileOutcome } from '../flow/loader.ts';
import { formatProblem, type Problem } from '../schema/problem.ts';
import type { CommandContext } from './main.ts';

const FORMATS = ['text', 'json', 'github'] as const;

/** `hooks validate [paths]`: checks flow files the way the engine loads them; exit 1 when any fails. */
export const validateCommand = {
  summary: 'check flow files against the schema and the rules; exit 1 on any problem',
  options: { format: { type: 'string' as const, default: 'text' } },
  async run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number> {
    const format = values.format as (typeof FORMATS)[number];
    if (!FORMATS.includes(format)) {
      ctx.err(`hooks validate: --format must be one of ${FORMATS.join(', ')}`);
      return 2;
    }
    const { files, missing } = await flowFilesOf(positionals.length > 0 ? positionals.map((p) => resolve(p)) : [ctx.config.flows.dir]);
    const outcomes = await loadFlowFiles(files, ctx.config);
    const problems = [...missing.map(notFound), ...outcomes.flatMap((o) => o.problems)];
    // warnings (a file that loads but likely does not do what was meant) are printed, and never fail the check
    report(ctx, format, outcomes, problems, outcomes.flatMap((o) => o.warnings ?? []));
    return problems.length > 0 ? 1 : 0;
  },
};

function notFound(target: string): Problem {
  return { file: displayPath(target), line: 1, col: 1, path: '', message: 'no such file or folder' };
}

function report(ctx: CommandContext, format: string, outcomes: FileOutcome[], problems: Problem[], warnings: Problem[]): void {
  const failed = outcomes.filter((o) => o.problems.length > 0).length;
  const warned = warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : '';
  const summary = `${outcomes.length} file${outcomes.length === 1 ? '' : 's'} checked: ${outcomes.length - failed} valid, ${failed} with problems${warned}`;
  if (format === 'json') {
    ctx.out(
      JSON.stringify(
        {
          valid: problems.length === 0,
          files: outcomes.map((o) => ({ file: displayPath(o.file), valid: o.problems.length === 0, flow: o.flow?.id ?? null, problems: o.problems })),
          problems,
          warnings,
        },
        null,
        2,
      ),
    );
    return;
  }
  for (const p of problems) ctx.out(format === 'github' ? githubAnnotation(p) : formatProblem(p));
  for (const w of warnings) ctx.out(format === 'github' ? githubAnnotation(w, 'warning') : formatProblem({ ...w, message: `warning: ${w.message}` }));
  if (format === 'text') ctx.out(summary);
}

/** GitHub Actions workflow command: shows the problem on the line in the pull request's diff. */
function githubAnnotation(p: Problem, level: 'error' | 'warning' = 'error'): string {
  const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return `::${level} file=${prop(p.file)},line=${p.line},col=${p.col},title=${prop('hooks validate')}::${data(p.path ? `${p.path}: ${p.message}` : p.message)}`;
}
