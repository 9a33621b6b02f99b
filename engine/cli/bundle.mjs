// The engine's sources compiled at start, for engine/cli/hooks.mjs: esbuild bundles engine/cli/main.ts and the sources
// it imports (packages stay external) into node_modules/.cache/hooks/, named by a hash of every source's content, so an
// edited file is compiled again on the next start and an unchanged checkout reuses its bundle (about 10 ms to check).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, SourceMap } from 'node:module';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cache = join(root, 'node_modules', '.cache', 'hooks');
const require = createRequire(import.meta.url);
// what decides the output besides the sources: this file (the build options), tsconfig.json and esbuild's version
const BUILD_INPUTS = [relative(root, fileURLToPath(import.meta.url)), 'tsconfig.json', relative(root, require.resolve('esbuild/package.json'))];
const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' };
const STALE_MS = 10 * 60_000;

const sha = (data) => createHash('sha256').update(data).digest('hex');

/**
 * One hash over every file the bundle was made from ([path relative to root, sha256 of its content] pairs) and the
 * root itself: the bundle holds the sources' absolute paths (see sourcesPlugin), so a moved checkout builds anew.
 */
function bundleKey(sources) {
  const hash = createHash('sha256').update(`${root}\0`);
  const files = [...BUILD_INPUTS.map((path) => [path, sha(readFileSync(join(root, path)))]), ...[...sources].sort(([a], [b]) => (a < b ? -1 : 1))];
  for (const [path, digest] of files) hash.update(`${path}\0${digest}\0`);
  return hash.digest('hex').slice(0, 20);
}

/**
 * The bundled code runs from the cache folder, so `import.meta.url`, `.dirname` and `.filename` are replaced by the
 * source file's own: paths resolved from them (engine/schema/validate.ts requires ../../schemas/*.json) stay where
 * they were. Any other use of import.meta would silently resolve from the cache folder, so it fails the build.
 * Records the hash of each file as read, so the bundle is named after exactly what went into it.
 */
function sourcesPlugin(read) {
  return {
    name: 'hooks-sources',
    setup(build) {
      build.onLoad({ filter: /.*/ }, ({ path }) => {
        const loader = LOADERS[extname(path)];
        if (!loader) return { errors: [{ text: `${relative(root, path)}: no loader for ${extname(path) || 'files without extension'}` }] };
        const text = readFileSync(path, 'utf8');
        read.set(relative(root, path).split(sep).join('/'), sha(text));
        const meta = { url: pathToFileURL(path).href, dirname: dirname(path), filename: path };
        const errors = [];
        const contents = text.replace(/\bimport\.meta\b(?:\.(\w+))?/g, (match, name, offset) => {
          if (Object.hasOwn(meta, name)) return JSON.stringify(meta[name]);
          const before = text.slice(0, offset).split('\n');
          const location = { file: relative(root, path), line: before.length, column: before.at(-1).length, lineText: text.split('\n')[before.length - 1] };
          errors.push({ text: `${match} is not supported in the bundle engine/cli/bundle.mjs makes`, location });
          return match;
        });
        return errors.length ? { errors } : { contents, loader };
      });
    },
  };
}

/** Writes by renaming a finished file into place: a process starting at the same moment never reads half a file. */
function writeAtomically(file, data) {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, file);
}

/**
 * Other bundles (earlier edits, another checkout) go once 10 minutes old: a newer one may belong to a process still
 * starting. A running process has its bundle loaded and its map's text read (mapStackTraces).
 */
function prune(keep) {
  for (const name of readdirSync(cache)) {
    const file = join(cache, name);
    if (!name.startsWith('main-') || file === keep || `${keep}.map` === file) continue;
    const made = statSync(file, { throwIfNoEntry: false })?.mtimeMs; // another process may be pruning too
    if (made !== undefined && Date.now() - made > STALE_MS) rmSync(file, { force: true });
  }
}

/** A source the bundle cannot be made from; the message is empty where esbuild has printed where and why. */
export class CompileError extends Error {}

async function build() {
  const esbuild = await import('esbuild');
  const read = new Map();
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: ['engine/cli/main.ts'],
      bundle: true,
      packages: 'external',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // no keepNames (tsx's setting): it wraps every closure the engine creates per request in a __name() call. Names
      // are not minified; only one esbuild suffixed to avoid a clash (toLog2) reads differently in a stack trace.
      keepNames: false,
      sourcemap: 'linked',
      sourcesContent: false,
      outfile: join(cache, 'main.mjs'),
      write: false,
      logLevel: 'error',
      plugins: [sourcesPlugin(read)],
    });
  } catch (err) {
    throw Array.isArray(err?.errors) ? new CompileError('') : err;
  } finally {
    await esbuild.stop();
  }
  const file = join(cache, `main-${bundleKey(read)}.mjs`);
  const output = (ending) => result.outputFiles.find((f) => f.path.endsWith(ending));
  const code = output('.mjs').text;
  if (code.includes('__require(')) {
    // tsx lets an ES module call require(); in the bundle it would throw when called
    throw new CompileError('hooks: a source calls require() without defining it: use createRequire(import.meta.url)');
  }
  mkdirSync(cache, { recursive: true });
  writeAtomically(`${file}.map`, output('.mjs.map').contents);
  writeAtomically(file, code.replace(/\/\/# sourceMappingURL=main\.mjs\.map\s*$/, `//# sourceMappingURL=${basename(file)}.map\n`));
  writeAtomically(join(cache, 'sources.json'), JSON.stringify([...read.keys()]));
  prune(file);
  return file;
}

/** The bundle of the current sources: the cached one when none of the files it was made from changed, else a new one. */
export async function bundle() {
  try {
    const sources = JSON.parse(readFileSync(join(cache, 'sources.json'), 'utf8'));
    const file = join(cache, `main-${bundleKey(sources.map((path) => [path, sha(readFileSync(join(root, path), 'utf8'))]))}.mjs`);
    if (existsSync(file)) return file;
  } catch {
    // no bundle yet, or a source it was made from is gone
  }
  return build();
}

/**
 * Stack frames in the bundle name the .ts file and line they come from, as Node prints them with source maps on.
 * Node's own source-map support costs about 9 MB when enabled at start (the garbage of looking for a map in every
 * module loaded); this parses the bundle's map when the first stack through the bundle is formatted.
 */
export function mapStackTraces(file) {
  const bundleUrl = pathToFileURL(realpathSync(file)).href; // as stack frames name it, node_modules being a link or not
  const mapUrl = pathToFileURL(file).href; // the map's sources are relative to where esbuild wrote the bundle
  let mapText;
  try {
    mapText = readFileSync(`${file}.map`, 'utf8'); // 0.3 MB kept; the parsed map (about 6 MB) only once needed
  } catch {
    return; // no map: frames keep the bundle's positions
  }
  let map;
  const origin = (line, column) => {
    map ??= new SourceMap(JSON.parse(mapText));
    const found = map.findOrigin(line, column);
    return found?.fileName ? `${fileURLToPath(new URL(found.fileName, mapUrl))}:${found.lineNumber}:${found.columnNumber}` : undefined;
  };
  Error.prepareStackTrace = (error, sites) => {
    const frames = sites.map((site) => {
      const text = String(site);
      if (site.getFileName() !== bundleUrl) return text;
      const at = `${bundleUrl}:${site.getLineNumber()}:${site.getColumnNumber()}`;
      const mapped = origin(site.getLineNumber(), site.getColumnNumber());
      return mapped ? text.replace(at, mapped) : text;
    });
    // the format of Node's own: the error's toString, then one "    at" line per frame
    const header = Error.prototype.toString.call(error);
    return frames.length === 0 ? header : `${header}\n    at ${frames.join('\n    at ')}`;
  };
}
