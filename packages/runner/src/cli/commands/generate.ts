import { enqueueGenerate } from '../../queue/coordinator';
import { formatDeadLetters } from '../../queue/dead-letter';
import { generateFromConfig } from '../../run/generate';
import { defineCommand } from '../command';
import { attemptsOption, configOption, helpOption, jsonOption, plainOption, pluginOption, setOption } from '../options';
import { configFrom, registryFrom, withProgress } from '../session';

export const generateCommand = defineCommand({
  name: 'generate',
  summary: 'generate K views per image into a sharded view store (locally, or as jobs on a Redis queue)',
  usage: [
    'generate [--config run.yaml] [--set generate.viewsPerImage=2 ...] [--plugin SPEC ...] [--overwrite] [--plain] [--json]',
    'generate [--config run.yaml] ... --queue redis://host:port [--attempts 3]',
  ],
  description: [
    "Runs the config's generate section: a diffusion pipeline writes views of every training image into",
    'a view store, resuming the shards already written. With --queue the shards become jobs that',
    '`genview worker` processes take; this process waits for them and reports.',
  ].join('\n'),
  options: {
    config: configOption,
    set: setOption,
    plugin: pluginOption,
    overwrite: { type: 'boolean', help: 'delete the view store first instead of resuming it' },
    queue: {
      type: 'string',
      value: 'URL',
      help: 'enqueue one job per pending shard on Redis (BullMQ) and wait for workers\n(needs `npm install bullmq ioredis`)',
    },
    attempts: attemptsOption('shard job'),
    plain: plainOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const config = configFrom(args);
    const queue = args.string('queue');
    const attempts = args.count('attempts', 3);
    const registry = await registryFrom(args, config);
    const plain = args.flag('plain');
    const overwrite = args.flag('overwrite');
    if (queue) {
      const queued = await withProgress(io, { plain }, (events) => enqueueGenerate(config, { connection: queue, events, registry, overwrite, attempts }));
      const text = `\nview store ${queued.store}: ${queued.shardsCompleted} shards completed by workers this run (${queued.shardsTotal} in all, ${queued.shardsEnqueued} enqueued) in ${queued.seconds.toFixed(1)} s\n`;
      if (queued.deadLetters.length === 0) return { result: queued, text };
      const notice = `genview: ${formatDeadLetters({ store: queued.store, queue: '', storeHash: queued.storeHash, jobs: queued.deadLetters }, queued.deadLetterFile ?? '')}`;
      return { code: 3, result: queued, text, notice };
    }
    const result = await withProgress(io, { plain }, (events) => generateFromConfig(config, { events, registry, overwrite }));
    const rate = result.viewsWritten / Math.max(result.seconds, 1e-9);
    const text = `\nview store ${result.store}: ${result.shardsWritten} shards written this run (${result.shardsTotal} in all), ${result.viewsWritten} views in ${result.seconds.toFixed(1)} s (${rate.toFixed(1)} views/s)\n`;
    return { result, text };
  },
});
