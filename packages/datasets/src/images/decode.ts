import { GenviewError, lazyModule } from '@genview/core';

export type SharpModule = typeof import('sharp').default;

const sharpModule = lazyModule<SharpModule>(() => import('sharp'));

/** sharp loads libvips when imported; datasets that never read image files should not pay for (or depend on) that. */
export function loadSharp(where: string): Promise<SharpModule> {
  return sharpModule(
    (error) =>
      new GenviewError('BACKEND_UNAVAILABLE', `sharp (the image decoder) could not be loaded: ${(error as Error).message}`, {
        where,
        fix: 'reinstall @genview/datasets so that sharp and its prebuilt libvips for this platform are installed.',
        cause: error,
      }),
  );
}

export interface DecodeOptions {
  height: number;
  width: number;
  channels: 1 | 3;
  fit: 'cover' | 'fill' | 'contain';
}

/** Decodes, orients, flattens alpha (onto black) and resizes one image (a path or encoded bytes) to exactly h x w x channels uint8. */
export async function decodeImage(sharp: SharpModule, input: string | Uint8Array, options: DecodeOptions): Promise<Uint8Array> {
  const { height: h, width: w, channels, fit } = options;
  let pipeline = sharp(input, { failOn: 'error' }).rotate().flatten({ background: '#000000' }).resize(w, h, { fit, background: '#000000' });
  pipeline = channels === 1 ? pipeline.grayscale() : pipeline.toColourspace('srgb');
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== w || info.height !== h || info.channels !== channels) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${w}x${h}x${channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
