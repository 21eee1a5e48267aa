import { GenviewError, type ImageShape, lazyModule } from '@genview/core';

type SharpModule = typeof import('sharp').default;

const sharpModule = lazyModule<SharpModule>(() => import('sharp'));

/** Loaded on first use: reading a store's metadata or markers should not need libvips. */
function loadSharp(): Promise<SharpModule> {
  return sharpModule(
    (error) =>
      new GenviewError('BACKEND_UNAVAILABLE', `sharp (the PNG codec) could not be loaded: ${(error as Error).message}`, {
        where: 'view-store',
        fix: 'reinstall @genview/views so that sharp and its prebuilt libvips for this platform are installed.',
        cause: error,
      }),
  );
}

/** Lossless 8-bit PNG of uint8 HWC pixels (grey for C = 1, RGB for C = 3); no metadata, so equal pixels give equal bytes. */
export async function encodePng(pixels: Uint8Array, shape: ImageShape): Promise<Uint8Array> {
  const sharp = await loadSharp();
  const [height, width, channels] = shape;
  const input = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  let pipeline = sharp(input, { raw: { width, height, channels: channels as 1 | 3 } });
  // Without it libvips writes one channel as an RGB PNG, three times the size.
  if (channels === 1) pipeline = pipeline.toColourspace('b-w');
  const out = await pipeline
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export async function decodePng(png: Uint8Array, shape: ImageShape, where: string, fix = 'the shard is damaged; un-mark it with `genview verify <store> --repair`, then `genview generate` rewrites it.'): Promise<Uint8Array> {
  const sharp = await loadSharp();
  const [height, width, channels] = shape;
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    const image = sharp(png, { failOn: 'error' });
    const { channels: stored } = await image.metadata();
    // libvips hands out grey images as sRGB unless asked; a grey PNG must come back as one channel.
    decoded = await (stored === 1 ? image.toColourspace('b-w') : image).raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new GenviewError('UNREADABLE_FILE', `could not decode the PNG: ${(error as Error).message}`, {
      where,
      fix,
      cause: error,
    });
  }
  const { data, info } = decoded;
  if (info.width !== width || info.height !== height || info.channels !== channels) {
    throw new GenviewError('BAD_SHAPE', `the stored view is ${info.height}x${info.width}x${info.channels}, the store says [${shape.join(', ')}].`, {
      where,
      fix: 'the shard does not belong to this store; regenerate the store in a new directory.',
    });
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
