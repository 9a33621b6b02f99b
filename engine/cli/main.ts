import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, type EngineConfig } from '../config/load.ts';
import { formatProblem } from '../schema/problem.ts';
import { validateCommand } from './validate.ts';
import { serveCommand } from './serve.ts';
import { logsCommand } from './logs.ts';
import { testCommand } from './test.ts';
import { replayCommand } from './replay.ts';
import { planCommand } from './plan.ts';
import { graphCommand } from './graph.ts';
import { subscriptionsCommand } from './subscriptions.ts';
import { urlCommand } from './url.ts';
import { pathsCommand } from './paths.ts';
import { tryCommand } from './try.ts';

export interface CommandContext {
  args: string[];
  config: EngineConfig;
  out: (line: string) => void;
  err: (line: string) => void;
}

interface Command {
  summary: string;
  /** the full `--help`: what it does and every option; the summary when absent */
  help?: string;
  options: ParseArgsConfig['options'];
  run(ctx: CommandContext, values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  validate: validateCommand,
  logs: logsCommand,
  test: testCommand,
  replay: replayCommand,
  plan: planCommand,
  graph: graphCommand,
  subscriptions: subscriptionsCommand,
  url: urlCommand,
  paths: pathsCommand,
  try: tryCommand,
};

const USAGE = `usage: hooks <command> [--config hooks.config.yaml] [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

--config <file>   the engine's configuration (default ./hooks.config.yaml, or HOOKS_CONFIG)`;

/** Runs one command and returns its exit code: 0 success, 1 the command found problems, 2 bad usage or config. */
export async function main(argv: string[], io = { out: (l: string) => console.log(l), err: (l: string) => console.error(l) }): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    io.out('hooks 0.1.0');
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`hooks: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options: { config: { type: 'string' }, help: { type: 'boolean' }, ...command.options } });
  } catch (err) {
    io.err(`hooks ${name}: ${(err as Error).message}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(command.help ?? `hooks ${name}: ${command.summary}`);
    return 0;
  }
  const loaded = await loadConfig(parsed.values.config as string | undefined);
  if (!loaded.ok) {
    for (const p of loaded.problems) io.err(formatProblem(p));
    return 2;
  }
  return command.run({ args: rest, config: loaded.config, out: io.out, err: io.err }, parsed.values, parsed.positionals);
}
