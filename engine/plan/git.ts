import { execFile, spawn } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { isFlowFile } from '../flow/directory.ts';

/** Something git could not do (not a repository, an unknown ref): the plan cannot be made. */
export class GitError extends Error {}

function run(args: string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile('git', args, { cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolvePromise(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new GitError('git is not installed or not on PATH'));
      reject(new GitError(stderr.trim().split('\n')[0] || err.message));
    });
  });
}

/** A path's real location, also when its last parts do not exist (a flows folder deleted in the working tree). */
async function realpathLoose(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await realpathLoose(parent), basename(path));
  }
}

export interface FlowsLocation {
  /** the repository's top folder */
  root: string;
  /** the flows folder relative to the root, with forward slashes; '' when the flows are the root */
  dir: string;
}

/** Finds the repository holding the config's folder, and where the flows folder is inside it. */
export async function locateFlows(configDir: string, flowsDir: string): Promise<FlowsLocation> {
  let top: string;
  try {
    top = (await run(['rev-parse', '--show-toplevel'], configDir)).trim();
  } catch (err) {
    throw new GitError(`${configDir} is not inside a git repository (${(err as Error).message})`);
  }
  const root = await realpathLoose(top);
  const dir = relative(root, await realpathLoose(flowsDir));
  if (dir.startsWith('..')) throw new GitError(`the flows folder ${flowsDir} is outside the git repository ${root}`);
  return { root, dir: dir.split(sep).join('/') };
}

export interface BaseRef {
  /** what was asked for, or how the default was chosen */
  ref: string;
  commit: string;
}

async function commitOf(root: string, ref: string): Promise<string | undefined> {
  try {
    return (await run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], root)).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The commit to compare with: `ref` when given, else the merge base of HEAD with the default branch (origin/HEAD,
 * else main, else master), which is what a pull request is compared with.
 */
export async function resolveBase(root: string, ref: string | undefined): Promise<BaseRef> {
  if (ref !== undefined) {
    const commit = ref.startsWith('-') ? undefined : await commitOf(root, ref);
    if (!commit) throw new GitError(`"${ref}" is not a commit, branch or tag in this repository`);
    return { ref, commit };
  }
  // origin/main and origin/master last: a CI checkout often has no local branch but the remote's
  for (const candidate of ['origin/HEAD', 'main', 'master', 'origin/main', 'origin/master']) {
    if (!(await commitOf(root, candidate))) continue;
    let commit: string;
    try {
      commit = (await run(['merge-base', 'HEAD', candidate], root)).trim();
    } catch (err) {
      throw new GitError(`no merge base of HEAD and ${candidate} (${(err as Error).message}); pass --base <ref>`);
    }
    return { ref: `merge-base of HEAD and ${candidate}`, commit };
  }
  throw new GitError('no default branch found (origin/HEAD, main, master, origin/main or origin/master); pass --base <ref>');
}

export interface GitFile {
  /** path from the repository root, forward slashes */
  path: string;
  text: string;
}

/** The flow files below `dir` at `commit`, read in one `git cat-file --batch`; the same files `hooks validate` reads. */
export async function readFlowsAt(root: string, commit: string, dir: string): Promise<GitFile[]> {
  const listing = await run(['ls-tree', '-r', '-z', '--full-tree', commit, '--', ...(dir ? [dir] : [])], root);
  const blobs: { path: string; object: string }[] = [];
  for (const entry of listing.split('\0')) {
    const match = /^(\d+) (\w+) ([0-9a-f]+)\t(.*)$/s.exec(entry);
    if (!match) continue;
    const [, mode, type, object, path] = match;
    if (type !== 'blob' || mode === '120000') continue;
    if (dir && !path.startsWith(`${dir}/`)) continue;
    const inside = dir ? path.slice(dir.length + 1) : path;
    if (inside.split('/').some((part) => part.startsWith('.')) || !isFlowFile(basename(path))) continue;
    blobs.push({ path, object });
  }
  if (blobs.length === 0) return [];
  const contents = await catFiles(root, blobs.map((b) => b.object));
  return blobs.map((b, i) => ({ path: b.path, text: contents[i] })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function catFiles(root: string, objects: string[]): Promise<string[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err) => reject(new GitError(err.message)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new GitError(stderr.trim() || `git cat-file exited with ${code}`));
      const out = Buffer.concat(chunks);
      const texts: string[] = [];
      let at = 0;
      for (let i = 0; i < objects.length; i++) {
        const eol = out.indexOf(0x0a, at);
        const header = out.subarray(at, eol).toString();
        const size = Number(header.split(' ')[2]);
        if (!Number.isInteger(size)) return reject(new GitError(`git cat-file: unexpected answer "${header}"`));
        texts.push(out.subarray(eol + 1, eol + 1 + size).toString('utf8'));
        at = eol + 1 + size + 1;
      }
      resolvePromise(texts);
    });
    child.stdin.end(objects.join('\n') + '\n');
  });
}
