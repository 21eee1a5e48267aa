import type { RecordLayout } from './record-files';

/** CIFAR keeps each image as three 32x32 planes (R, G, B), row-major, after its label byte(s). */
export function cifarLayout(labelBytes: number): RecordLayout {
  const side = 32;
  const plane = side * side;
  return {
    recordBytes: labelBytes + 3 * plane,
    pixelOffset: labelBytes,
    imageShape: [side, side, 3],
    decode(pixels, out, offset) {
      for (let p = 0; p < plane; p++) {
        const o = offset + p * 3;
        out[o] = pixels[p] / 255;
        out[o + 1] = pixels[plane + p] / 255;
        out[o + 2] = pixels[2 * plane + p] / 255;
      }
    },
  };
}

/** STL-10 stores each 96x96 image as three planes in column-major order (x outer, y inner), no label. */
export function stl10Layout(): RecordLayout {
  const side = 96;
  const plane = side * side;
  return {
    recordBytes: 3 * plane,
    pixelOffset: 0,
    imageShape: [side, side, 3],
    decode(pixels, out, offset) {
      for (let c = 0; c < 3; c++) {
        for (let x = 0; x < side; x++) {
          const column = c * plane + x * side;
          for (let y = 0; y < side; y++) out[offset + (y * side + x) * 3 + c] = pixels[column + y] / 255;
        }
      }
    },
  };
}
