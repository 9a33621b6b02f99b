/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. from `BENCH_PROFILE=<dir> npm run bench`): the share of
 * samples spent in each function (self time) and in each file or package, and optionally the inclusive share of
 * named functions.
 * Run: node --import tsx bench/profile-summary.ts <file.cpuprofile> [top=25] [function names for inclusive time...]
 * Every sample counts, start-up and idle time included (idle is reported and left out of the shares); profile a
 * long run (BENCH_SECONDS=20) so the load dominates.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const [file, topArg, ...inclusive] = process.argv.slice(2);
if (!file) {
  console.error('usage: bench/profile-summary.ts <file.cpuprofile> [top] [function names...]');
  process.exit(2);
}
const TOP = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/**
 * tsx compiles each TypeScript file to one minified line, so a profile's positions in engine files are columns of
 * that line: map them back to TypeScript lines through the source maps in tsx's compile cache (the entry whose
 * source text equals the file as it is now, else the newest one).
 */
const sourceMaps = new Map<string, SourceMap | null>();
let cache: { file: string; mtime: number }[] | undefined;
function sourceMapOf(path: string): SourceMap | null {
  if (sourceMaps.has(path)) return sourceMaps.get(path)!;
  if (!cache) {
    const dir = join(tmpdir(), `tsx-${userInfo().uid}`);
    try {
      cache = readdirSync(dir).map((f) => ({ file: join(dir, f), mtime: statSync(join(dir, f)).mtimeMs })).sort((a, b) => b.mtime - a.mtime);
    } catch {
      cache = [];
    }
  }
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // the file is gone: the newest cache entry for it, if any
  }
  let found: SourceMap | null = null;
  for (const entry of cache) {
    const text = readFileSync(entry.file, 'utf8');
    if (!text.includes(JSON.stringify(path))) continue;
    const { map } = JSON.parse(text) as { map?: { sources: string[]; sourcesContent?: string[] } };
    if (!map || map.sources[0] !== path) continue;
    if (!found) found = new SourceMap(map as never);
    if (map.sourcesContent?.[0] === current) {
      found = new SourceMap(map as never);
      break;
    }
  }
  sourceMaps.set(path, found);
  return found;
}

const bundleMaps = new Map<string, SourceMap | null>();

/** A position in the engine's bundle (engine/cli/bundle.mjs), as the .ts file and line it was compiled from. */
function unbundled(url: string, line: number, column: number): { url: string; line: number } | undefined {
  if (!/\/node_modules\/\.cache\/hooks\/main-[0-9a-f]+\.mjs$/.test(url)) return undefined;
  if (!bundleMaps.has(url)) {
    try {
      bundleMaps.set(url, new SourceMap(JSON.parse(readFileSync(`${url.replace(/^file:\/\//, '')}.map`, 'utf8'))));
    } catch {
      bundleMaps.set(url, null);
    }
  }
  const entry = bundleMaps.get(url)?.findEntry(line, column) as { originalSource?: string; originalLine?: number } | undefined;
  if (!entry?.originalSource) return undefined;
  return { url: new URL(entry.originalSource, url).href, line: entry.originalLine! + 1 };
}

function lineOf(url: string, line: number, column: number): number {
  const path = url.replace(/^file:\/\//, '');
  if (!path.endsWith('.ts')) return line + 1;
  const entry = sourceMapOf(path)?.findEntry(line, column) as { originalLine?: number } | undefined;
  return entry?.originalLine !== undefined ? entry.originalLine + 1 : line + 1;
}

const where = (url: string) => {
  if (!url) return '(native/V8)';
  const path = url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `pkg:${pkg[1]}`;
  if (path.startsWith('node:')) return path;
  return path.replace(/^.*?\/(engine|channels|bench)\//, '$1/');
};

/** coarse areas, to compare servers: where a sample's own (self) time goes */
function area(functionName: string, url: string): string {
  const w = where(url);
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (w.startsWith('engine/store') || w === 'pkg:better-sqlite3') return 'storage (SQLite writes, row building)';
  if (w === 'pkg:jsonata' || w.startsWith('engine/expr') || (w === 'pkg:@node-red/util' && functionName !== 'cloneMessage')) return 'JSONata and templates';
  if (/^node:internal\/modules|^node:internal\/deps\/cjs-module-lexer|^node:internal\/bootstrap/.test(w) || w === 'pkg:tsx' || w === 'pkg:esbuild' || w.startsWith('wasm:') || functionName === 'compileFunction') return 'start-up (module loading, compiling)';
  if (w.startsWith('pkg:') && !w.startsWith('pkg:@node-red') && !w.startsWith('pkg:node-red')) return 'HTTP framework and parsing (Fastify, Express, body parsers...)';
  if (/^node:(_http|net|internal\/stream|internal\/streams|stream)/.test(w) || functionName === 'writev' || functionName === 'writeUtf8String' || functionName === 'writeBuffer') return 'Node HTTP and sockets';
  if (w === '(native/V8)') return 'other V8/native (microtasks, JSON, builtins)';
  if (w.startsWith('node:')) return 'other Node internals (events, timers, promises...)';
  return 'the server\'s own code (engine pipeline, Node-RED runtime and nodes, bare handler)';
}

const self = new Map<string, number>();
const areas = new Map<string, number>();
const files = new Map<string, number>();
const inclusiveCount = new Map<string, number>();
let total = 0;
let idle = 0;
for (const id of profile.samples) {
  const node = byId.get(id)!;
  const { functionName, lineNumber, columnNumber } = node.callFrame;
  const original = unbundled(node.callFrame.url, lineNumber, columnNumber);
  const url = original?.url ?? node.callFrame.url;
  total++;
  if (functionName === '(idle)') {
    idle++;
    continue;
  }
  const key = `${functionName || '(anonymous)'} ${where(url)}${url ? `:${original?.line ?? lineOf(url, lineNumber, columnNumber)}` : ''}`;
  self.set(key, (self.get(key) ?? 0) + 1);
  files.set(where(url), (files.get(where(url)) ?? 0) + 1);
  const a = area(functionName, url);
  areas.set(a, (areas.get(a) ?? 0) + 1);
  if (inclusive.length) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = byId.get(cur)!.callFrame.functionName;
      if (inclusive.includes(name) && !seen.has(name)) {
        seen.add(name);
        inclusiveCount.set(name, (inclusiveCount.get(name) ?? 0) + 1);
      }
    }
  }
}
const busy = total - idle;
const pct = (n: number) => `${((n / busy) * 100).toFixed(1)}%`;
console.log(`${file}: ${total} samples, ${idle} idle (${((idle / total) * 100).toFixed(0)}%); shares below are of the ${busy} busy samples\n`);
console.log('self time by area:');
for (const [k, n] of [...areas].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(n).padStart(6)}  ${k}`);
console.log('\nself time by function:');
for (const [k, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${pct(n).padStart(6)}  ${k}`);
console.log('\nself time by file or package:');
for (const [k, n] of [...files].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${pct(n).padStart(6)}  ${k}`);
if (inclusive.length) {
  console.log('\ninclusive time (the function and everything it calls):');
  for (const name of inclusive) console.log(`  ${pct(inclusiveCount.get(name) ?? 0).padStart(6)}  ${name}`);
}
