/**
 * IEEE half precision (F16) and bfloat16 (BF16) to and from float32, by bit manipulation: both are
 * how PyTorch checkpoints are commonly shared, and JavaScript has no typed array for either. Narrowing
 * rounds to nearest, ties to even (what PyTorch's .half() and .bfloat16() do); NaN stays NaN (quiet),
 * infinities and signed zeros are kept, values past the range become infinity.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(value: number): number {
  f32[0] = value;
  return u32[0];
}

function floatOf(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** Rounds `value >>> shift` to nearest, ties to even. */
function shiftRoundEven(value: number, shift: number): number {
  const kept = Math.floor(value / 2 ** shift);
  const rest = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

export function float32ToFloat16Bits(value: number): number {
  const x = bitsOf(value);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A half subnormal counts units of 2^-24; a float32 subnormal (exponent 0) is far below that and rounds to zero.
    if (exponent === 0) return sign;
    const shift = 14 - e;
    if (shift > 25) return sign;
    return sign | shiftRoundEven(0x800000 | mantissa, shift);
  }
  // A carry out of the mantissa moves into the exponent, up to infinity (0x7c00), as it should.
  return sign | (((e << 10) | (mantissa >>> 13)) + roundBit(mantissa, 13));
}

/** 1 when the low `bits` bits of `mantissa` round the kept part up (nearest, ties to even). */
function roundBit(mantissa: number, bits: number): number {
  const rest = mantissa & ((1 << bits) - 1);
  const half = 1 << (bits - 1);
  return rest > half || (rest === half && ((mantissa >>> bits) & 1) === 1) ? 1 : 0;
}

export function float16BitsToFloat32(bits: number): number {
  const sign = (bits & 0x8000) << 16;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return floatOf(sign | 0x7f800000 | (mantissa << 13));
  if (exponent === 0) {
    const magnitude = mantissa * 2 ** -24;
    return sign ? -magnitude : magnitude;
  }
  return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

export function float32ToBfloat16Bits(value: number): number {
  const x = bitsOf(value);
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x >>> 16) + roundBit(x & 0x1ffff, 16)) & 0xffff;
}

export function bfloat16BitsToFloat32(bits: number): number {
  return floatOf((bits & 0xffff) << 16);
}
