import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { EngineConfig } from '../config/load.ts';
import type { CompiledFlow } from './compiled.ts';
import type { Problem } from '../schema/problem.ts';
import { loadFlowFile, type FlowPositions } from './load.ts';

/** A flow file is *.yaml or *.yml; `<flow>.test.yaml` holds tests, and dot folders (e.g. Kubernetes' ..data) are skipped. */
export function isFlowFile(name: string): boolean {
  return /\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name);
}

/** Lists flow files below a folder, following symlinks (ConfigMap mounts are symlinks), sorted for stable results. */
export async function listFlowFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(folder: string): Promise<void> {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(folder, entry.name);
      const info = entry.isSymbolicLink() ? await stat(full).catch(() => undefined) : entry;
      if (info?.isDirectory()) await walk(full);
      else if (info?.isFile() && isFlowFile(entry.name)) found.push(full);
    }
  }
  await walk(dir);
  return found.sort();
}

/** Files parsed at once: enough to overlap reads with parsing, few enough that a large folder does not thrash the GC. */
const LOAD_CONCURRENCY = 16;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface FileOutcome {
  file: string;
  flow?: CompiledFlow;
  positions?: FlowPositions;
  problems: Problem[];
}

export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  return rel.startsWith('..') ? file : rel;
}

/**
 * The rule that spans files: flow ids and routes are unique. `take` claims both for a flow, or returns the problem
 * to report at the clashing file's id or route when another flow already holds one of them.
 */
export class UniqueFlows {
  private readonly ids = new Map<string, CompiledFlow>();
  private readonly routes = new Map<string, CompiledFlow>();

  take(flow: CompiledFlow, positions: FlowPositions): Problem | undefined {
    const byId = this.ids.get(flow.id);
    const byRoute = this.routes.get(flow.route);
    if (byId) return { ...positions.id, message: `flow id "${flow.id}" is already used by ${byId.file}; flow ids are unique across the flows directory` };
    if (byRoute) return { ...positions.route, message: `route "${flow.route}" is already served by ${byRoute.file} (flow "${byRoute.id}"); give this flow another trigger.path` };
    this.ids.set(flow.id, flow);
    this.routes.set(flow.route, flow);
    return undefined;
  }
}

/** Loads many files; when two claim one id or route, the first in path order keeps it and the other fails. */
export async function loadFlowFiles(files: string[], config: EngineConfig, env: NodeJS.ProcessEnv = process.env): Promise<FileOutcome[]> {
  const outcomes: FileOutcome[] = await mapLimited(files, LOAD_CONCURRENCY, async (file) => {
    const result = await loadFlowFile(file, displayPath(file), config, env);
    return result.ok ? { file, flow: result.flow, positions: result.positions, problems: [] } : { file, problems: result.problems };
  });
  const unique = new UniqueFlows();
  for (const outcome of outcomes) {
    if (!outcome.flow) continue;
    const clash = unique.take(outcome.flow, outcome.positions!);
    if (clash) {
      outcome.problems.push(clash);
      outcome.flow = undefined;
    }
  }
  return outcomes;
}
