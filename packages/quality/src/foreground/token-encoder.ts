import { type FeatureExtractor, GenviewError, type PatchTokenEncoder, type Tensor3D, type Tensor4D, tf } from '@genview/core';

/**
 * What GenView's foreground steps take as their frozen encoder: a FeatureExtractor (its patchTokens is
 * optional in the type, so it is checked when the step is built) or any PatchTokenEncoder.
 */
export type TokenEncoder = PatchTokenEncoder | FeatureExtractor;

/** Throws unless `encoder` can give patch tokens (synchronously, or as a promise from outside TensorFlow.js). */
export function requireTokenEncoder(encoder: unknown, where: string): PatchTokenEncoder {
  if (typeof (encoder as { patchTokens?: unknown } | undefined)?.patchTokens !== 'function') {
    throw new GenviewError('BAD_INPUT', 'the encoder has no patchTokens(): foreground masks need a spatial token map [N, T, D].', {
      where,
      fix: 'use an encoder with a spatial feature map (a CNN or ViT backbone, checkpoint:<run>), or an ONNX image tower with a patch_tokens output (onnx:tiny-clip).',
    });
  }
  return encoder as PatchTokenEncoder;
}

/**
 * The encoder's patch tokens, awaited when it runs outside TensorFlow.js. A synchronous encoder runs
 * inside tf.tidy, so its intermediate tensors are freed as they would be in a synchronous caller's tidy.
 */
export async function patchTokensOf(encoder: TokenEncoder, images: Tensor4D): Promise<Tensor3D> {
  const source = requireTokenEncoder(encoder, 'patchTokensOf');
  let pending: Promise<Tensor3D> | undefined;
  const tokens = tf.tidy(() => {
    const out = source.patchTokens(images);
    if (out instanceof tf.Tensor) return out as Tensor3D;
    pending = out;
    return undefined;
  });
  return tokens ?? (await (pending as Promise<Tensor3D>));
}
