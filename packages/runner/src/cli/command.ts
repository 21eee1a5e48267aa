/** One option of one command, as its `--help` shows it and its parser reads it. */
export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  /** Repeatable (`--set a=1 --set b=2`). */
  multiple?: boolean;
  /** The value's placeholder in help: FILE, N, URL. */
  value?: string;
  /** One or more lines of help. */
  help: string;
}

/** Where a command writes: results to `out`, logs, progress and errors to `err`. */
export interface CliIO {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

/** A command's parsed arguments, read through typed getters (the parser has already checked names and values). */
export interface CommandArgs {
  positionals: string[];
  string(name: string): string | undefined;
  flag(name: string): boolean;
  list(name: string): string[] | undefined;
  /** A whole number of at least 1, or the fallback when the option is absent. */
  count(name: string, fallback: number): number;
}

/**
 * A command's outcome. `result` is what `--json` prints; `text` is the human form on stdout.
 * `code` other than 0 still prints both (e.g. a queue run with dead letters exits 3).
 */
export interface CommandOutcome {
  code?: number;
  result?: unknown;
  text?: string;
  /** Written to stderr after the results (e.g. the dead-letter report of a queue run). */
  notice?: string;
}

export interface CliCommand {
  name: string;
  /** The line in the top-level help. */
  summary: string;
  /** Usage lines without the leading `genview `. */
  usage: string[];
  /** What the command does, shown under the usage in its `--help`. */
  description: string;
  options: Record<string, CliOption>;
  /** How many positional arguments it takes (default none) and how its help names them. */
  positionals?: { max: number; name: string };
  /** Help text after the options (e.g. a spec format). */
  more?: string;
  run(args: CommandArgs, io: CliIO): Promise<CommandOutcome>;
}

export function defineCommand(command: CliCommand): CliCommand {
  return command;
}
