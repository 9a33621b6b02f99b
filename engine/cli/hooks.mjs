#!/usr/bin/env node
// The `hooks` command. The engine is TypeScript with no build step between git and production: each start compiles
// what changed into a bundle (engine/cli/bundle.mjs) and runs that, in place of tsx's loader, whose thread costs about
// 35 MB in every process. Where the bundle cannot be written (a read-only install), the sources run through tsx.
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { bundle, CompileError, mapStackTraces } from './bundle.mjs';

/**
 * A server's old generation, held to 20% over what it kept at its last full collection: by its own measure V8 lets it
 * grow up to several times that first, and keeps the pages. 3-7 MB less with 1,000 flows, no cost measured
 * (bench/README.md, "Start-up and memory at scale"). A V8 flag that takes effect while running, unlike the young
 * generation's size (--max-semi-space-size), which only node's command line sets. Not for the other commands: V8
 * would print to their output were the flag ever unknown. A value given to node (NODE_OPTIONS too) is left alone.
 */
function boundOldGeneration() {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (process.argv[2] === 'serve' && !/heap[-_]growing[-_]percent/.test(given)) setFlagsFromString('--heap-growing-percent=20');
}

/** The engine's main(): from the bundle, or through tsx where the cache cannot be written. */
async function load() {
  let file;
  try {
    file = await bundle();
  } catch (err) {
    if (!['EACCES', 'EPERM', 'EROFS'].includes(err?.code)) throw err;
    console.error('hooks: node_modules/.cache is not writable, so the sources run through tsx (slower start, about 35 MB more); run `hooks --version` once where it is writable (an image build) to prepare the bundle');
    const { register } = await import('tsx/esm/api');
    register();
    return (await import('./main.ts')).main;
  }
  mapStackTraces(file);
  return (await import(pathToFileURL(file).href)).main;
}

boundOldGeneration();
let main;
try {
  main = await load();
} catch (err) {
  if (!(err instanceof CompileError)) throw err;
  if (err.message) console.error(err.message);
  process.exitCode = 1;
}
if (main) process.exitCode = await main(process.argv.slice(2));
