import { GenviewError } from '@genview/core';
import { runEvalWorker } from '../../queue/eval-worker';
import { runGenerateWorker, untilSignal } from '../../queue/worker';
import { defineCommand } from '../command';
import { helpOption, pluginOption } from '../options';
import { registryFrom, withProgress } from '../session';

export const workerCommand = defineCommand({
  name: 'worker',
  summary: 'take shard and evaluation jobs from a Redis queue until SIGTERM/SIGINT',
  usage: ['worker --queue redis://host:port [--concurrency 1] [--lock-ms 30000] [--plugin SPEC ...]'],
  description: [
    'Serves both queues from one process: the shards of `genview generate --queue` and the evaluations',
    'of `genview eval-sweep`. SIGTERM or Ctrl-C stops it after the current jobs (a second one abandons',
    'them; other workers retry them once their lock expires). Needs `npm install bullmq ioredis`.',
    'Jobs that name third-party plugins need the same --plugin modules as the coordinator.',
  ].join('\n'),
  options: {
    queue: { type: 'string', value: 'URL', help: 'the Redis queue to take jobs from (required)' },
    concurrency: { type: 'string', value: 'N', help: 'shards generated (and evaluations run) at once (default 1)' },
    'lock-ms': { type: 'string', value: 'MS', help: "job lock; a killed worker's job is retried after about this long (default 30000)" },
    plugin: pluginOption,
    help: helpOption,
  },
  async run(args, io) {
    const queue = args.string('queue');
    if (!queue) {
      throw new GenviewError('BAD_ARGUMENT', 'worker needs --queue.', { where: 'genview worker', fix: 'e.g. genview worker --queue redis://localhost:6379 --concurrency 1' });
    }
    const concurrency = args.count('concurrency', 1);
    const lockMs = args.count('lock-ms', 30_000);
    const registry = await registryFrom(args, undefined);
    await withProgress(io, { plain: true }, async (events) => {
      const settings = { connection: queue, events, registry, concurrency, lockDurationMs: lockMs, stalledIntervalMs: lockMs };
      const generateWorker = await runGenerateWorker(settings);
      const evalWorker = await runEvalWorker(settings).catch(async (error: unknown) => {
        await generateWorker.close();
        throw error;
      });
      const close = (force?: boolean) => Promise.all([generateWorker.close(force), evalWorker.close(force)]).then(() => undefined);
      io.err.write(`worker: taking shard and evaluation jobs from ${queue}; SIGTERM or Ctrl-C stops it after the current jobs.\n`);
      const signal = await untilSignal();
      io.err.write(`worker: ${signal}: finishing the current jobs, then exiting.\n`);
      // A second signal abandons the jobs: their locks expire and other workers run them again.
      const force = untilSignal().then(() => close(true));
      await Promise.race([close(), force]);
    });
    return {};
  },
});
