#!/usr/bin/env node
// The `hooks` command. The engine is TypeScript run through tsx's loader: no build step between git and production.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
