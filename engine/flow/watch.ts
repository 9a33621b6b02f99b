import { watch as watchDir } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

/** What a reload has to look at again. `full`: recompile every flow even when its text is unchanged. */
export interface ReloadRequest {
  flows?: boolean;
  config?: boolean;
  full?: boolean;
}

export interface QueueOptions {
  /** quiet time after the last change before reloading: a git checkout touches many files at once */
  debounceMs: number;
  /** reload at the latest this long after the first change, even if changes keep coming */
  maxWaitMs: number;
}

/** Turns bursts of change notices into single reloads that never overlap. */
export class ReloadQueue {
  private pending: ReloadRequest | undefined;
  private firstAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private urgent = false;
  private closed = false;

  constructor(
    private readonly run: (request: ReloadRequest) => Promise<void>,
    private readonly options: QueueOptions,
  ) {}

  /** Asks for a reload; resolves once a reload that covers this request has finished. */
  request(request: ReloadRequest, immediate = false): Promise<void> {
    if (this.closed) return Promise.resolve();
    const p = this.pending ?? {};
    this.pending = { flows: p.flows || request.flows, config: p.config || request.config, full: p.full || request.full };
    if (!this.firstAt) this.firstAt = Date.now();
    this.urgent ||= immediate;
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.schedule();
    return done;
  }

  private schedule(): void {
    if (this.running || !this.pending || this.closed) return; // a running reload reschedules when it ends
    clearTimeout(this.timer);
    const wait = this.urgent ? 0 : Math.max(0, Math.min(this.options.debounceMs, this.firstAt + this.options.maxWaitMs - Date.now()));
    this.timer = setTimeout(() => void this.fire(), wait);
  }

  private async fire(): Promise<void> {
    const request = this.pending!;
    const waiters = this.waiters;
    this.pending = undefined;
    this.firstAt = 0;
    this.urgent = false;
    this.waiters = [];
    this.running = this.run(request).catch(() => undefined);
    await this.running;
    this.running = undefined;
    for (const resolve of waiters) resolve();
    this.schedule();
  }

  /** Drops what is pending and waits for a running reload to end. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    for (const resolve of this.waiters) resolve();
    this.waiters = [];
  }
}

export interface WatchTargets {
  flowsDir: string;
  configFile?: string;
}

const OPTIONS = { ignoreInitial: true, atomic: false, followSymlinks: true } as const;

/**
 * Watches the flows directory (every file: a Kubernetes ConfigMap swaps a `..data` symlink inside it), the directory
 * entry itself (a `flows -> release-N` symlink swap is only seen from its parent; the tree watcher is then started
 * again on the new target) and the config file with its folder. Every notice asks for a reload of what it concerns;
 * a flows reload rescans the whole directory, so no notice needs to say which file changed.
 */
export async function watchFiles(targets: WatchTargets, notify: (request: ReloadRequest) => void, onError: (err: unknown) => void): Promise<{ close(): Promise<void> }> {
  const flowsDir = resolve(targets.flowsDir);
  const parent = dirname(flowsDir);
  const watchers: FSWatcher[] = [];
  const start = async (paths: string | string[], options: Parameters<typeof watch>[1], onEvent: (path: string) => void): Promise<FSWatcher> => {
    const watcher = watch(paths, options);
    watcher.on('all', (_event, path) => onEvent(path));
    watcher.on('error', onError);
    await new Promise<void>((ready) => watcher.once('ready', ready));
    return watcher;
  };

  const target = () => realpath(flowsDir).catch(() => '');
  let treeTarget = await target();
  // watch the real folder: chokidar shares one fs watcher per path, so a watcher on the link would stay on the old target
  const watchTree = () => start(treeTarget || flowsDir, OPTIONS, () => notify({ flows: true }));
  let tree = await watchTree();
  let restarting = Promise.resolve();
  const entry = await start(parent, { ...OPTIONS, depth: 0, followSymlinks: false, ignored: (path: string) => path !== parent && path !== flowsDir }, (path) => {
    if (path !== flowsDir) return;
    notify({ flows: true });
    restarting = restarting
      .then(async () => {
        const now = await target();
        if (now === treeTarget) return;
        treeTarget = now;
        const old = tree;
        tree = await watchTree();
        await old.close();
        notify({ flows: true }); // anything written while the new watcher was starting
      })
      .catch(onError);
  });
  watchers.push(entry);
  let folder: ReturnType<typeof watchDir> | undefined;
  if (targets.configFile) {
    const file = resolve(targets.configFile);
    // the file itself (it may be a link to a file elsewhere), and its folder: chokidar loses a single file that is
    // replaced by a rename (editors' atomic save), and a ConfigMap swaps `..data` next to it
    watchers.push(await start(file, OPTIONS, () => notify({ config: true })));
    folder = watchDir(dirname(file), (name) => {
      if (name === basename(file) || name === null || name.startsWith('..')) notify({ config: true });
    });
    folder.on('error', onError);
  }

  return {
    async close() {
      folder?.close();
      await Promise.all(watchers.map((w) => w.close()));
      await restarting;
      await tree.close();
    },
  };
}
