import { deflateSync, inflateSync } from 'node:zlib';
import { GenviewError } from '@genview/core';

/*
 * A minimal PNG codec (8-bit, non-interlaced). The report only embeds small thumbnails, and owning the
 * encoder keeps the bytes (and so the report) identical across machines and libvips versions; the
 * decoder lets tests read those thumbnails and browser screenshots back without a native dependency.
 */

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const COLOR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };
const CHANNELS: Record<number, number> = { 0: 1, 4: 2, 2: 3, 6: 4 };

/** uint8 HWC pixels with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels. */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: number): Buffer {
  const colorType = COLOR_TYPE[channels];
  if (colorType === undefined || pixels.length !== width * height * channels) {
    throw new GenviewError('BAD_SHAPE', `cannot encode ${pixels.length} bytes as a ${width}x${height}x${channels} PNG.`, {
      fix: 'pass uint8 HWC pixels with 1 to 4 channels.',
    });
  }
  const stride = width * channels;
  // Filter type 0 on every row: the thumbnails are tiny, and a fixed choice keeps the bytes reproducible.
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, colorType, 0, 0, 0], 8);
  return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

export interface DecodedPng {
  width: number;
  height: number;
  channels: number;
  /** uint8, HWC. */
  pixels: Uint8Array;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Width and height from the IHDR chunk, without decoding the pixels. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const bytes = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(SIGNATURE) || bytes.toString('latin1', 12, 16) !== 'IHDR') {
    throw new GenviewError('UNREADABLE_FILE', 'not a PNG file (bad signature or no IHDR chunk first).', { fix: 'pass the bytes of a PNG file.' });
  }
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

export function decodePng(png: Uint8Array): DecodedPng {
  const bytes = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const { width, height } = pngSize(bytes);
  const depth = bytes[24];
  const colorType = bytes[25];
  const interlace = bytes[28];
  const channels = CHANNELS[colorType];
  if (depth !== 8 || channels === undefined || interlace !== 0) {
    throw new GenviewError('UNREADABLE_FILE', `unsupported PNG: bit depth ${depth}, colour type ${colorType}, interlace ${interlace}.`, {
      fix: 'only 8-bit, non-interlaced grey, grey+alpha, RGB and RGBA PNGs are read.',
    });
  }
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') break;
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) {
    throw new GenviewError('UNREADABLE_FILE', `PNG data is ${raw.length} bytes, ${height * (stride + 1)} expected.`, { fix: 'the file is truncated.' });
  }
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    if (filter > 4) throw new GenviewError('UNREADABLE_FILE', `PNG row ${y} has filter type ${filter}; 0 to 4 exist.`, { fix: 'the file is damaged.' });
    const row = y * stride;
    const src = y * (stride + 1) + 1;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[row + x - channels] : 0;
      const b = y > 0 ? pixels[row - stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[row - stride + x - channels] : 0;
      const predictor = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
      pixels[row + x] = (raw[src + x] + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}
