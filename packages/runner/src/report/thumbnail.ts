import { GenviewError, lazyModule } from '@genview/core';

type SharpModule = typeof import('sharp').default;

const sharpModule = lazyModule<SharpModule>(() => import('sharp'));

/** Loaded on the first thumbnail, so the CLI starts without libvips and only `genview report` needs it. */
function loadSharp(): Promise<SharpModule> {
  return sharpModule(
    (error) =>
      new GenviewError('BACKEND_UNAVAILABLE', `sharp (the PNG encoder for the report's view thumbnails) could not be loaded: ${(error as Error).message}`, {
        where: 'report',
        fix: 'reinstall @genview/runner so that sharp and its prebuilt libvips for this platform are installed.',
        cause: error,
      }),
  );
}

/**
 * A lossless 8-bit PNG of uint8 HWC pixels with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)
 * channels, as a data URL for a self-contained report. Fixed options and no metadata, so the same
 * pixels give the same bytes (with the same sharp version).
 */
export async function pngDataUrl(pixels: Uint8Array, width: number, height: number, channels: number): Promise<string> {
  if (![1, 2, 3, 4].includes(channels) || pixels.length !== width * height * channels) {
    throw new GenviewError('BAD_SHAPE', `cannot encode ${pixels.length} bytes as a ${width}x${height}x${channels} PNG.`, {
      fix: 'pass uint8 HWC pixels with 1 to 4 channels.',
    });
  }
  const sharp = await loadSharp();
  const input = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  let pipeline = sharp(input, { raw: { width, height, channels: channels as 1 | 2 | 3 | 4 } });
  // Without it libvips writes grey as an RGB PNG, three times the size.
  if (channels <= 2) pipeline = pipeline.toColourspace('b-w');
  const png = await pipeline.png({ compressionLevel: 9, adaptiveFiltering: false, palette: false }).toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
