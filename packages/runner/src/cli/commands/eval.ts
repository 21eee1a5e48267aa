import { evaluateFromConfig } from '../../run/evaluate';
import { defineCommand } from '../command';
import { formatEvaluationsTable } from '../results-table';
import { configOption, helpOption, jsonOption, plainOption, pluginOption, setOption } from '../options';
import { configFrom, registryFrom, withProgress } from '../session';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: "evaluate a trained run's encoder from its last checkpoint",
  usage: ['eval [--config run.yaml] [--set path=value ...] [--plugin SPEC ...] [--checkpoint DIR] [--plain] [--json]'],
  description: [
    "Loads the last checkpoint of the config's run (outDir, or --checkpoint) and runs the configured",
    'evaluators on its encoder, then the baselines (eval.baselines: the untrained network with the run\'s',
    'seed, raw pixels). A multi-stage run (MCL): the integrated encoder of every stage, then each stage alone',
    '(eval.stages), then the baselines. stdout gets the results table (--json: every encoder\'s results).',
  ].join('\n'),
  options: {
    config: configOption,
    set: setOption,
    plugin: pluginOption,
    checkpoint: { type: 'string', value: 'DIR', help: "the run directory to load (default: the config's outDir)" },
    plain: plainOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const config = configFrom(args);
    const registry = await registryFrom(args, config);
    const dir = args.string('checkpoint') ?? config.outDir;
    const result = await withProgress(io, { plain: args.flag('plain') }, (events) => evaluateFromConfig(config, { events, registry, checkpointDir: dir }));
    return { result, text: `\n${formatEvaluationsTable(result.evaluations, `evaluated ${dir} (checkpoint step ${result.steps.join(', ')})`)}\n` };
  },
});
