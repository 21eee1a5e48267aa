import { GenviewError } from '@genview/core';
import { enqueueEvalSweep, formatEvalDeadLetters, formatEvalSweep } from '../../queue/eval-coordinator';
import { defineCommand } from '../command';
import { attemptsOption, helpOption, jsonOption, plainOption, pluginOption } from '../options';
import { registryFrom, withProgress } from '../session';

const EXAMPLE = 'e.g. genview eval-sweep --queue redis://localhost:6379 --runs runs/a,runs/b --evaluators knn,linear-probe --out sweep.json';

function names(value: string | undefined): string[] {
  return (value ?? '').split(',').map((r) => r.trim()).filter((r) => r.length > 0);
}

export const evalSweepCommand = defineCommand({
  name: 'eval-sweep',
  summary: 'evaluate many trained runs with `genview worker` processes on a Redis queue and collect one table',
  usage: ['eval-sweep --queue redis://host:port --runs runs/a,runs/b [--evaluators knn,linear-probe] [--out sweep.json] [--attempts 3] [--json]'],
  description: [
    'Enqueues one evaluation per run and evaluator (those already written for the run’s current',
    'checkpoint are skipped), waits for workers, and prints the table of results.',
  ].join('\n'),
  options: {
    queue: { type: 'string', value: 'URL', help: 'the Redis queue the workers take jobs from (required)' },
    runs: { type: 'string', value: 'DIRS', help: 'comma-separated run directories of `genview train` runs (required)' },
    evaluators: { type: 'string', value: 'NAMES', help: "comma-separated evaluators (default knn,linear-probe; options from each run's config)" },
    out: { type: 'string', short: 'o', value: 'FILE', help: 'also write the results table here (JSON); the dead-letter report goes beside it' },
    attempts: attemptsOption('evaluation'),
    plugin: pluginOption,
    plain: plainOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const queue = args.string('queue');
    const runs = names(args.string('runs'));
    if (!queue || runs.length === 0) {
      throw new GenviewError('BAD_ARGUMENT', `eval-sweep needs ${queue ? '--runs' : '--queue'}.`, { where: 'genview eval-sweep', fix: EXAMPLE });
    }
    const evaluators = args.string('evaluators') === undefined ? undefined : names(args.string('evaluators'));
    const attempts = args.count('attempts', 3);
    const registry = await registryFrom(args, undefined);
    const swept = await withProgress(io, { plain: args.flag('plain') }, (events) =>
      enqueueEvalSweep(runs, { connection: queue, events, registry, evaluators, out: args.string('out'), attempts }),
    );
    const text =
      `\n${formatEvalSweep(swept.report)}` +
      `${swept.jobsTotal} evaluations: ${swept.alreadyDone} already done, ${swept.completed} done by workers this run (${swept.jobsEnqueued} enqueued) in ${swept.seconds.toFixed(1)} s${swept.out ? ` · table: ${swept.out}` : ''}\n`;
    if (swept.deadLetters.length === 0) return { result: swept, text };
    return { code: 3, result: swept, text, notice: `genview: ${formatEvalDeadLetters(swept.deadLetters, swept.deadLetterFile ?? '')}` };
  },
});
