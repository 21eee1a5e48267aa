import { GenviewError, closestNames, isGenviewError } from '@genview/core';
import { parseCommandArgs, wantsHelp } from './args';
import type { CliCommand, CliIO } from './command';
import { evalCommand } from './commands/eval';
import { evalSweepCommand } from './commands/eval-sweep';
import { exportCommand } from './commands/export';
import { fitForegroundCommand } from './commands/fit-foreground';
import { generateCommand } from './commands/generate';
import { pluginsCommand } from './commands/plugins';
import { reportCommand } from './commands/report';
import { trainCommand } from './commands/train';
import { verifyCommand } from './commands/verify';
import { workerCommand } from './commands/worker';
import { formatCommandHelp, formatTopHelp } from './help';
import { runnerVersion } from './version';

/** Every `genview` command, in the order the top-level help lists them. */
export const COMMANDS: readonly CliCommand[] = [
  trainCommand,
  evalCommand,
  generateCommand,
  workerCommand,
  evalSweepCommand,
  fitForegroundCommand,
  reportCommand,
  verifyCommand,
  exportCommand,
  pluginsCommand,
];

/**
 * `genview <command> [options]`; resolves to the exit code (see EXIT_CODES in help.ts). Results go to
 * `out`, logs, progress and errors to `err`. A GenviewError exits 2 with its message; any other error
 * is a bug and is thrown to the caller (the bin prints its stack and exits 1).
 */
export async function main(argv: string[], out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  const io: CliIO = { out, err };
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    out.write(topic ? formatCommandHelp(topic) : formatTopHelp(COMMANDS));
    return 0;
  }
  if (name === '--version' || name === '-v') {
    try {
      out.write(`${runnerVersion()}\n`);
      return 0;
    } catch (error) {
      return reportError(error, io);
    }
  }
  if (!name) {
    err.write(formatTopHelp(COMMANDS));
    return 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) throw unknownCommand(name);
    if (wantsHelp(rest)) {
      out.write(formatCommandHelp(command));
      return 0;
    }
    const args = parseCommandArgs(command, rest, COMMANDS);
    const outcome = await command.run(args, io);
    if (command.options.json && args.flag('json')) out.write(`${JSON.stringify(outcome.result ?? null, jsonValue, 2)}\n`);
    else if (outcome.text) out.write(outcome.text);
    if (outcome.notice) err.write(outcome.notice);
    return outcome.code ?? 0;
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: CliIO): number {
  if (!isGenviewError(error)) throw error;
  io.err.write(`genview: ${error.message}\n`);
  return 2;
}

function unknownCommand(name: string): GenviewError {
  const near = closestNames(name, COMMANDS.map((c) => c.name), 2);
  const looksLikeOption = name.startsWith('-');
  return new GenviewError('BAD_ARGUMENT', looksLikeOption ? `"${name}" comes before the command.` : `unknown command "${name}".`, {
    fix: `${looksLikeOption ? 'write the command first, e.g. genview train --config run.yaml. ' : near.length > 0 ? `did you mean ${near.join(' or ')}? ` : ''}genview --help lists the commands (${COMMANDS.map((c) => c.name).join(', ')}).`,
  });
}

/** JSON for results that hold typed arrays (a fitted direction's vector) as plain arrays of numbers. */
function jsonValue(_key: string, value: unknown): unknown {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) ? Array.from(value as unknown as ArrayLike<number>) : value;
}
