import { trainFromConfig } from '../../run/train';
import { TrainingInterrupted } from '../../trainer/trainer';
import { defineCommand } from '../command';
import { configOption, helpOption, jsonOption, plainOption, pluginOption, setOption } from '../options';
import { formatResultsTable, formatStagesLine } from '../results-table';
import { configFrom, registryFrom, withProgress } from '../session';
import { exitCodeFor, stopOnSignal } from '../signals';

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train a framework from a YAML config, then evaluate its encoder against the baselines',
  usage: ['train [--config run.yaml] [--set path=value ...] [--plugin SPEC ...] [--resume] [--plain] [--json]'],
  description: [
    "Trains the config's framework, checkpointing to outDir, then runs the configured evaluators on the",
    'trained encoder and the baselines. stdout gets the results table; metrics.jsonl, results.json and the',
    'checkpoints are in outDir. Ctrl-C (SIGINT) or SIGTERM finishes the step under way, writes a',
    'checkpoint and exits 130 (SIGINT) or 143 (SIGTERM) without evaluating; --resume continues from it',
    'exactly. A second signal exits at once (the last checkpoint written stays).',
  ].join('\n'),
  options: {
    config: configOption,
    set: setOption,
    plugin: pluginOption,
    resume: { type: 'boolean', help: 'continue from the last checkpoint in outDir (an MCL run: finished stages are loaded, not retrained)' },
    plain: plainOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const config = configFrom(args);
    const registry = await registryFrom(args, config);
    const stop = stopOnSignal((signal) => io.err.write(`\ngenview train: ${signal}: finishing the current step, then writing a checkpoint (send it again to exit at once).\n`));
    let result: Awaited<ReturnType<typeof trainFromConfig>>;
    try {
      result = await withProgress(io, { plain: args.flag('plain') }, (events) => trainFromConfig(config, { events, registry, resume: args.flag('resume'), stop: stop.signal }));
    } catch (error) {
      if (!(error instanceof TrainingInterrupted)) throw error;
      return { code: exitCodeFor(stop.received()), result: { interrupted: { atStep: error.atStep, totalSteps: error.totalSteps, stage: error.stage, outDir: error.outDir } }, notice: `genview train: ${error.message}\n` };
    } finally {
      stop.dispose();
    }
    let text = `\n${formatResultsTable(result)}\nmetrics: ${result.outDir}/metrics.jsonl · results: ${result.outDir}/results.json\n`;
    if (result.stages) text += `${formatStagesLine(result.stages, result.outDir)}\n`;
    return { result, text };
  },
});
