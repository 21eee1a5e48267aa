import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GenviewError, type PatchTokenEncoder, type Tensor3D, type Tensor4D, tf } from '@genview/core';
import { type ExecutionProvider, type OrtModule, type OrtSession, type OrtTensor, loadOnnxRuntime, openSession, requireInput, staticDim } from '../diffusion/onnx-runtime';
import { type ImagePreprocessing, readPreprocessing } from '../diffusion/pipeline-folder';
import { batchToChannelsFirst, floatTensor, readFloats } from '../diffusion/tensors';

/**
 * A frozen image tower exported to ONNX, read for its patch tokens (GenView's foreground masks and
 * quality weights): the folder's image_encoder/model.onnx takes pixel_values [N, C, H, W] and has an
 * output `patch_tokens` [N, T, D] (the tiny CLIP shipped in @genview/model-tiny-unclip does;
 * tools/diffusion/tiny_unclip/export_clip.py writes it). Preprocessing as OnnxClipModel's: centre crop,
 * bilinear resize to crop_size, image_mean / image_std from feature_extractor/preprocessor_config.json.
 */
export const PATCH_TOKENS_OUTPUT = 'patch_tokens';

export interface OnnxPatchEncoderOptions {
  executionProvider?: ExecutionProvider;
  /** Threads inside one operator; 0 lets onnxruntime choose. */
  threads?: number;
  /** Rows sent at once (bounds memory on large batches). */
  batchSize?: number;
}

const WHERE = 'onnx-patch-encoder';

export class OnnxPatchEncoder implements PatchTokenEncoder {
  private constructor(
    readonly dir: string,
    /** Tokens per image (T) and their width (D), probed when loaded. */
    readonly tokens: number,
    readonly tokenDim: number,
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    private readonly preprocessing: ImagePreprocessing,
    private readonly batchSize: number,
  ) {}

  static async load(dir: string, options: OnnxPatchEncoderOptions = {}): Promise<OnnxPatchEncoder> {
    const root = resolve(dir);
    const path = join(root, 'image_encoder', 'model.onnx');
    if (!existsSync(root) || !statSync(root).isDirectory() || !existsSync(path)) {
      throw new GenviewError('NOT_FOUND', `no image tower at ${path}.`, {
        where: WHERE,
        fix: 'point at a folder holding image_encoder/model.onnx (and feature_extractor/preprocessor_config.json), e.g. the tiny CLIP of @genview/model-tiny-unclip.',
      });
    }
    const batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new GenviewError('BAD_INPUT', `batchSize must be a positive integer, got ${batchSize}.`, { where: `${WHERE}.batchSize`, fix: 'use e.g. 256.' });
    }
    const ort = await loadOnnxRuntime();
    const session = await openSession(path, 'image_encoder', options);
    try {
      const spec = requireInput(session, 'image_encoder', 'pixel_values', 4, ['float32', 'float16']);
      if (!session.outputNames.includes(PATCH_TOKENS_OUTPUT)) {
        throw new GenviewError('BAD_INPUT', `the image tower ${path} has no output "${PATCH_TOKENS_OUTPUT}" (it has ${session.outputNames.join(', ')}).`, {
          where: WHERE,
          fix: `export the tower's spatial tokens as an output named "${PATCH_TOKENS_OUTPUT}" [N, T, D] (tools/diffusion/tiny_unclip/export_clip.py shows how), or add one to the graph for an existing intermediate tensor.`,
        });
      }
      const preprocessing = (await readPreprocessing(root)) ?? defaultPreprocessing(spec.shape, root);
      const probe = new OnnxPatchEncoder(root, 0, 0, ort, session, preprocessing, batchSize);
      const image = tf.zeros([1, preprocessing.size, preprocessing.size, staticDim(spec, 1) ?? preprocessing.mean.length]) as Tensor4D;
      let dims: readonly number[];
      try {
        dims = (await probe.run(image)).dims;
      } finally {
        image.dispose();
      }
      if (dims.length !== 3) {
        throw new GenviewError('BAD_SHAPE', `${PATCH_TOKENS_OUTPUT} has shape [${dims.join(', ')}], expected [N, T, D].`, { where: WHERE, fix: 'export the tokens as [N, T, D].' });
      }
      return new OnnxPatchEncoder(root, dims[1] as number, dims[2] as number, ort, session, preprocessing, batchSize);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /** [N, H, W, C] in [0, 1] → [N, T, D]. */
  async patchTokens(images: Tensor4D): Promise<Tensor3D> {
    if (images.rank !== 4) {
      throw new GenviewError('BAD_SHAPE', `images must be [N, H, W, C], got rank ${images.rank}.`, { where: `${WHERE}.patchTokens`, fix: 'pass a batch of images in [0, 1].' });
    }
    const n = images.shape[0];
    const out = new Float32Array(n * this.tokens * this.tokenDim);
    for (let start = 0; start < n; start += this.batchSize) {
      const count = Math.min(this.batchSize, n - start);
      const chunk = count === n ? images : (tf.slice(images, [start, 0, 0, 0], [count, -1, -1, -1]) as Tensor4D);
      let tensor: OrtTensor;
      try {
        tensor = await this.run(chunk);
      } finally {
        if (chunk !== images) chunk.dispose();
      }
      out.set(readFloats(tensor), start * this.tokens * this.tokenDim);
    }
    return tf.tensor3d(out, [n, this.tokens, this.tokenDim]);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }

  private async run(images: Tensor4D): Promise<OrtTensor> {
    const spec = requireInput(this.session, 'image_encoder', 'pixel_values', 4, ['float32', 'float16']);
    const { size, mean, std } = this.preprocessing;
    const channels = staticDim(spec, 1) ?? mean.length;
    const count = images.shape[0];
    // Read into plain memory before the first await (callers may free their tensors once it returns).
    const pixels = batchToChannelsFirst(images, size, channels, mean, std);
    let result: Record<string, OrtTensor>;
    try {
      result = await this.session.run({ pixel_values: floatTensor(this.ort, spec.type, pixels, [count, channels, size, size]) }, [PATCH_TOKENS_OUTPUT]);
    } catch (error) {
      throw new GenviewError('BAD_SHAPE', `running the image tower on [${count}, ${channels}, ${size}, ${size}] failed: ${error instanceof Error ? error.message : String(error)}.`, {
        where: WHERE,
        fix: 'check the tower was exported for this input size and channel count.',
        cause: error,
      });
    }
    const tensor = result[PATCH_TOKENS_OUTPUT];
    if (tensor === undefined || tensor.dims[0] !== count) {
      throw new GenviewError('BAD_SHAPE', `${PATCH_TOKENS_OUTPUT} came back with shape [${tensor?.dims.join(', ') ?? 'none'}] for ${count} images.`, { where: WHERE, fix: 'export the tokens with a batch axis.' });
    }
    if (this.tokens > 0 && (tensor.dims[1] !== this.tokens || tensor.dims[2] !== this.tokenDim)) {
      throw new GenviewError('BAD_SHAPE', `${PATCH_TOKENS_OUTPUT} changed shape to [${tensor.dims.join(', ')}].`, { where: WHERE, fix: 'feed images of the size the tower was probed with.' });
    }
    return tensor;
  }
}

function defaultPreprocessing(shape: ReadonlyArray<number | string>, dir: string): ImagePreprocessing {
  const size = shape[2];
  if (typeof size !== 'number' || size <= 0) {
    throw new GenviewError('INVALID_CONFIG', 'the image tower leaves its input size symbolic and there is no feature_extractor/preprocessor_config.json to give it.', {
      where: `${WHERE} ${dir}`,
      fix: 'add feature_extractor/preprocessor_config.json with crop_size, image_mean and image_std (what the model was trained with).',
    });
  }
  return { size, mean: [0.5], std: [0.5] };
}
