import type { CliCommand } from './command';

export const EXIT_CODES = `Exit codes:
  0    success
  1    an unexpected failure (a bug or a crash; the message has the stack)
  2    bad input: an unknown command or option, a malformed value, an invalid config or spec,
       a missing file or plugin (the message names the problem and the fix)
  3    queue runs (generate --queue, eval-sweep): finished, but some jobs failed every attempt
       (listed in the dead-letter report)
  4    verify: damaged files remain (listed; after --repair only damaged checkpoints count)
  130  interrupted by Ctrl-C / SIGINT (a worker stopped by SIGINT or SIGTERM exits 0; train first
       writes a checkpoint that --resume continues)
  143  train stopped by SIGTERM, after writing its checkpoint
`;

/** `genview --help`: one line per command, then the global flags, environment and exit codes. */
export function formatTopHelp(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'genview — self-supervised learning with generative views',
    '',
    'Usage: genview <command> [options]      genview <command> --help for its options',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global:',
    '  -h, --help       this help',
    '  -v, --version    the @genview/runner version',
    '',
    'Output: results go to stdout (as one JSON document with --json), logs, progress and errors to stderr.',
    '',
    'Environment:',
    '  GENVIEW_BACKEND  force a TensorFlow.js backend (tfjs-node-gpu, tfjs-node, native, wasm, cpu)',
    '',
    EXIT_CODES,
  ].join('\n');
}

/** `genview <command> --help`: its usage, what it does, and its own options only. */
export function formatCommandHelp(command: CliCommand): string {
  const entries = Object.entries(command.options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : '    '}--${name}${option.value ? ` ${option.value}` : ''}`;
    return { flag, help: option.help.split('\n') };
  });
  const width = Math.max(...entries.map((e) => e.flag.length)) + 2;
  const lines = [
    'Usage:',
    ...command.usage.map((u) => `  genview ${u}`),
    '',
    command.description,
    '',
    'Options:',
    ...entries.flatMap((e) => e.help.map((line, i) => `  ${(i === 0 ? e.flag : '').padEnd(width)}${line}`)),
  ];
  if (command.more) lines.push('', command.more.trimEnd());
  lines.push('', 'Exit codes: 0 ok, 1 unexpected failure, 2 bad input (usage, option, config), 3 queue jobs failed, 130 interrupted.', '');
  return lines.join('\n');
}
