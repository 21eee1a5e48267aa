import {
  type Conditioning,
  type Dataset,
  EventBus,
  type GeneratedView,
  type Generator,
  GenviewError,
  type PluginRef,
  type Registry,
  Rng,
  type Tensor3D,
  selectBackend,
  tf,
} from '@genview/core';
import { type StoreMetaInput, ViewStore, type ViewToStore, type WriteShardResult, configHash } from '@genview/views';
import type { RunConfig } from '../config/schema';
import { createRegistryWithPlugins } from '../config/plugins';
import { withBundledModel } from '../bundled/tiny-unclip';
import { createRunnerServices } from './services';
import { firstItems } from './subset';

export interface GenerateRunOptions {
  events?: EventBus;
  registry?: Registry;
  /** Delete an existing store at the location first instead of resuming it. */
  overwrite?: boolean;
  /** Stop after this many shards (tests use it to simulate an interrupted run). */
  maxShards?: number;
}

export interface GenerateRunResult {
  store: string;
  shardsWritten: number;
  shardsTotal: number;
  viewsWritten: number;
  seconds: number;
}

function toPixels(image: Tensor3D): Uint8Array {
  const values = tf.tidy(() => tf.round(tf.mul(tf.clipByValue(image, 0, 1), 255)));
  const bytes = Uint8Array.from(values.dataSync());
  values.dispose();
  return bytes;
}

/**
 * `genview generate`: K generated views for every image of data.train, written shard by shard into a
 * view store. A shard is the unit of work and of atomicity: an interrupted run resumes at the first
 * incomplete shard, and every view is a function of (seed, index, k) alone, so a resumed or retried
 * shard has the same bytes as an uninterrupted run.
 */
export async function generateFromConfig(config: RunConfig, options: GenerateRunOptions = {}): Promise<GenerateRunResult> {
  const events = options.events;
  const settings = config.generate;
  const session = await openGenerateSession(config, options);
  const { store, dataset } = session;
  const pending = store.pendingShards();
  const total = store.completedShards().length + pending.length;
  const started = performance.now();
  let written = 0;
  let views = 0;
  try {
    for (const shard of pending.slice(0, options.maxShards ?? pending.length)) {
      views += (await session.writeShard(shard)).views;
      written++;
      const done = Math.min(dataset.info.size, (total - pending.length + written) * settings.shardSize);
      events?.emit('progress', { task: 'generate', done: done * settings.viewsPerImage, total: dataset.info.size * settings.viewsPerImage, unit: 'views' });
    }
  } finally {
    await session.dispose();
  }
  return { store: session.storeDir, shardsWritten: written, shardsTotal: total, viewsWritten: views, seconds: (performance.now() - started) / 1000 };
}

/**
 * Everything one generate run opens once (dataset, conditioning, generator, store), so that the
 * single-process loop above and a queue worker (src/queue) write a shard through the same code.
 */
export interface GenerateSession {
  readonly storeDir: string;
  readonly store: ViewStore;
  readonly dataset: Dataset;
  /** Generates one shard's views and writes them atomically (a no-op for a shard already complete). */
  writeShard(shard: number, onBatch?: (done: number, total: number) => void): Promise<{ views: number; result: WriteShardResult }>;
  dispose(): Promise<void>;
}

/** Where `genview generate` writes the store of a config. */
export function generateStoreDir(config: RunConfig): string {
  return config.generate.store ?? `${config.outDir}/views`;
}

/** The store meta of a run: a resumed or queued run must match it field for field. */
export function generateStoreMeta(config: RunConfig, info: Dataset['info'], generatorName: string): StoreMetaInput {
  const settings = config.generate;
  return {
    dataset: info.name,
    count: info.size,
    viewsPerImage: settings.viewsPerImage,
    shardSize: settings.shardSize,
    imageShape: info.imageShape,
    generator: { name: generatorName, configHash: configHash({ generator: settings.generator, conditioning: settings.conditioning, seed: config.seed }) },
    // The settings behind the hash, readable: a store says how its views were conditioned (sources,
    // proportions, noise and guidance rules) without the config that made it. Not compared on reopen.
    user: { generate: { generator: settings.generator, conditioning: settings.conditioning, seed: config.seed } },
  };
}

/** data.train limited to generate.limit, as every generate run sees it. */
export async function openGenerateDataset(config: RunConfig, registry: Registry, events: EventBus | undefined): Promise<{ dataset: Dataset; rng: Rng; events: EventBus }> {
  // Datasets and the conditioning's encoder make tensors; the generator itself runs on onnxruntime.
  await selectBackend({ events });
  const rng = new Rng(config.seed);
  const bus = events ?? new EventBus();
  const dataset = firstItems(await registry.create('dataset', config.data.train as PluginRef, { rng, events: bus, path: 'data.train' }), config.generate.limit);
  return { dataset, rng, events: bus };
}

export async function openGenerateSession(config: RunConfig, options: Pick<GenerateRunOptions, 'events' | 'registry' | 'overwrite'> = {}): Promise<GenerateSession> {
  const registry = options.registry ?? (await createRegistryWithPlugins(config.plugins));
  const settings = config.generate;
  const { dataset, rng: root, events } = await openGenerateDataset(config, registry, options.events);
  const context = { rng: root, events };
  // The adaptive strategy names its frozen encoder (checkpoint:<run dir>, random:<seed>, onnx:<folder>); the runner resolves it.
  const services = createRunnerServices({ config, imageShape: dataset.info.imageShape, registry, events });
  let generator: Generator | undefined;
  try {
    const withServices = { ...context, services };
    const conditioning = await registry.create('conditioning', settings.conditioning as PluginRef, { ...withServices, path: 'generate.conditioning' });
    generator = await registry.create('generator', await withBundledModel(settings.generator as PluginRef, 'generate.generator'), { ...withServices, path: 'generate.generator' });
    const storeDir = generateStoreDir(config);
    const store = await ViewStore.openOrCreate(storeDir, generateStoreMeta(config, dataset.info, generator.name), { overwrite: options.overwrite, events });
    const gen = generator;
    return {
      storeDir,
      store,
      dataset,
      async writeShard(shard, onBatch) {
        const stored = await generateShard(store, shard, dataset, conditioning, gen, root, settings.batchSize, settings.viewsPerImage, onBatch);
        return { views: stored.length, result: await store.writeShard(shard, stored) };
      },
      async dispose() {
        try {
          await gen.dispose?.();
        } finally {
          services.dispose();
        }
      },
    };
  } catch (error) {
    try {
      await generator?.dispose?.();
    } finally {
      services.dispose();
    }
    throw error;
  }
}

async function generateShard(
  store: ViewStore,
  shard: number,
  dataset: Dataset,
  conditioning: Conditioning,
  generator: Generator,
  root: Rng,
  batchSize: number,
  viewsPerImage: number,
  onBatch?: (done: number, total: number) => void,
): Promise<ViewToStore[]> {
  const { start, end } = store.shardRange(shard);
  const out: ViewToStore[] = [];
  for (let at = start; at < end; at += batchSize) {
    const indices = Int32Array.from({ length: Math.min(batchSize, end - at) }, (_, i) => at + i);
    const batch = await dataset.read(indices);
    try {
      const images = tf.unstack(batch.images) as Tensor3D[];
      try {
        for (let k = 0; k < viewsPerImage; k++) {
          // A fresh fork per (k) keeps each view's parameters a function of (seed, index, k) only.
          const view = { index: k, count: viewsPerImage };
          const params = await conditioning.decide({ indices, images: batch.images, captions: batch.captions, view }, root.fork(`generate:k${k}`));
          const generated: GeneratedView[] = await generator.generate(
            params.map((p, i) => ({
              ...p,
              image: images[i],
              index: indices[i] as number,
              // Text-conditioned sources fall back to the dataset's caption when the conditioning gives none.
              prompt: p.source === 'image' ? p.prompt : (p.prompt ?? batch.captions?.[i]),
            })),
          );
          if (generated.length !== indices.length) {
            throw new GenviewError('INTERNAL', `the generator returned ${generated.length} views for ${indices.length} requests.`, {
              where: 'generate.generator',
              fix: 'a generator must return one view per request, in order.',
            });
          }
          generated.forEach((view, i) => {
            out.push({ index: indices[i] as number, k, pixels: toPixels(view.image), params: view.params });
            view.image.dispose();
          });
        }
      } finally {
        for (const image of images) image.dispose();
      }
    } finally {
      batch.images.dispose();
    }
    onBatch?.(Math.min(at + batchSize, end) - start, end - start);
  }
  return out;
}
