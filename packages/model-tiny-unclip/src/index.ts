import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of GenView's own small unCLIP pipeline (standard ONNX diffusion layout), shipped in this
 * package so generated views work offline; pass it as the `path` of the `onnx-diffusion` generator.
 */
export const tinyUnclipPath: string = join(dirname(fileURLToPath(import.meta.url)), '..', 'pipeline');

/**
 * The folder of the same model's aligned image and caption encoders as a frozen CLIP (image_encoder/,
 * text_encoder/ with projected text_embeds, tokenizer/), for scoring view–caption alignment offline; load
 * it with `OnnxClipModel.load` from @genview/views, or name it `onnx:tiny-clip` in a runner config.
 */
export const tinyClipPath: string = join(dirname(fileURLToPath(import.meta.url)), '..', 'clip');

/** How it was made: `/usr/bin/python3 -m tools.diffusion.tiny_unclip.train` in the GenView repository. */
export const tinyUnclipInfo = {
  imageSize: 28,
  channels: 1,
  embeddingDim: 64,
  maxTokens: 16,
  trainedOn: 'Fashion-MNIST train split (60k)',
} as const;
