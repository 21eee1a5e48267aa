import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type FeatureExtractor, GenviewError, type ImageShape, type Tensor2D, type Tensor3D, type Tensor4D, tf } from '@genview/core';
import type { ExecutionProvider } from '../diffusion/onnx-runtime';
import { batchToChannelsFirst } from '../diffusion/tensors';
import { type PlainTensor, SyncOnnxSession, type TensorInfo } from './sync-onnx-session';

export interface OnnxImageEncoderOptions {
  /** The image input; default the model's first input. */
  input?: string;
  /** How the input is laid out; default read from its metadata (channels of 1 or 3 on axis 1: NCHW, on axis 3: NHWC), else NCHW. */
  layout?: 'nchw' | 'nhwc';
  /** Square side images are resized to; default the model's fixed input size, else the images' own. */
  size?: number;
  /** Per-channel mean subtracted from the [0, 1] pixels (one value for all channels, or one per channel); default 0. */
  mean?: readonly number[];
  /** Per-channel divisor after the mean; default 1. */
  std?: readonly number[];
  /** The output taken as features; default the first. */
  output?: string;
  /**
   * How a token output [N, T, D] becomes [N, D]: 'mean' over the tokens (default) or 'first' (a class
   * token). A feature map [N, C, h, w] (or [N, h, w, C] for an NHWC model) is always averaged.
   */
  pool?: 'mean' | 'first';
  /** Images per run; default the model's fixed batch, else 64. */
  batchSize?: number;
  threads?: number;
  executionProvider?: ExecutionProvider;
}

type OutputKind = 'features' | 'tokens' | 'map';

const FLOAT_TYPES = ['float32', 'float64'];

function dims(info: TensorInfo): string {
  return `${info.type}[${info.shape.join(', ')}]`;
}

function fixed(d: number | string | undefined): number | undefined {
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/**
 * Any ONNX image model as a frozen FeatureExtractor (`onnx:<file>` in the runner): our NHWC [0, 1] images
 * are resized, adapted to the model's channel count (grey repeated, colour averaged), normalised with
 * mean/std and laid out as the model's input wants; the chosen output is pooled to [N, D]. Token and map
 * outputs also serve patchTokens. Runs synchronously through a worker (SyncOnnxSession).
 */
export class OnnxImageEncoder implements FeatureExtractor {
  readonly patchTokens?: (images: Tensor4D) => Tensor3D;

  private constructor(
    private readonly session: SyncOnnxSession,
    private readonly input: TensorInfo,
    private readonly outputName: string,
    private readonly layout: 'nchw' | 'nhwc',
    private readonly channels: number,
    private readonly size: number,
    private readonly mean: readonly number[],
    private readonly std: readonly number[],
    private readonly kind: OutputKind,
    private readonly pool: 'mean' | 'first',
    private readonly batchSize: number,
    readonly featureDim: number,
  ) {
    if (kind !== 'features') this.patchTokens = (images) => this.tokens(images);
  }

  /** Opens the model, checks its input against `imageShape` ([H, W, C] of the images it will see) and probes the output once. */
  static async load(file: string, imageShape: ImageShape, options: OnnxImageEncoderOptions = {}): Promise<OnnxImageEncoder> {
    const path = resolve(file);
    const where = `onnx:${file}`;
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new GenviewError('NOT_FOUND', `no ONNX model at ${path}.`, { where, fix: 'name an existing .onnx file (e.g. written by torch.onnx.export or genview export --format onnx).' });
    }
    const session = await SyncOnnxSession.open(path, { threads: options.threads, executionProvider: options.executionProvider });
    try {
      const input = pickInput(session, options.input, where);
      const shape = input.shape;
      const layout = options.layout ?? guessLayout(shape);
      const [cAxis, hAxis, wAxis] = layout === 'nchw' ? [1, 2, 3] : [3, 1, 2];
      const channels = fixed(shape[cAxis]) ?? imageShape[2];
      const greyOrColour = (c: number) => c === 1 || c === 3;
      if (channels !== imageShape[2] && !(greyOrColour(channels) && greyOrColour(imageShape[2]))) {
        throw new GenviewError('BAD_SHAPE', `${where} takes ${channels}-channel images and these have ${imageShape[2]}.`, {
          where,
          fix: `use an encoder whose input "${input.name}" is ${expectedShape(layout, imageShape[2], '?')} (grey and RGB models take either kind of image).`,
        });
      }
      const height = fixed(shape[hAxis]);
      const width = fixed(shape[wAxis]);
      if (height !== undefined && width !== undefined && height !== width) {
        throw new GenviewError('BAD_SHAPE', `${where} takes ${height}x${width} images; only square inputs are supported.`, { where, fix: 're-export the model with a square (or dynamic) input size.' });
      }
      const size = height ?? width ?? options.size ?? imageShape[0];
      if (options.size !== undefined && (height ?? width) !== undefined && options.size !== size) {
        throw new GenviewError('BAD_SHAPE', `size=${options.size} was asked, but the input "${input.name}" is fixed at ${dims(input)}.`, {
          where,
          fix: `drop the size option or set it to ${size}.`,
        });
      }
      const mean = options.mean ?? [0];
      const std = options.std ?? [1];
      for (const [label, values] of [['mean', mean], ['std', std]] as const) {
        if (values.length !== 1 && values.length !== channels) {
          throw new GenviewError('BAD_INPUT', `${label} has ${values.length} values for a ${channels}-channel input.`, { where, fix: `give 1 or ${channels} values.` });
        }
      }
      if (std.some((s) => !(s > 0) && !(s < 0))) throw new GenviewError('BAD_INPUT', 'std values must be non-zero.', { where, fix: 'e.g. std=0.229,0.224,0.225.' });
      const fixedBatch = fixed(shape[0]);
      const batchSize = options.batchSize ?? fixedBatch ?? 64;
      if (fixedBatch !== undefined && batchSize !== fixedBatch) {
        throw new GenviewError('BAD_SHAPE', `the input "${input.name}" has a fixed batch of ${fixedBatch}, not ${batchSize}.`, { where, fix: `drop the batch option or set it to ${fixedBatch}.` });
      }
      const outputName = pickOutput(session, options.output, where);
      const probe = new OnnxImageEncoder(session, input, outputName, layout, channels, size, mean, std, 'features', 'mean', batchSize, 0);
      const images = tf.zeros([fixedBatch ?? 1, size, size, channels]) as Tensor4D;
      let result: PlainTensor;
      try {
        result = probe.runRaw(images);
      } finally {
        images.dispose();
      }
      const kind = outputKind(result, outputName, where);
      const featureDim = kind === 'tokens' || layout === 'nhwc' ? result.dims[result.dims.length - 1] : result.dims[1];
      return new OnnxImageEncoder(session, input, outputName, layout, channels, size, mean, std, kind, options.pool ?? 'mean', batchSize, featureDim);
    } catch (error) {
      session.dispose();
      throw error;
    }
  }

  /** Input name, layout and size, output name, kind and width: for logs. */
  describe(): string {
    return `${this.input.name} ${this.layout.toUpperCase()} ${this.channels}x${this.size}x${this.size} -> ${this.outputName} (${this.kind}${this.kind === 'tokens' ? `, ${this.pool} pooled` : ''}) ${this.featureDim}-d`;
  }

  embed(images: Tensor4D): Tensor2D {
    return tf.tidy(() => {
      const out = this.runAll(images);
      if (this.kind === 'features') return out as Tensor2D;
      if (this.kind === 'tokens') return (this.pool === 'first' ? tf.squeeze(tf.slice(out, [0, 0, 0], [-1, 1, -1]), [1]) : tf.mean(out, 1)) as Tensor2D;
      return tf.mean(out, this.layout === 'nchw' ? [2, 3] : [1, 2]) as Tensor2D;
    });
  }

  dispose(): void {
    this.session.dispose();
  }

  private tokens(images: Tensor4D): Tensor3D {
    return tf.tidy(() => {
      const out = this.runAll(images);
      if (this.kind === 'tokens') return (this.pool === 'first' ? tf.slice(out, [0, 1, 0], [-1, -1, -1]) : out) as Tensor3D;
      const map = this.layout === 'nchw' ? tf.transpose(out, [0, 2, 3, 1]) : out;
      const [n, h, w, d] = map.shape;
      return tf.reshape(map, [n, h * w, d]) as Tensor3D;
    });
  }

  /** The output for the whole batch, run in chunks of batchSize, as one tensor. */
  private runAll(images: Tensor4D): tf.Tensor {
    if (images.rank !== 4) {
      throw new GenviewError('BAD_SHAPE', `images must be [N, H, W, C], got [${images.shape.join(', ')}].`, { where: this.session.path, fix: 'pass a batch of images in [0, 1].' });
    }
    const n = images.shape[0];
    const parts: tf.Tensor[] = [];
    for (let start = 0; start < n; start += this.batchSize) {
      const count = Math.min(this.batchSize, n - start);
      const chunk = count === n ? images : (tf.slice(images, [start, 0, 0, 0], [count, -1, -1, -1]) as Tensor4D);
      const out = this.runRaw(chunk);
      if (chunk !== images) chunk.dispose();
      parts.push(tf.tensor(Float32Array.from(out.data as ArrayLike<number>), out.dims));
    }
    if (parts.length === 1) return parts[0];
    const all = tf.concat(parts, 0);
    tf.dispose(parts);
    return all;
  }

  private runRaw(images: Tensor4D): PlainTensor {
    const count = images.shape[0];
    const nchw = batchToChannelsFirst(images, this.size, this.channels, this.mean, this.std);
    let data = new Float32Array(nchw);
    let feedDims = [count, this.channels, this.size, this.size];
    if (this.layout === 'nhwc') {
      const back = tf.tidy(() => tf.transpose(tf.tensor4d(nchw, [count, this.channels, this.size, this.size]), [0, 2, 3, 1]));
      data = new Float32Array(back.dataSync() as Float32Array);
      back.dispose();
      feedDims = [count, this.size, this.size, this.channels];
    }
    const results = this.session.run({ [this.input.name]: { type: 'float32', dims: feedDims, data } }, [this.outputName]);
    const out = results[this.outputName];
    if (out === undefined) throw new GenviewError('INTERNAL', `the model returned no "${this.outputName}".`, { where: this.session.path });
    if (out.dims[0] !== count) {
      throw new GenviewError('BAD_SHAPE', `the output "${this.outputName}" is [${out.dims.join(', ')}] for ${count} images: its first axis is not the batch.`, {
        where: this.session.path,
        fix: 'pick an output with a batch axis (output=NAME).',
      });
    }
    return out;
  }
}

function expectedShape(layout: 'nchw' | 'nhwc', channels: number | string, size: number | string): string {
  return layout === 'nchw' ? `float32 [N, ${channels}, ${size}, ${size}]` : `float32 [N, ${size}, ${size}, ${channels}]`;
}

function pickInput(session: SyncOnnxSession, name: string | undefined, where: string): TensorInfo {
  const declared = session.inputs.map(dims).join('; ');
  const input = name === undefined ? session.inputs[0] : session.inputs.find((i) => i.name === name);
  if (input === undefined) {
    throw new GenviewError('BAD_INPUT', `${where} has no input "${name}" (it declares ${session.inputs.map((i) => `${i.name}: ${dims(i)}`).join('; ') || 'none'}).`, {
      where,
      fix: `set input= to one of ${session.inputs.map((i) => i.name).join(', ')}.`,
    });
  }
  if (input.type !== 'float32' || (input.shape.length !== 0 && input.shape.length !== 4)) {
    throw new GenviewError('BAD_SHAPE', `the input "${input.name}" of ${where} is ${dims(input)}; an image encoder takes float32 [N, C, H, W] or [N, H, W, C].`, {
      where,
      fix: declared.includes(';') ? 'set input= to the image input.' : 'export the model with a float32 image batch as its input.',
    });
  }
  return input;
}

function guessLayout(shape: ReadonlyArray<number | string>): 'nchw' | 'nhwc' {
  const isChannels = (d: number | string | undefined) => d === 1 || d === 3;
  if (!isChannels(shape[1]) && isChannels(shape[3])) return 'nhwc';
  return 'nchw';
}

function pickOutput(session: SyncOnnxSession, name: string | undefined, where: string): string {
  const output = name === undefined ? session.outputs[0] : session.outputs.find((o) => o.name === name);
  if (output === undefined) {
    throw new GenviewError('BAD_INPUT', `${where} has no output "${name}" (it has ${session.outputs.map((o) => `${o.name}: ${dims(o)}`).join('; ') || 'none'}).`, {
      where,
      fix: `set output= to one of ${session.outputs.map((o) => o.name).join(', ')}.`,
    });
  }
  if (output.type !== 'non-tensor' && !FLOAT_TYPES.includes(output.type)) {
    throw new GenviewError('BAD_SHAPE', `the output "${output.name}" of ${where} is ${dims(output)}, not float features.`, {
      where,
      fix: `pick a float output with output=NAME (${session.outputs.map((o) => `${o.name}: ${dims(o)}`).join('; ')}).`,
    });
  }
  return output.name;
}

function outputKind(result: PlainTensor, name: string, where: string): OutputKind {
  if (!FLOAT_TYPES.includes(result.type)) {
    throw new GenviewError('BAD_SHAPE', `the output "${name}" of ${where} is ${result.type}, not float features.`, { where, fix: 'pick a float output with output=NAME.' });
  }
  const rank = result.dims.length;
  if (rank === 2) return 'features';
  if (rank === 3) return 'tokens';
  if (rank === 4) return 'map';
  throw new GenviewError('BAD_SHAPE', `the output "${name}" of ${where} is [${result.dims.join(', ')}]; expected features [N, D], tokens [N, T, D] or a map [N, C, h, w].`, {
    where,
    fix: 'pick another output with output=NAME, or export the model to give pooled features.',
  });
}
