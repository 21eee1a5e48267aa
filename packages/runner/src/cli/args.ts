import { parseArgs } from 'node:util';
import { GenviewError, closestNames } from '@genview/core';
import type { CliCommand, CommandArgs } from './command';

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function optionName(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/** True when the arguments ask for the command's help, wherever `--help` or `-h` stands before `--`. */
export function wantsHelp(args: string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/**
 * Parses one command's arguments against its own options. Every problem is a BAD_ARGUMENT GenviewError
 * naming the option, the command and the fix; an option of another command says which ones take it.
 */
export function parseCommandArgs(command: CliCommand, args: string[], commands: readonly CliCommand[]): CommandArgs {
  const options = command.options;
  const byShort = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name] as const] : [])));
  const { values, tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const seen = new Set<string>();
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const name = options[token.name] ? token.name : byShort.get(token.name);
    if (!name) throw unknownOption(command, token.rawName, commands);
    const option = options[name];
    if (option.type === 'boolean') {
      if (token.value !== undefined) {
        throw argumentError(command, `${token.rawName} takes no value (got "${token.rawName}=${token.value}").`, `write ${token.rawName} alone`);
      }
    } else if (token.value === undefined) {
      throw argumentError(command, `${token.rawName} needs a value.`, `write ${token.rawName} ${option.value ?? 'VALUE'}${example(name)}`);
    } else if (!token.inlineValue && /^-[A-Za-z-]/.test(token.value)) {
      throw argumentError(
        command,
        `${token.rawName} needs a value, but the next argument is the option "${token.value}".`,
        `give ${token.rawName} its value${example(name)}; a value that starts with a dash goes after "=" (${token.rawName}=${token.value})`,
      );
    }
    if (seen.has(name) && !option.multiple) {
      throw argumentError(command, `--${name} is given more than once.`, `give --${name} once`);
    }
    seen.add(name);
  }
  const maxPositionals = command.positionals?.max ?? 0;
  if (positionals.length > maxPositionals) {
    const extra = positionals[maxPositionals];
    const fix = /\.(ya?ml|json)$/i.test(extra)
      ? `pass a config file with --config (genview ${command.name} --config ${extra})`
      : `remove it, or see genview ${command.name} --help`;
    const takes = maxPositionals === 0 ? 'takes no positional arguments' : `takes at most ${maxPositionals} (${command.positionals?.name})`;
    throw argumentError(command, `${command.name} ${takes}, got "${extra}".`, fix);
  }
  for (const assignment of (values.set as string[] | undefined) ?? []) {
    if (assignment.indexOf('=') <= 0) {
      throw argumentError(command, `--set expects path=value, got "${assignment}".`, 'write e.g. --set trainer.epochs=5');
    }
  }
  return readers(command, values as Values, positionals);
}

function readers(command: CliCommand, values: Values, positionals: string[]): CommandArgs {
  const known = (name: string) => {
    if (!command.options[name]) throw new GenviewError('INTERNAL', `genview ${command.name} reads --${name}, which it does not declare.`);
    return values[name];
  };
  return {
    positionals,
    string: (name) => known(name) as string | undefined,
    flag: (name) => known(name) === true,
    list: (name) => known(name) as string[] | undefined,
    count: (name, fallback) => {
      const raw = known(name) as string | undefined;
      if (raw === undefined) return fallback;
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isInteger(n) || n < 1) {
        throw argumentError(command, `--${name} must be a whole number of at least 1, got "${raw}".`, `e.g. --${name} ${fallback}`);
      }
      return n;
    },
  };
}

function example(name: string): string {
  return name === 'set' ? ' (e.g. --set trainer.epochs=5)' : '';
}

function argumentError(command: CliCommand, problem: string, fix: string): GenviewError {
  return new GenviewError('BAD_ARGUMENT', problem, { where: `genview ${command.name}`, fix: `${fix}.`.replace(/\.\.$/, '.') });
}

function unknownOption(command: CliCommand, rawName: string, commands: readonly CliCommand[]): GenviewError {
  const bare = rawName.replace(/^-+/, '');
  const long = rawName.startsWith('--');
  const owners = commands.filter((c) => c !== command && Object.entries(c.options).some(([name, o]) => (long ? name === bare : o.short === bare)));
  if (owners.length > 0) {
    return argumentError(
      command,
      `${rawName} is an option of ${owners.map((c) => c.name).join('/')}, not ${command.name}.`,
      `drop it, or run genview ${owners[0].name} instead; genview ${command.name} --help lists ${command.name}'s options`,
    );
  }
  const names = Object.keys(command.options);
  const near = long ? closestNames(bare, names, 2).map(optionName) : [];
  return argumentError(
    command,
    `${rawName} is not an option of ${command.name}.`,
    `${near.length > 0 ? `did you mean ${near.join(' or ')}? ` : ''}genview ${command.name} --help lists its options`,
  );
}
