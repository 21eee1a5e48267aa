import { evaluateFromConfig } from '../../run/evaluate';
import { defineCommand } from '../command';
import { formatEvaluationsTable } from '../results-table';
import { configOption, helpOption, jsonOption, plainOption, pluginOption, setOption } from '../options';
import { configFrom, registryFrom, withProgress } from '../session';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: "evaluate a trained run's encoder from its last checkpoint",
  usage: ['eval [--config run.yaml] [--set path=value ...] [--plugin SPEC ...] [--checkpoint DIR | --encoder NAME] [--plain] [--json]'],
  description: [
    "Loads the last checkpoint of the config's run (outDir, or --checkpoint) and runs the configured",
    'evaluators on its encoder, then the baselines (eval.baselines: the untrained network with the run\'s',
    'seed, raw pixels). A multi-stage run (MCL): the integrated encoder of every stage, then each stage alone',
    '(eval.stages), then the baselines. stdout gets the results table (--json: every encoder\'s results).',
    '--encoder (eval.encoder) evaluates a frozen encoder instead of a checkpoint: onnx:<file>[?options]',
    '(any ONNX image model), safetensors:<file>, checkpoint:<run dir> or random:<seed>; then raw pixels.',
  ].join('\n'),
  options: {
    config: configOption,
    set: setOption,
    plugin: pluginOption,
    checkpoint: { type: 'string', value: 'DIR', help: "the run directory to load (default: the config's outDir)" },
    encoder: { type: 'string', value: 'NAME', help: 'evaluate this frozen encoder instead (eval.encoder), e.g. onnx:model.onnx?norm=imagenet' },
    plain: plainOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const given = configFrom(args);
    const encoder = args.string('encoder');
    const config = encoder === undefined ? given : { ...given, eval: { ...given.eval, encoder } };
    const registry = await registryFrom(args, config);
    const dir = args.string('checkpoint') ?? config.outDir;
    const result = await withProgress(io, { plain: args.flag('plain') }, (events) => evaluateFromConfig(config, { events, registry, checkpointDir: dir }));
    const title = config.eval.encoder === undefined ? `evaluated ${dir} (checkpoint step ${result.steps.join(', ')})` : `evaluated ${config.eval.encoder}`;
    return { result, text: `\n${formatEvaluationsTable(result.evaluations, title)}\n` };
  },
});
