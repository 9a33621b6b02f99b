import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

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

/** The flow files command-line targets name: each folder's flow files, each file itself; `missing`: targets not found. */
export async function flowFilesOf(targets: string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  for (const target of targets) {
    const info = await stat(target).catch(() => undefined);
    if (info?.isDirectory()) files.push(...(await listFlowFiles(target)));
    else if (info?.isFile()) files.push(target);
    else missing.push(target);
  }
  return { files, missing };
}

export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  return rel.startsWith('..') ? file : rel;
}
