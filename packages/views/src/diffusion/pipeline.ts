import { type GeneratedView, type GenerationRequest, GenviewError, Rng, type Tensor3D } from '@genview/core';
import { ClipTokenizer } from '../text/clip-tokenizer';
import { type ExecutionProvider, type InputSpec, type OrtModule, type OrtSession, type OrtTensor, hasInput, loadOnnxRuntime, openSession, requireInput, runOne, staticDim } from './onnx-runtime';
import { type PipelineFolder, readPipelineFolder } from './pipeline-folder';
import { type DiffusionScheduler, type SchedulerKind, createScheduler, img2imgStart, parseSchedulerConfig, timestepEmbedding } from './schedulers';
import { concatRows, floatTensor, fromChannelsFirst, integerTensor, readFloats, toChannelsFirst } from './tensors';

export interface DiffusionPipelineOptions {
  executionProvider?: ExecutionProvider;
  threads?: number;
  /** Denoising steps when a request does not say. */
  steps?: number;
  /** Classifier-free guidance scale when a request does not say; 1 turns guidance off. */
  guidanceScale?: number;
  /** Overrides the scheduler class of scheduler_config.json (its betas and spacing are kept). */
  scheduler?: SchedulerKind;
  /** Requests denoised together in one UNet batch. */
  batchSize?: number;
}

interface UNetSpecs {
  sample: InputSpec;
  timestep: InputSpec;
  hidden?: InputSpec;
  classLabels?: InputSpec;
}

const CONDITIONING_CACHE_LIMIT = 256;

/**
 * An image-embedding-conditioned (unCLIP) diffusion pipeline in the standard ONNX export layout, run on
 * onnxruntime-node. Every view depends only on its request (seed, source, noise level, guidance,
 * strength, prompt), not on what it is batched with, so stored views can be regenerated one by one.
 */
export class OnnxDiffusionPipeline {
  private readonly textSessions: { encoder?: OrtSession; tokenizer?: ClipTokenizer } = {};
  private imageEncoder?: OrtSession;
  private vaeEncoder?: OrtSession;
  private readonly promptCache = new Map<string, Float32Array>();
  private readonly noisingAlphas?: Float64Array;
  /** Milliseconds spent in each part since load (or the last resetTimings), for benchmarks. */
  readonly timings: Record<string, number> = {};

  private constructor(
    readonly folder: PipelineFolder,
    private readonly ort: OrtModule,
    private readonly unet: OrtSession,
    private readonly unetSpecs: UNetSpecs,
    private readonly vaeDecoder: OrtSession,
    readonly options: Required<Omit<DiffusionPipelineOptions, 'scheduler'>> & { scheduler?: SchedulerKind },
    /** Latent [C, h, w] and the model's image [H, W, C]. */
    readonly latentShape: [number, number, number],
    readonly imageShape: [number, number, number],
  ) {
    if (folder.imageNoisingSchedulerConfig !== undefined) {
      this.noisingAlphas = createScheduler(parseSchedulerConfig(folder.imageNoisingSchedulerConfig, 'image_noising_scheduler/scheduler_config.json'), 1).alphasCumprod;
    }
  }

  static async load(dir: string, options: DiffusionPipelineOptions = {}): Promise<OnnxDiffusionPipeline> {
    const folder = await readPipelineFolder(dir);
    parseSchedulerConfig(folder.schedulerConfig, 'scheduler/scheduler_config.json');
    const ort = await loadOnnxRuntime();
    const sessionOptions = { executionProvider: options.executionProvider, threads: options.threads };
    const unet = await openSession(folder.modelPath('unet'), 'unet', sessionOptions);
    const vaeDecoder = await openSession(folder.modelPath('vae_decoder'), 'vae_decoder', sessionOptions);
    const floats = ['float32', 'float16'];
    const specs: UNetSpecs = {
      sample: requireInput(unet, 'unet', 'sample', 4, floats),
      timestep: requireInput(unet, 'unet', 'timestep', 1, [...floats, 'int64', 'int32']),
      hidden: hasInput(unet, 'encoder_hidden_states') ? requireInput(unet, 'unet', 'encoder_hidden_states', 3, floats) : undefined,
      classLabels: hasInput(unet, 'class_labels') ? requireInput(unet, 'unet', 'class_labels', 2, floats) : undefined,
    };
    const latentDecoderIn = requireInput(vaeDecoder, 'vae_decoder', 'latent_sample', 4, floats);
    const channels = staticDim(specs.sample, 1) ?? staticDim(latentDecoderIn, 1) ?? 4;
    const latentSide = staticDim(specs.sample, 2) ?? (folder.imageSize !== undefined ? Math.round(folder.imageSize / folder.vaeScaleFactor) : 64);
    const imageSide = folder.imageSize ?? latentSide * folder.vaeScaleFactor;
    const decoderOut = vaeDecoder.outputMetadata[0];
    const imageChannels = decoderOut?.isTensor && typeof decoderOut.shape[1] === 'number' ? decoderOut.shape[1] : 3;
    const resolved = {
      executionProvider: options.executionProvider ?? 'cpu',
      threads: options.threads ?? 0,
      steps: options.steps ?? 20,
      guidanceScale: options.guidanceScale ?? 3,
      batchSize: options.batchSize ?? 8,
      scheduler: options.scheduler,
    } as const;
    return new OnnxDiffusionPipeline(folder, ort, unet, specs, vaeDecoder, resolved, [channels, latentSide, latentSide], [imageSide, imageSide, imageChannels]);
  }

  /** Which request sources this pipeline can serve. */
  supports(source: GenerationRequest['source']): boolean {
    const text = this.folder.has.text_encoder && this.folder.has.tokenizer;
    const image = this.folder.has.image_encoder && this.unetSpecs.classLabels !== undefined && this.noisingAlphas !== undefined;
    if (source === 'text') return text || this.unetSpecs.hidden === undefined;
    if (source === 'image') return image && (text || this.unetSpecs.hidden === undefined);
    return image && text;
  }

  async generate(requests: GenerationRequest[]): Promise<GeneratedView[]> {
    for (const [i, r] of requests.entries()) this.checkRequest(r, i);
    const out = new Array<GeneratedView>(requests.length);
    // Requests at the same step count and img2img start share timesteps, so they can share UNet calls.
    const groups = new Map<string, number[]>();
    requests.forEach((r, i) => {
      const steps = r.steps ?? this.options.steps;
      const start = this.startIndex(r, steps);
      const key = `${steps}|${start}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const [key, members] of groups) {
      const [steps, start] = key.split('|').map(Number) as [number, number];
      for (let at = 0; at < members.length; at += this.options.batchSize) {
        const chunk = members.slice(at, at + this.options.batchSize);
        const views = await this.generateChunk(
          chunk.map((i) => requests[i] as GenerationRequest),
          steps,
          start,
        );
        chunk.forEach((i, j) => {
          out[i] = views[j] as GeneratedView;
        });
      }
    }
    return out;
  }

  /** The image encoder's embeddings, [N, D] rows (the unCLIP conditioning before noise). */
  async embedImages(images: readonly Tensor3D[]): Promise<Float32Array[]> {
    const session = await this.openImageEncoder();
    const spec = requireInput(session, 'image_encoder', 'pixel_values', 4, ['float32', 'float16']);
    const pre = this.folder.preprocessing ?? { size: this.imageShape[0], mean: [0.5], std: [0.5] };
    const channels = staticDim(spec, 1) ?? pre.mean.length;
    const rows = images.map((image) => toChannelsFirst(image, pre.size, channels, pre.mean, pre.std));
    const batch = concatRows(rows);
    const result = await this.run(session, { pixel_values: floatTensor(this.ort, spec.type, batch, [images.length, channels, pre.size, pre.size]) }, 'image_encoder', 'image_embeds');
    const flat = readFloats(result);
    const dim = flat.length / images.length;
    return rows.map((_, i) => flat.slice(i * dim, (i + 1) * dim));
  }

  resetTimings(): void {
    for (const key of Object.keys(this.timings)) delete this.timings[key];
  }

  private async run(session: OrtSession, feeds: Record<string, OrtTensor>, part: string, preferred: string): Promise<OrtTensor> {
    const started = performance.now();
    try {
      return await runOne(session, feeds, part, preferred);
    } finally {
      this.timings[part] = (this.timings[part] ?? 0) + performance.now() - started;
    }
  }

  async dispose(): Promise<void> {
    const sessions = [this.unet, this.vaeDecoder, this.imageEncoder, this.vaeEncoder, this.textSessions.encoder];
    await Promise.all(sessions.map((s) => s?.release()));
  }

  private checkRequest(r: GenerationRequest, i: number): void {
    const where = `requests[${i}]`;
    if (!this.supports(r.source)) {
      throw new GenviewError('BAD_INPUT', `source "${r.source}" needs parts this pipeline does not have (${this.folder.dir}).`, {
        where: `${where}.source`,
        fix: r.source === 'text' ? 'use a pipeline with text_encoder/ and tokenizer/.' : 'use an unCLIP pipeline (image_encoder/, image_normalizer/, image_noising_scheduler/ and a UNet with class_labels), or source "text" with an image and strength for img2img.',
      });
    }
    if ((r.source === 'image' || r.source === 'image+text') && r.image === undefined) {
      throw new GenviewError('BAD_INPUT', `source "${r.source}" needs an image.`, { where: `${where}.image`, fix: 'pass the source image as an [H, W, C] tensor in [0, 1].' });
    }
    if ((r.source === 'text' || r.source === 'image+text') && !r.prompt) {
      throw new GenviewError('BAD_INPUT', `source "${r.source}" needs a prompt.`, { where: `${where}.prompt`, fix: 'pass a caption, or use source "image".' });
    }
    if (r.image !== undefined && r.image.rank !== 3) {
      throw new GenviewError('BAD_SHAPE', `the image must be [H, W, C], got [${r.image.shape.join(', ')}].`, { where: `${where}.image`, fix: 'pass one image, not a batch.' });
    }
    const noise = r.noiseLevel ?? 0;
    if (!Number.isInteger(noise) || noise < 0 || noise >= (this.noisingAlphas?.length ?? 1000)) {
      throw new GenviewError('BAD_INPUT', `noiseLevel must be an integer in [0, ${(this.noisingAlphas?.length ?? 1000) - 1}], got ${noise}.`, { where: `${where}.noiseLevel`, fix: 'use the unCLIP range; 0 keeps the embedding clean.' });
    }
    if (r.strength !== undefined && !(r.strength > 0 && r.strength <= 1)) {
      throw new GenviewError('BAD_INPUT', `strength must be in (0, 1], got ${r.strength}.`, { where: `${where}.strength`, fix: '1 ignores the input latents; smaller keeps more of the image.' });
    }
    if (r.strength !== undefined && r.strength < 1 && r.image === undefined) {
      throw new GenviewError('BAD_INPUT', 'img2img (strength < 1) needs an image.', { where: `${where}.image`, fix: 'pass the image to start from.' });
    }
  }

  private startIndex(r: GenerationRequest, steps: number): number {
    if (r.strength === undefined || r.strength >= 1 || r.image === undefined) return 0;
    const start = img2imgStart(steps, r.strength);
    if (start >= steps) {
      throw new GenviewError('BAD_INPUT', `strength ${r.strength} leaves no denoising step out of ${steps}.`, { where: 'strength', fix: 'raise strength or steps.' });
    }
    return start;
  }

  private newScheduler(steps: number): DiffusionScheduler {
    const config = parseSchedulerConfig(this.folder.schedulerConfig, 'scheduler/scheduler_config.json');
    return createScheduler(this.options.scheduler === undefined ? config : { ...config, kind: this.options.scheduler }, steps);
  }

  private async generateChunk(requests: GenerationRequest[], steps: number, start: number): Promise<GeneratedView[]> {
    const n = requests.length;
    const [c, h, w] = this.latentShape;
    const size = c * h * w;
    const rngs = requests.map((r) => new Rng(r.seed));
    const schedulers = requests.map(() => this.newScheduler(steps));
    const guidance = requests.map((r) => r.guidanceScale ?? this.options.guidanceScale);
    const guided = guidance.some((g) => g > 1);
    const hidden = await this.hiddenStates(requests, guided);
    const classLabels = await this.classLabels(requests, rngs, guided);

    let latents: Float32Array[];
    if (start > 0) {
      const clean = await this.encodeLatents(requests.map((r) => r.image as Tensor3D));
      latents = clean.map((x, i) => (schedulers[i] as DiffusionScheduler).addNoise(x, (rngs[i] as Rng).fork('latents').normalArray(size), start));
    } else {
      latents = rngs.map((rng, i) => scale(rng.fork('latents').normalArray(size), (schedulers[i] as DiffusionScheduler).initNoiseSigma));
    }
    const stepNoise = rngs.map((rng) => rng.fork('scheduler'));
    const reference = schedulers[0] as DiffusionScheduler;
    for (let i = start; i < reference.timesteps.length; i++) {
      const inputs = latents.map((x, j) => (schedulers[j] as DiffusionScheduler).scaleModelInput(x, i));
      const batch = guided ? [...inputs, ...inputs] : inputs;
      const predicted = await this.runUNet(batch, reference.timesteps[i] as number, hidden, classLabels);
      latents = latents.map((x, j) => {
        const cond = predicted.subarray((guided ? n + j : j) * size, (guided ? n + j + 1 : j + 1) * size);
        let output: Float32Array = cond;
        if (guided) {
          const uncond = predicted.subarray(j * size, (j + 1) * size);
          const g = guidance[j] as number;
          output = new Float32Array(size);
          for (let k = 0; k < size; k++) output[k] = (uncond[k] as number) + g * ((cond[k] as number) - (uncond[k] as number));
        }
        const noise = stepNoise[j] as Rng;
        return (schedulers[j] as DiffusionScheduler).step(output, i, x, () => noise.normalArray(size));
      });
    }
    const images = await this.decode(latents);
    return images.map((image, i) => {
      const r = requests[i] as GenerationRequest;
      const target = r.image?.shape;
      const view = target === undefined ? image : fromResized(image, target);
      // A text-only view has no image embedding to noise, so it records no noise level (not a misleading 0).
      const noiseLevel = r.source === 'text' ? undefined : (r.noiseLevel ?? 0);
      const params = { source: r.source, noiseLevel, guidanceScale: guidance[i], strength: r.strength, prompt: r.prompt, seed: r.seed, steps };
      return { image: view, params, index: r.index };
    });
  }

  private async runUNet(batch: Float32Array[], timestep: number, hidden?: Float32Array[], classLabels?: Float32Array[]): Promise<Float32Array> {
    const [c, h, w] = this.latentShape;
    const n = batch.length;
    const specs = this.unetSpecs;
    const timestepCount = staticDim(specs.timestep, 0) === 1 ? 1 : n;
    const feeds: Record<string, ReturnType<typeof floatTensor>> = {
      sample: floatTensor(this.ort, specs.sample.type, concatRows(batch), [n, c, h, w]),
      timestep: integerTensor(this.ort, specs.timestep.type, new Array(timestepCount).fill(timestep), [timestepCount]),
    };
    if (specs.hidden !== undefined && hidden !== undefined) {
      const dim = staticDim(specs.hidden, 2) ?? (hidden[0] as Float32Array).length;
      const rows = (hidden[0] as Float32Array).length / dim;
      feeds.encoder_hidden_states = floatTensor(this.ort, specs.hidden.type, concatRows(hidden), [n, rows, dim]);
    }
    if (specs.classLabels !== undefined && classLabels !== undefined) {
      feeds.class_labels = floatTensor(this.ort, specs.classLabels.type, concatRows(classLabels), [n, (classLabels[0] as Float32Array).length]);
    }
    return readFloats(await this.run(this.unet, feeds, 'unet', 'out_sample'));
  }

  /** Caption states, unconditional ones first when guiding (classifier-free guidance uses the empty prompt). */
  private async hiddenStates(requests: GenerationRequest[], guided: boolean): Promise<Float32Array[] | undefined> {
    if (this.unetSpecs.hidden === undefined) return undefined;
    const prompts = requests.map((r) => (r.source === 'image' ? '' : (r.prompt as string)));
    const all = guided ? [...prompts.map(() => ''), ...prompts] : prompts;
    return this.encodePrompts(all);
  }

  async encodePrompts(prompts: readonly string[]): Promise<Float32Array[]> {
    // This call's states are collected before the cache may be cleared: clearing it to make room for the
    // missing prompts must not lose the cached ones this same call still needs.
    const found = new Map<string, Float32Array>();
    for (const p of prompts) {
      const cached = this.promptCache.get(p);
      if (cached) found.set(p, cached);
    }
    const missing = [...new Set(prompts.filter((p) => !found.has(p)))];
    if (missing.length > 0) {
      const { encoder, tokenizer } = await this.openText();
      const spec = requireInput(encoder, 'text_encoder', 'input_ids', 2, ['int32', 'int64']);
      const length = staticDim(spec, 1) ?? tokenizer.modelMaxLength;
      const ids = missing.flatMap((p) => Array.from(tokenizer.encode(p, { maxLength: length, padding: 'max_length', truncation: true }).ids));
      const states = readFloats(await this.run(encoder, { input_ids: integerTensor(this.ort, spec.type, ids, [missing.length, length]) }, 'text_encoder', 'last_hidden_state'));
      const each = states.length / missing.length;
      if (this.promptCache.size + missing.length > CONDITIONING_CACHE_LIMIT) this.promptCache.clear();
      for (const [i, p] of missing.entries()) {
        const state = states.slice(i * each, (i + 1) * each);
        found.set(p, state);
        this.promptCache.set(p, state);
      }
    }
    return prompts.map((p) => found.get(p) as Float32Array);
  }

  /**
   * unCLIP's conditioning: the image embedding is normalised, noised to noise_level on the image-noising
   * schedule, unnormalised, and concatenated with a sinusoidal embedding of the level. Text-only
   * requests and the unconditional half of guidance get zeros, as diffusers does.
   */
  private async classLabels(requests: GenerationRequest[], rngs: Rng[], guided: boolean): Promise<Float32Array[] | undefined> {
    const spec = this.unetSpecs.classLabels;
    if (spec === undefined) return undefined;
    const withImage = requests.map((r, i) => (r.source === 'text' ? -1 : i)).filter((i) => i >= 0);
    const embeds = withImage.length > 0 ? await this.embedImages(withImage.map((i) => (requests[i] as GenerationRequest).image as Tensor3D)) : [];
    const dim = embeds[0]?.length ?? (staticDim(spec, 1) ?? 0) / 2;
    const width = staticDim(spec, 1) ?? 2 * dim;
    if (embeds.length > 0 && width !== 2 * dim) {
      throw new GenviewError('BAD_SHAPE', `the UNet's class_labels has ${width} features but the image embedding has ${dim} (unCLIP needs 2 x ${dim}).`, {
        where: 'unet.class_labels',
        fix: 'use an image encoder and UNet exported from the same unCLIP pipeline.',
      });
    }
    const labels = requests.map((r, i) => {
      const k = withImage.indexOf(i);
      if (k < 0) return new Float32Array(width);
      return this.noisedEmbedding(embeds[k] as Float32Array, r.noiseLevel ?? 0, (rngs[i] as Rng).fork('image-embedding'));
    });
    return guided ? [...labels.map(() => new Float32Array(width)), ...labels] : labels;
  }

  private noisedEmbedding(embed: Float32Array, noiseLevel: number, rng: Rng): Float32Array {
    const alphas = this.noisingAlphas as Float64Array;
    const dim = embed.length;
    const mean = this.folder.normalizer?.mean ?? new Float32Array(dim);
    const std = this.folder.normalizer?.std ?? new Float32Array(dim).fill(1);
    if (mean.length !== dim || std.length !== dim) {
      throw new GenviewError('BAD_SHAPE', `the image normaliser has ${mean.length} features but the image embedding has ${dim}.`, {
        where: 'image_normalizer',
        fix: 'use the normaliser exported with this image encoder.',
      });
    }
    const a = alphas[noiseLevel] as number;
    const noise = rng.normalArray(dim);
    const out = new Float32Array(2 * dim);
    for (let k = 0; k < dim; k++) {
      const scaled = ((embed[k] as number) - (mean[k] as number)) / (std[k] as number);
      const noised = Math.sqrt(a) * scaled + Math.sqrt(1 - a) * (noise[k] as number);
      out[k] = noised * (std[k] as number) + (mean[k] as number);
    }
    out.set(timestepEmbedding(noiseLevel, dim), dim);
    return out;
  }

  private async encodeLatents(images: Tensor3D[]): Promise<Float32Array[]> {
    if (!this.folder.has.vae_encoder) {
      throw new GenviewError('NOT_FOUND', 'img2img needs vae_encoder/model.onnx, which this pipeline lacks.', { where: 'vae_encoder', fix: 'export the VAE encoder too, or drop strength.' });
    }
    this.vaeEncoder ??= await openSession(this.folder.modelPath('vae_encoder'), 'vae_encoder', this.options);
    const spec = requireInput(this.vaeEncoder, 'vae_encoder', 'sample', 4, ['float32', 'float16']);
    const [side, , channels] = this.imageShape;
    const rows = images.map((image) => toChannelsFirst(image, side, staticDim(spec, 1) ?? channels, [0.5], [0.5]));
    const out = readFloats(await this.run(this.vaeEncoder, { sample: floatTensor(this.ort, spec.type, concatRows(rows), [rows.length, staticDim(spec, 1) ?? channels, side, side]) }, 'vae_encoder', 'latent_sample'));
    const size = out.length / rows.length;
    return rows.map((_, i) => scale(out.slice(i * size, (i + 1) * size), this.folder.vaeScalingFactor));
  }

  private async decode(latents: Float32Array[]): Promise<Tensor3D[]> {
    const [c, h, w] = this.latentShape;
    const spec = requireInput(this.vaeDecoder, 'vae_decoder', 'latent_sample', 4, ['float32', 'float16']);
    const scaled = latents.map((x) => scale(x, 1 / this.folder.vaeScalingFactor));
    const out = await this.run(this.vaeDecoder, { latent_sample: floatTensor(this.ort, spec.type, concatRows(scaled), [latents.length, c, h, w]) }, 'vae_decoder', 'sample');
    const [, channels, height, width] = out.dims as [number, number, number, number];
    const pixels = readFloats(out);
    const each = channels * height * width;
    return latents.map((_, i) => fromChannelsFirst(pixels.slice(i * each, (i + 1) * each), channels, height, width));
  }

  private async openImageEncoder(): Promise<OrtSession> {
    if (!this.folder.has.image_encoder) {
      throw new GenviewError('NOT_FOUND', 'this pipeline has no image_encoder/model.onnx.', { where: 'image_encoder', fix: 'use an unCLIP pipeline export, which includes the CLIP image encoder.' });
    }
    this.imageEncoder ??= await openSession(this.folder.modelPath('image_encoder'), 'image_encoder', this.options);
    return this.imageEncoder;
  }

  private async openText(): Promise<{ encoder: OrtSession; tokenizer: ClipTokenizer }> {
    if (!this.folder.has.text_encoder || !this.folder.has.tokenizer) {
      throw new GenviewError('NOT_FOUND', 'this pipeline has no text_encoder/model.onnx or tokenizer/.', { where: 'text_encoder', fix: 'export the text encoder and tokenizer with the pipeline.' });
    }
    this.textSessions.encoder ??= await openSession(this.folder.modelPath('text_encoder'), 'text_encoder', this.options);
    this.textSessions.tokenizer ??= await ClipTokenizer.fromFiles(`${this.folder.dir}/tokenizer`);
    return this.textSessions as { encoder: OrtSession; tokenizer: ClipTokenizer };
  }
}


function scale(x: Float32Array, factor: number): Float32Array {
  if (factor === 1) return x;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] as number) * factor;
  return out;
}

function fromResized(image: Tensor3D, target: readonly number[]): Tensor3D {
  const [h, w, c] = image.shape;
  if (h === target[0] && w === target[1] && c === target[2]) return image;
  const data = image.dataSync() as Float32Array;
  image.dispose();
  // Back to [-1, 1] NCHW so one helper does the resize and the channel change.
  const chw = new Float32Array(data.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) chw[k * h * w + y * w + x] = 2 * (data[(y * w + x) * c + k] as number) - 1;
  return fromChannelsFirst(chw, c, h, w, target);
}
