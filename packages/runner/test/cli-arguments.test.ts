import { readFileSync } from 'node:fs';
import { main } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/main';
import { sink } from './output-sink';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await main(args, out, err);
  return { code, out: out.text(), err: err.text() };
}

/** The option names a command's help lists (`--name` at the start of an option line). */
function helpOptions(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )? *--([\w-]+)/gm)].map((m) => m[1]).sort();
}

describe('genview arguments', () => {
  it("each command's --help shows its own usage and exactly its own options", async () => {
    const helps = new Map<string, string>();
    for (const command of COMMANDS) {
      const { code, out, err } = await run([command.name, '--help']);
      expect(code, command.name).toBe(0);
      expect(err).toBe('');
      expect(out).toContain(`genview ${command.name} `);
      expect(helpOptions(out), command.name).toEqual(Object.keys(command.options).sort());
      helps.set(command.name, out);
    }
    expect(new Set(helps.values()).size).toBe(COMMANDS.length);
    expect(helps.get('train')).toContain('--resume');
    expect(helps.get('train')).not.toContain('--queue');
    expect(helps.get('worker')).toMatch(/--lock-ms MS/);
    expect(helps.get('worker')).toMatch(/--plugin SPEC/);
    expect(helps.get('report')).toMatch(/Spec \(YAML or JSON\):/);
    // -h, `help <command>` and --help after other arguments give the same text.
    expect((await run(['generate', '-h'])).out).toBe(helps.get('generate'));
    expect((await run(['help', 'eval-sweep'])).out).toBe(helps.get('eval-sweep'));
    expect((await run(['train', '--config', 'x.yaml', '--help'])).out).toBe(helps.get('train'));
  });

  it('the top-level help lists every command on one line, and the exit codes', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(out).toMatch(new RegExp(`^ {2}${command.name} +${command.summary.replace(/[.*+?^${}()|[\]\\`]/g, '\\$&')}$`, 'm'));
    expect(out).toMatch(/^ {2}130 +interrupted/m);
    expect(out).toMatch(/^ {2}2 +bad input/m);
    // No command: the same help on stderr, as a usage error.
    const bare = await run([]);
    expect(bare.code).toBe(2);
    expect(bare.out).toBe('');
    expect(bare.err).toBe(out);
  });

  it('--version and -v print the version in package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await run(['--version'])).toEqual({ code: 0, out: `${version}\n`, err: '' });
    expect((await run(['-v'])).out).toBe(`${version}\n`);
  });

  it('rejects an option of another command, naming where it belongs', async () => {
    const { code, out, err } = await run(['train', '--queue', 'redis://x:6379']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toBe(
      "genview: [BAD_ARGUMENT] genview train: --queue is an option of generate/worker/eval-sweep, not train. Fix: drop it, or run genview generate instead; genview train --help lists train's options.\n",
    );
    expect((await run(['worker', '--queue', 'redis://x:6379', '--resume'])).err).toMatch(/--resume is an option of train, not worker/);
    expect((await run(['eval', '--images', '3'])).err).toMatch(/--images is an option of fit-foreground, not eval/);
  });

  it('rejects unknown options with a suggestion, and stray positionals', async () => {
    const typo = await run(['train', '--confg', 'run.yaml']);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/\[BAD_ARGUMENT\] genview train: --confg is not an option of train\. Fix: did you mean --config\?/);
    expect((await run(['plugins', '-x'])).err).toMatch(/\[BAD_ARGUMENT\] genview plugins: -x is not an option of plugins/);
    const positional = await run(['train', 'run.yaml']);
    expect(positional.code).toBe(2);
    expect(positional.err).toMatch(/train takes no positional arguments, got "run\.yaml"\. Fix: pass a config file with --config \(genview train --config run\.yaml\)/);
    expect((await run(['plugins', 'loss', 'framework'])).err).toMatch(/plugins takes at most 1 \(KIND \| NAME \| PACKAGE\), got "framework"/);
    expect((await run(['--config', 'run.yaml'])).err).toMatch(/\[BAD_ARGUMENT\] "--config" comes before the command\. Fix: write the command first/);
  });

  it('--set without a value or without "=" is a coded error, not a stack trace', async () => {
    for (const [args, message] of [
      [['train', '--set'], /\[BAD_ARGUMENT\] genview train: --set needs a value\. Fix: write --set path=value \(e\.g\. --set trainer\.epochs=5\)/],
      [['eval', '--set', '--plain'], /--set needs a value, but the next argument is the option "--plain"/],
      [['generate', '--set', 'trainer'], /\[BAD_ARGUMENT\] genview generate: --set expects path=value, got "trainer"/],
      [['train', '--set', '=5'], /--set expects path=value, got "=5"/],
      [['train', '--config'], /--config needs a value\. Fix: write --config FILE/],
      [['train', '--resume=yes'], /--resume takes no value/],
      [['train', '--config', 'a.yaml', '--config', 'b.yaml'], /--config is given more than once/],
    ] as const) {
      const { code, err } = await run([...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(err, args.join(' ')).toMatch(message);
      expect(err).not.toMatch(/TypeError|\n\s+at /);
    }
  });

  it('checks counts before any work: --attempts, --concurrency, --lock-ms, --images', async () => {
    for (const [args, flag, value] of [
      [['generate', '--queue', 'redis://127.0.0.1:1', '--attempts', '0'], '--attempts', '0'],
      [['eval-sweep', '--queue', 'redis://127.0.0.1:1', '--runs', 'a', '--attempts', 'three'], '--attempts', 'three'],
      [['worker', '--queue', 'redis://127.0.0.1:1', '--concurrency', '1.5'], '--concurrency', '1.5'],
      [['worker', '--queue', 'redis://127.0.0.1:1', '--lock-ms', '-3'], '--lock-ms', '-3'],
      [['fit-foreground', '--encoder', 'random:1', '--out', 'x.safetensors', '--images', ''], '--images', ''],
    ] as const) {
      const { code, err } = await run([...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(err).toContain(`[BAD_ARGUMENT] genview ${args[0]}: ${flag} must be a whole number of at least 1, got "${value}".`);
    }
  });

  it('a missing required option names the command and an example', async () => {
    expect((await run(['worker'])).err).toMatch(/\[BAD_ARGUMENT\] genview worker: worker needs --queue\. Fix: e\.g\. genview worker --queue redis:/);
    expect((await run(['eval-sweep', '--queue', 'redis://x:1'])).err).toMatch(/eval-sweep needs --runs/);
    expect((await run(['report', '--out', 'r.html'])).err).toMatch(/\[BAD_ARGUMENT\] genview report: --spec is required/);
  });
});
