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
 * Loads many files and applies the rules that span files: flow ids and routes are unique. When two files claim one
 * id or route, the first keeps it (in `keep` order: the live one during a reload, else path order) and the other fails.
 */
export async function loadFlowFiles(files: string[], config: EngineConfig, env: NodeJS.ProcessEnv = process.env, keep: (a: CompiledFlow, b: CompiledFlow) => number = () => 0): Promise<FileOutcome[]> {
  const outcomes: FileOutcome[] = await mapLimited(files, LOAD_CONCURRENCY, async (file) => {
    const result = await loadFlowFile(file, displayPath(file), config, env);
    return result.ok ? { file, flow: result.flow, positions: result.positions, problems: [] } : { file, problems: result.problems };
  });
  const loaded = outcomes.filter((o) => o.flow).sort((a, b) => keep(a.flow!, b.flow!));
  const ids = new Map<string, CompiledFlow>();
  const routes = new Map<string, CompiledFlow>();
  for (const outcome of loaded) {
    const flow = outcome.flow!;
    const byId = ids.get(flow.id);
    const byRoute = routes.get(flow.route);
    if (byId || byRoute) {
      const message = byId
        ? `flow id "${flow.id}" is already used by ${byId.file}; flow ids are unique across the flows directory`
        : `route "${flow.route}" is already served by ${byRoute!.file} (flow "${byRoute!.id}"); give this flow another trigger.path`;
      outcome.problems.push({ ...(byId ? outcome.positions!.id : outcome.positions!.route), message });
      outcome.flow = undefined;
      continue;
    }
    ids.set(flow.id, flow);
    routes.set(flow.route, flow);
  }
  return outcomes;
}
