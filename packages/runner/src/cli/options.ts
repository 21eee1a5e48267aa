import type { CliOption } from './command';

/** Options several commands share, so each command's help says the same thing about them. */

export const configOption: CliOption = {
  type: 'string',
  short: 'c',
  value: 'FILE',
  help: 'YAML run config (every field has a default; see examples/configs)',
};

export const setOption: CliOption = {
  type: 'string',
  short: 's',
  multiple: true,
  value: 'path=value',
  help: 'override one config field, e.g. --set trainer.epochs=5 --set framework.name=byol (repeatable)',
};

export const pluginOption: CliOption = {
  type: 'string',
  multiple: true,
  value: 'SPEC',
  help: [
    'register third-party plugins from a module: a package name or a file (./my-plugins.mjs, relative',
    "to the current directory); repeatable, loaded after the config's `plugins:` list (whose relative",
    "paths resolve against the config file's directory). The module exports `plugins` (an array made",
    'with definePlugin from @genview/core) or a default array or plugin',
  ].join('\n'),
};

export const plainOption: CliOption = { type: 'boolean', help: 'plain progress lines on stderr even on a terminal' };

export const jsonOption: CliOption = { type: 'boolean', help: 'print the results as one JSON document on stdout (logs and progress stay on stderr)' };

export const helpOption: CliOption = { type: 'boolean', short: 'h', help: "this command's help" };

export function attemptsOption(what: string): CliOption {
  return { type: 'string', value: 'N', help: `tries per ${what} before it goes to the dead-letter report (default 3)` };
}
