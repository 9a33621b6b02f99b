import { readFile, stat } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { listFlowFiles } from '../flow/directory.ts';
import { readFlowDefinition, type FlowDefinitionFile, type UnreadableFlowFile } from './definitions.ts';
import { diffFlowSets, type FlowSetInput } from './diff.ts';
import { locateFlows, readFlowsAt, resolveBase } from './git.ts';
import type { Plan } from './render.ts';

export { GitError } from './git.ts';

export interface PlanOptions {
  /** the folder git is asked from (the config's folder) */
  cwd: string;
  /** the flows folder, absolute */
  flowsDir: string;
  /** the server's basePath, so routes read as callers see them */
  basePath: string;
  /** a git ref; default the merge base of HEAD with the default branch */
  base?: string;
}

/**
 * Compares the flows at a git ref with the working tree. Reads files as written: env references are never resolved,
 * and a file that cannot be read on either side is reported in `problems`, not fatal. Throws GitError when git cannot
 * answer (not a repository, unknown ref).
 */
export async function createPlan(options: PlanOptions): Promise<Plan> {
  const where = await locateFlows(options.cwd, options.flowsDir);
  const base = await resolveBase(where.root, options.base);
  const baseSet = toSet(await readFlowsAt(where.root, base.commit, where.dir));

  const onDisk = (await stat(options.flowsDir).catch(() => undefined))?.isDirectory() ? await listFlowFiles(options.flowsDir) : [];
  const headFiles = await Promise.all(
    onDisk.map(async (file) => {
      const path = [where.dir, relative(options.flowsDir, file).split(sep).join('/')].filter(Boolean).join('/');
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => err);
      return { path, text };
    }),
  );
  const headSet = toSet(headFiles);
  const diff = diffFlowSets(baseSet, headSet, { basePath: options.basePath });
  return { base, flowsDir: where.dir, ...diff };
}

function toSet(files: { path: string; text: string | Error }[]): FlowSetInput {
  const set: { files: FlowDefinitionFile[]; unreadable: UnreadableFlowFile[] } = { files: [], unreadable: [] };
  for (const { path, text } of files) {
    if (typeof text !== 'string') {
      set.unreadable.push({ file: path, problems: [{ file: path, line: 1, col: 1, path: '', message: `cannot be read: ${(text as NodeJS.ErrnoException).code ?? text.message}` }] });
      continue;
    }
    const read = readFlowDefinition(text, path);
    if (read.ok) set.files.push({ file: path, flow: read.flow });
    else set.unreadable.push({ file: path, id: read.id, problems: read.problems });
  }
  return set;
}
