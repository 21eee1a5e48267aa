import { GenviewError } from '@genview/core';
import { type DecodeOptions, decodeImage, loadSharp } from './decode';

/**
 * A row decoder over image files for StreamingImageDataset: each call decodes one file with sharp; a
 * file that cannot be decoded fails the read with a GenviewError naming it.
 */
export function decodeFileRow(
  paths: readonly string[],
  options: DecodeOptions,
  where: string,
  fix = 'replace or remove the file (and its manifest row); images are decoded with sharp (PNG, JPEG, WebP, GIF, TIFF, AVIF, HEIF, SVG).',
): (index: number) => Promise<Uint8Array> {
  return async (index) => {
    const path = paths[index];
    const sharp = await loadSharp(where);
    try {
      return await decodeImage(sharp, path, options);
    } catch (error) {
      throw new GenviewError('UNREADABLE_FILE', `cannot decode ${path} (row ${index}): ${(error as Error).message.split('\n')[0]}`, {
        where: path,
        fix,
        cause: error,
      });
    }
  };
}
