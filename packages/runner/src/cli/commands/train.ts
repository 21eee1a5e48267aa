import { trainFromConfig } from '../../run/train';
import { defineCommand } from '../command';
import { configOption, helpOption, jsonOption, plainOption, pluginOption, setOption } from '../options';
import { formatResultsTable } from '../results-table';
import { configFrom, registryFrom, withProgress } from '../session';

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train a framework from a YAML config, then evaluate its encoder against the baselines',
  usage: ['train [--config run.yaml] [--set path=value ...] [--plugin SPEC ...] [--resume] [--plain] [--json]'],
  description: [
    "Trains the config's framework, checkpointing to outDir, then runs the configured evaluators on the",
    'trained encoder and the baselines. stdout gets the results table; metrics.jsonl, results.json and the',
    'checkpoints are in outDir.',
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
    const result = await withProgress(io, { plain: args.flag('plain') }, (events) => trainFromConfig(config, { events, registry, resume: args.flag('resume') }));
    let text = `\n${formatResultsTable(result)}\nmetrics: ${result.outDir}/metrics.jsonl · results: ${result.outDir}/results.json\n`;
    if (result.mcl) {
      const clustered = result.mcl.perStage.filter((s) => s.kmeans).map((s) => `${s.stage}: ${s.kmeans!.inertia.toPrecision(4)}`);
      text += `mcl: ${result.mcl.stages} stages in ${result.outDir}/stage-1..stage-${result.mcl.stages} (checkpoints, metrics, pseudo-labels.json)${clustered.length > 0 ? ` · k-means inertia by stage ${clustered.join(', ')}` : ''}\n`;
    }
    return { result, text };
  },
});
