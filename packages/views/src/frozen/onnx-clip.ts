import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FrozenVisionLanguageModel, GenviewError, type Tensor2D, type Tensor4D, l2Normalize, tf } from '@genview/core';
import { type ExecutionProvider, type OrtModule, type OrtSession, loadOnnxRuntime, openSession, requireInput, runOne, staticDim } from '../diffusion/onnx-runtime';
import { type ImagePreprocessing, readPreprocessing } from '../diffusion/pipeline-folder';
import { batchToChannelsFirst, concatRows, floatTensor, integerTensor, readFloats } from '../diffusion/tensors';
import { ClipTokenizer } from '../text/clip-tokenizer';

/**
 * A frozen CLIP-style model exported to ONNX, for scoring (GenView++'s view–caption alignment). The folder
 * holds the parts a CLIPVisionModelWithProjection / CLIPTextModelWithProjection export gives:
 *
 *   image_encoder/model.onnx   pixel_values [N, C, H, W] → image_embeds [N, E]
 *   text_encoder/model.onnx    input_ids [N, L] (attention_mask [N, L] when declared) → text_embeds [N, E]
 *   tokenizer/                 tokenizer.json, or vocab.json + merges.txt
 *   feature_extractor/preprocessor_config.json   crop_size, image_mean, image_std (optional)
 *
 * Images are centre-cropped to a square, resized bilinearly to crop_size and normalised with image_mean
 * and image_std; the processor's other settings (bicubic resampling, do_* flags) are not read.
 */
export const ONNX_CLIP_LAYOUT = 'image_encoder/model.onnx, text_encoder/model.onnx, tokenizer/ (and optionally feature_extractor/preprocessor_config.json)';

export interface OnnxClipOptions {
  executionProvider?: ExecutionProvider;
  /** Threads inside one operator; 0 lets onnxruntime choose. */
  threads?: number;
  /** Rows sent to a part at once (bounds memory on large batches). */
  batchSize?: number;
}

const WHERE = 'onnx-clip';

function requirePart(dir: string, relative: string, what: string): string {
  const path = join(dir, relative);
  if (!existsSync(path)) {
    throw new GenviewError('NOT_FOUND', `${dir} has no ${relative} (${what}).`, {
      where: WHERE,
      fix: `point at a folder in the frozen CLIP layout: ${ONNX_CLIP_LAYOUT}; tools/diffusion/export_clip.py writes one from a transformers CLIP.`,
    });
  }
  return path;
}

export class OnnxClipModel implements FrozenVisionLanguageModel {
  private constructor(
    readonly dir: string,
    readonly jointDim: number,
    private readonly ort: OrtModule,
    private readonly image: OrtSession,
    private readonly text: OrtSession,
    private readonly tokenizer: ClipTokenizer,
    private readonly preprocessing: ImagePreprocessing,
    private readonly batchSize: number,
  ) {}

  /** Opens both towers and checks their inputs, and that both embed into one space, before any use. */
  static async load(dir: string, options: OnnxClipOptions = {}): Promise<OnnxClipModel> {
    const root = resolve(dir);
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new GenviewError('NOT_FOUND', `no folder at ${root}.`, { where: WHERE, fix: `give a folder holding ${ONNX_CLIP_LAYOUT}.` });
    }
    const imagePath = requirePart(root, 'image_encoder/model.onnx', 'the image tower');
    const textPath = requirePart(root, 'text_encoder/model.onnx', 'the text tower');
    requirePart(root, 'tokenizer', 'the tokenizer files');
    const batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new GenviewError('BAD_INPUT', `batchSize must be a positive integer, got ${batchSize}.`, { where: `${WHERE}.batchSize`, fix: 'use e.g. 256.' });
    }
    const ort = await loadOnnxRuntime();
    const image = await openSession(imagePath, 'image_encoder', options);
    let text: OrtSession | undefined;
    try {
      text = await openSession(textPath, 'text_encoder', options);
      const pixelSpec = requireInput(image, 'image_encoder', 'pixel_values', 4, ['float32', 'float16']);
      requireInput(text, 'text_encoder', 'input_ids', 2, ['int32', 'int64']);
      requireOutput(image, 'image_encoder', 'image_embeds');
      requireOutput(text, 'text_encoder', 'text_embeds');
      const tokenizer = await ClipTokenizer.fromFiles(join(root, 'tokenizer'));
      const preprocessing = (await readPreprocessing(root)) ?? defaultPreprocessing(pixelSpec.shape, root);
      const model = new OnnxClipModel(root, 0, ort, image, text, tokenizer, preprocessing, batchSize);
      // Output widths are often symbolic in the export; one probe row of each tower fixes and checks them.
      const probeImage = tf.zeros([1, preprocessing.size, preprocessing.size, staticDim(pixelSpec, 1) ?? preprocessing.mean.length]) as Tensor4D;
      let imageDim: number;
      try {
        imageDim = (await model.rawImageEmbeds(probeImage)).length;
      } finally {
        probeImage.dispose();
      }
      const textDim = (await model.rawTextEmbeds([''])).length;
      if (imageDim !== textDim) {
        throw new GenviewError('BAD_SHAPE', `image_embeds has ${imageDim} dims but text_embeds has ${textDim}: the towers do not share a joint space.`, {
          where: `${WHERE} ${root}`,
          fix: 'export the projected outputs of both towers (image_embeds and text_embeds of CLIP*ModelWithProjection), not their hidden states.',
        });
      }
      return new OnnxClipModel(root, imageDim, ort, image, text, tokenizer, preprocessing, batchSize);
    } catch (error) {
      await Promise.all([image.release(), text?.release()]);
      throw error;
    }
  }

  async embedImages(images: Tensor4D): Promise<Tensor2D> {
    if (images.rank !== 4) {
      throw new GenviewError('BAD_SHAPE', `images must be [N, H, W, C], got rank ${images.rank}.`, { where: `${WHERE}.embedImages`, fix: 'pass a batch of images in [0, 1].' });
    }
    const flat = await this.rawImageEmbeds(images);
    return normalisedRows(flat, images.shape[0], this.jointDim);
  }

  async embedTexts(texts: readonly string[]): Promise<Tensor2D> {
    const flat = await this.rawTextEmbeds(texts);
    return normalisedRows(flat, texts.length, this.jointDim);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.image.release(), this.text.release()]);
  }

  private async rawImageEmbeds(images: Tensor4D): Promise<Float32Array> {
    const spec = requireInput(this.image, 'image_encoder', 'pixel_values', 4, ['float32', 'float16']);
    const { size, mean, std } = this.preprocessing;
    const channels = staticDim(spec, 1) ?? mean.length;
    const n = images.shape[0];
    const parts: Float32Array[] = [];
    for (let start = 0; start < n; start += this.batchSize) {
      const count = Math.min(this.batchSize, n - start);
      const chunk = count === n ? images : (tf.slice(images, [start, 0, 0, 0], [count, -1, -1, -1]) as Tensor4D);
      const pixels = batchToChannelsFirst(chunk, size, channels, mean, std);
      if (chunk !== images) chunk.dispose();
      const out = await runOne(this.image, { pixel_values: floatTensor(this.ort, spec.type, pixels, [count, channels, size, size]) }, 'image_encoder', 'image_embeds');
      parts.push(readFloats(out));
    }
    return concatRows(parts);
  }

  private async rawTextEmbeds(texts: readonly string[]): Promise<Float32Array> {
    const spec = requireInput(this.text, 'text_encoder', 'input_ids', 2, ['int32', 'int64']);
    const length = staticDim(spec, 1) ?? this.tokenizer.modelMaxLength;
    const maskSpec = this.text.inputNames.includes('attention_mask') ? requireInput(this.text, 'text_encoder', 'attention_mask', 2, ['int32', 'int64']) : undefined;
    const parts: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const chunk = texts.slice(start, start + this.batchSize);
      const ids: number[] = [];
      const mask: number[] = [];
      for (const t of chunk) {
        const encoded = this.tokenizer.encode(t, { maxLength: length, padding: 'max_length', truncation: true });
        ids.push(...encoded.ids);
        mask.push(...encoded.attentionMask);
      }
      const feeds = { input_ids: integerTensor(this.ort, spec.type, ids, [chunk.length, length]) };
      if (maskSpec) Object.assign(feeds, { attention_mask: integerTensor(this.ort, maskSpec.type, mask, [chunk.length, length]) });
      parts.push(readFloats(await runOne(this.text, feeds, 'text_encoder', 'text_embeds')));
    }
    return concatRows(parts);
  }
}

function requireOutput(session: OrtSession, part: string, name: string): void {
  if (!session.outputNames.includes(name)) {
    throw new GenviewError('BAD_INPUT', `the ${part} model has no output "${name}" (it has ${session.outputNames.join(', ')}).`, {
      where: part,
      fix: `export ${part} with its projected embedding as an output named "${name}" (as CLIP*ModelWithProjection does).`,
    });
  }
}

/**
 * Without a preprocessor config: the input size the export fixes, and mean 0.5 / std 0.5 (pixels to
 * [-1, 1], what our tiny models use; a real CLIP has its own mean and std, so export its config).
 */
function defaultPreprocessing(shape: ReadonlyArray<number | string>, dir: string): ImagePreprocessing {
  const size = shape[2];
  if (typeof size !== 'number' || size <= 0) {
    throw new GenviewError('INVALID_CONFIG', 'the image encoder leaves its input size symbolic and there is no feature_extractor/preprocessor_config.json to give it.', {
      where: `${WHERE} ${dir}`,
      fix: 'add feature_extractor/preprocessor_config.json with crop_size, image_mean and image_std (what the model was trained with).',
    });
  }
  return { size, mean: [0.5], std: [0.5] };
}

function normalisedRows(flat: Float32Array, rows: number, dim: number): Tensor2D {
  if (flat.length !== rows * dim) {
    throw new GenviewError('BAD_SHAPE', `the model returned ${flat.length} values for ${rows} rows of ${dim}.`, { where: WHERE, fix: 'export the towers with a batch axis.' });
  }
  return tf.tidy(() => l2Normalize(tf.tensor2d(flat, [rows, dim])) as Tensor2D);
}
