import { parseArgs } from 'node:util';
import { EventBus, GenviewError, isGenviewError } from '@genview/core';
import { loadRunConfig } from '../config/load';
import { createRegistryWithPlugins } from '../config/plugins';
import type { RunConfig } from '../config/schema';
import { reportCommand } from '../report/report';
import { evaluateFromConfig } from '../run/evaluate';
import { DEFAULT_FIT_IMAGES, type FitForegroundRunResult, fitForegroundFromConfig } from '../run/fit-foreground';
import { type GenerateRunResult, generateFromConfig } from '../run/generate';
import { type TrainRunResult, trainFromConfig } from '../run/train';
import { enqueueGenerate } from '../queue/coordinator';
import { enqueueEvalSweep, formatEvalDeadLetters, formatEvalSweep } from '../queue/eval-coordinator';
import { runEvalWorker } from '../queue/eval-worker';
import { formatDeadLetters } from '../queue/dead-letter';
import { parseCount, runGenerateWorker, untilSignal } from '../queue/worker';
import { formatPluginList } from './plugins-command';
import { renderProgress } from './progress';
import { formatResultsTable } from './results-table';

const HELP = `genview — self-supervised learning with generative views

Usage:
  genview train   [--config run.yaml] [--set path=value ...] [--plugin SPEC ...] [--resume] [--plain]
  genview eval    [--config run.yaml] [--set path=value ...] [--plugin SPEC ...] [--checkpoint DIR]
  genview generate [--config run.yaml] [--set generate.viewsPerImage=2 ...] [--plugin SPEC ...] [--overwrite] [--queue redis://host:port [--attempts 3]]
  genview worker  --queue redis://host:port [--concurrency 1] [--lock-ms 30000]
  genview eval-sweep --queue redis://host:port --runs runs/a,runs/b [--evaluators knn,linear-probe] [--out sweep.json] [--attempts 3]
  genview fit-foreground [--config run.yaml] --encoder checkpoint:runs/x --out fg.safetensors [--images ${DEFAULT_FIT_IMAGES}]
  genview report   --spec report.yaml --out report.html
  genview plugins [KIND | NAME | PACKAGE] [--config run.yaml] [--plugin SPEC ...]

Options:
  --config FILE       YAML run config (every field has a default; see examples/configs)
  --set path=value    override one field, e.g. --set trainer.epochs=5 --set framework.name=byol
  --plugin SPEC       register third-party plugins from a module: a package name or a file (./my-plugins.mjs,
                      relative to the current directory); repeatable, loaded after the config's \`plugins:\` list
                      (whose relative paths resolve against the config file's directory). The module exports
                      \`plugins\` (an array made with definePlugin from @genview/core) or a default array or plugin
  --resume            continue from the last checkpoint in outDir (an MCL run: finished stages are loaded, not retrained)
  --overwrite         generate: delete the view store first instead of resuming it
  --queue URL         generate: enqueue one job per pending shard on Redis (BullMQ) and wait for workers;
                      worker: take shard and evaluation jobs from that queue until SIGTERM/SIGINT (needs \`npm install bullmq ioredis\`)
                      eval-sweep: enqueue one evaluation per run and evaluator, wait for workers, collect the results
  --attempts N        generate/eval-sweep --queue: tries per job before it goes to the dead-letter report (default 3)
  --concurrency N     worker: shards generated (and evaluations run) at once (default 1)
  --runs DIRS         eval-sweep: comma-separated run directories of \`genview train\` runs
  --evaluators NAMES  eval-sweep: comma-separated evaluators (default knn,linear-probe; options from each run's config)
  --lock-ms MS        worker: job lock; a killed worker's shard is retried after about this long (default 30000)
  --encoder NAME      fit-foreground: checkpoint:<run dir> (a trained run's encoder) or random:<seed>
  --out FILE          fit-foreground: where to write the foreground direction (safetensors); eval-sweep: the results table (JSON)
  --images N          fit-foreground: fit on the first N images of data.train (default ${DEFAULT_FIT_IMAGES})
  --plain             plain progress lines even on a terminal
  GENVIEW_BACKEND     force a TensorFlow.js backend (tfjs-node-gpu, tfjs-node, native, wasm, cpu)
`;

export async function main(argv: string[], out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'report') return reportCommand(rest, out, err);
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    out.write(HELP);
    return command ? 0 : 1;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        set: { type: 'string', multiple: true, short: 's' },
        plugin: { type: 'string', multiple: true },
        resume: { type: 'boolean', default: false },
        overwrite: { type: 'boolean', default: false },
        plain: { type: 'boolean', default: false },
        checkpoint: { type: 'string' },
        encoder: { type: 'string' },
        out: { type: 'string', short: 'o' },
        images: { type: 'string' },
        queue: { type: 'string' },
        attempts: { type: 'string' },
        concurrency: { type: 'string' },
        'lock-ms': { type: 'string' },
        runs: { type: 'string' },
        evaluators: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      out.write(HELP);
      return 0;
    }
    const events = new EventBus();
    // Built-in plugins plus the third-party ones the config's plugins: list and --plugin flags name.
    const registryFor = (config: RunConfig | undefined) => createRegistryWithPlugins(config?.plugins, { cliPlugins: values.plugin, configPath: values.config });
    switch (command) {
      case 'plugins': {
        const config = values.config ? loadRunConfig({ path: values.config, overrides: values.set }) : undefined;
        out.write(formatPluginList(await registryFor(config), positionals[0]));
        return 0;
      }
      case 'train': {
        const config = loadRunConfig({ path: values.config, overrides: values.set });
        const registry = await registryFor(config);
        const stop = renderProgress(events, { stream: out, plain: values.plain });
        events.on('backend', ({ chosen, tried }) => {
          out.write(`backend: ${chosen} (${tried.map((t) => `${t.name}: ${t.reason}`).join('; ')})\n`);
        });
        let result: TrainRunResult;
        try {
          result = await trainFromConfig(config, { events, registry, resume: values.resume });
        } finally {
          stop();
        }
        out.write(`\n${formatResultsTable(result)}\n`);
        out.write(`metrics: ${result.outDir}/metrics.jsonl · results: ${result.outDir}/results.json\n`);
        if (result.mcl) {
          const clustered = result.mcl.perStage.filter((s) => s.kmeans).map((s) => `${s.stage}: ${s.kmeans!.inertia.toPrecision(4)}`);
          out.write(
            `mcl: ${result.mcl.stages} stages in ${result.outDir}/stage-1..stage-${result.mcl.stages} (checkpoints, metrics, pseudo-labels.json)${clustered.length > 0 ? ` · k-means inertia by stage ${clustered.join(', ')}` : ''}\n`,
          );
        }
        return 0;
      }
      case 'generate': {
        const config = loadRunConfig({ path: values.config, overrides: values.set });
        const registry = await registryFor(config);
        if (values.queue) {
          const stopQueued = renderProgress(events, { stream: out, plain: values.plain });
          let queued: Awaited<ReturnType<typeof enqueueGenerate>>;
          try {
            queued = await enqueueGenerate(config, { connection: values.queue, events, registry, overwrite: values.overwrite, attempts: parseCount('--attempts', values.attempts, 3) });
          } finally {
            stopQueued();
          }
          out.write(
            `\nview store ${queued.store}: ${queued.shardsCompleted} shards completed by workers this run (${queued.shardsTotal} in all, ${queued.shardsEnqueued} enqueued) in ${queued.seconds.toFixed(1)} s\n`,
          );
          if (queued.deadLetters.length === 0) return 0;
          err.write(`genview: ${formatDeadLetters({ store: queued.store, queue: '', storeHash: queued.storeHash, jobs: queued.deadLetters }, queued.deadLetterFile ?? '')}`);
          return 3;
        }
        const stop = renderProgress(events, { stream: out, plain: values.plain });
        let result: GenerateRunResult;
        try {
          result = await generateFromConfig(config, { events, registry, overwrite: values.overwrite });
        } finally {
          stop();
        }
        const rate = result.viewsWritten / Math.max(result.seconds, 1e-9);
        out.write(
          `\nview store ${result.store}: ${result.shardsWritten} shards written this run (${result.shardsTotal} in all), ${result.viewsWritten} views in ${result.seconds.toFixed(1)} s (${rate.toFixed(1)} views/s)\n`,
        );
        return 0;
      }
      case 'worker': {
        if (!values.queue) {
          throw new GenviewError('INVALID_CONFIG', 'worker needs --queue.', { fix: 'e.g. genview worker --queue redis://localhost:6379 --concurrency 1' });
        }
        const stopWorker = renderProgress(events, { stream: out, plain: true });
        try {
          const settings = {
            connection: values.queue,
            events,
            concurrency: parseCount('--concurrency', values.concurrency, 1),
            lockDurationMs: parseCount('--lock-ms', values['lock-ms'], 30_000),
            stalledIntervalMs: parseCount('--lock-ms', values['lock-ms'], 30_000),
          };
          // One process serves both queues: shards of \`generate --queue\`, evaluations of \`eval-sweep\`.
          const generateWorker = await runGenerateWorker(settings);
          const evalWorker = await runEvalWorker(settings).catch(async (error: unknown) => {
            await generateWorker.close();
            throw error;
          });
          const close = (force?: boolean) => Promise.all([generateWorker.close(force), evalWorker.close(force)]).then(() => undefined);
          out.write(`worker: taking shard and evaluation jobs from ${values.queue}; SIGTERM or Ctrl-C stops it after the current jobs.\n`);
          const signal = await untilSignal();
          out.write(`worker: ${signal}: finishing the current jobs, then exiting.\n`);
          // A second signal abandons the jobs: their locks expire and other workers run them again.
          const force = untilSignal().then(() => close(true));
          await Promise.race([close(), force]);
        } finally {
          stopWorker();
        }
        return 0;
      }
      case 'eval-sweep': {
        const runs = (values.runs ?? '').split(',').map((r) => r.trim()).filter((r) => r.length > 0);
        if (!values.queue || runs.length === 0) {
          throw new GenviewError('INVALID_CONFIG', `eval-sweep needs ${values.queue ? '--runs' : '--queue'}.`, {
            fix: 'e.g. genview eval-sweep --queue redis://localhost:6379 --runs runs/a,runs/b --evaluators knn,linear-probe --out sweep.json',
          });
        }
        const evaluators = values.evaluators?.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
        const stop = renderProgress(events, { stream: out, plain: values.plain });
        let swept: Awaited<ReturnType<typeof enqueueEvalSweep>>;
        try {
          swept = await enqueueEvalSweep(runs, { connection: values.queue, events, evaluators, out: values.out, attempts: parseCount('--attempts', values.attempts, 3) });
        } finally {
          stop();
        }
        out.write(`\n${formatEvalSweep(swept.report)}`);
        out.write(
          `${swept.jobsTotal} evaluations: ${swept.alreadyDone} already done, ${swept.completed} done by workers this run (${swept.jobsEnqueued} enqueued) in ${swept.seconds.toFixed(1)} s${swept.out ? ` · table: ${swept.out}` : ''}\n`,
        );
        if (swept.deadLetters.length === 0) return 0;
        err.write(`genview: ${formatEvalDeadLetters(swept.deadLetters, swept.deadLetterFile ?? '')}`);
        return 3;
      }
      case 'fit-foreground': {
        const config = loadRunConfig({ path: values.config, overrides: values.set });
        if (!values.encoder || !values.out) {
          throw new GenviewError('INVALID_CONFIG', `fit-foreground needs ${values.encoder ? '--out' : '--encoder'}.`, {
            fix: 'e.g. genview fit-foreground --config run.yaml --encoder checkpoint:runs/x --out runs/x/fg.safetensors',
          });
        }
        const registry = await registryFor(config);
        const images = values.images === undefined ? undefined : Number(values.images);
        const stop = renderProgress(events, { stream: out, plain: values.plain });
        let result: FitForegroundRunResult;
        try {
          result = await fitForegroundFromConfig(config, { encoder: values.encoder, out: values.out, images, events, registry });
        } finally {
          stop();
        }
        const d = result.direction;
        const percent = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(1)} %`);
        out.write(
          `\nforeground direction ${result.out}: ${d.vector.length} dims from ${result.images} images in ${result.seconds.toFixed(1)} s\n` +
            `  threshold ${d.threshold.toPrecision(6)} · foreground fraction ${percent(d.foregroundFraction)} · explained variance ${percent(d.explainedVariance)}\n`,
        );
        return 0;
      }
      case 'eval': {
        const config = loadRunConfig({ path: values.config, overrides: values.set });
        const registry = await registryFor(config);
        const stop = renderProgress(events, { stream: out, plain: values.plain });
        try {
          await evaluateFromConfig(config, { events, registry, checkpointDir: values.checkpoint });
        } finally {
          stop();
        }
        return 0;
      }
      default:
        err.write(`genview: unknown command "${command}".\n${HELP}`);
        return 1;
    }
  } catch (error) {
    if (isGenviewError(error)) {
      err.write(`genview: ${error.message}\n`);
      return 2;
    }
    if (error instanceof TypeError && /parseArgs|Unknown option/i.test(String(error.message))) {
      err.write(`genview: ${error.message}\n${HELP}`);
      return 1;
    }
    throw error;
  }
}
