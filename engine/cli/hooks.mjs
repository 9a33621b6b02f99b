#!/usr/bin/env node
// The `hooks` command. The engine is TypeScript with no build step between git and production: each start compiles
// what changed into a bundle (engine/cli/bundle.mjs) and runs that, in place of tsx's loader, whose thread costs about
// 35 MB in every process. Where the bundle cannot be written (a read-only install), the sources run through tsx.
import { pathToFileURL } from 'node:url';
import { bundle, CompileError, mapStackTraces } from './bundle.mjs';

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

let main;
try {
  main = await load();
} catch (err) {
  if (!(err instanceof CompileError)) throw err;
  if (err.message) console.error(err.message);
  process.exitCode = 1;
}
if (main) process.exitCode = await main(process.argv.slice(2));
