import type { Rng } from '@genview/core';

type Point = [number, number];

/** An ellipse as a closed polyline (center, radii, number of sides). */
function ellipse(cx: number, cy: number, rx: number, ry: number, sides = 14, from = 0, to = 2 * Math.PI): Point[] {
  const points: Point[] = [];
  for (let i = 0; i <= sides; i++) {
    const a = from + ((to - from) * i) / sides;
    points.push([cx + rx * Math.cos(a), cy + ry * Math.sin(a)]);
  }
  return points;
}

/**
 * Hand-drawn stroke skeletons of the ten digits in a unit box (x right, y down), one or more polylines
 * each. MNIST itself cannot be downloaded offline, so coloured-digit benchmarks draw their digits from
 * these with a random pose and stroke width per image: ten shape classes with within-class variation.
 */
export const DIGIT_STROKES: readonly (readonly Point[])[][] = [
  [ellipse(0.5, 0.5, 0.27, 0.4)],
  [
    [
      [0.33, 0.27],
      [0.55, 0.1],
      [0.55, 0.9],
    ],
  ],
  [
    [
      [0.22, 0.3],
      [0.3, 0.15],
      [0.5, 0.08],
      [0.7, 0.15],
      [0.76, 0.3],
      [0.7, 0.45],
      [0.22, 0.9],
      [0.8, 0.9],
    ],
  ],
  [
    [
      [0.22, 0.15],
      [0.5, 0.08],
      [0.75, 0.2],
      [0.72, 0.38],
      [0.48, 0.48],
      [0.75, 0.6],
      [0.78, 0.78],
      [0.5, 0.92],
      [0.2, 0.85],
    ],
  ],
  [
    [
      [0.65, 0.9],
      [0.65, 0.1],
      [0.2, 0.65],
      [0.82, 0.65],
    ],
  ],
  [
    [
      [0.75, 0.1],
      [0.3, 0.1],
      [0.27, 0.45],
      [0.55, 0.4],
      [0.75, 0.52],
      [0.76, 0.75],
      [0.55, 0.9],
      [0.22, 0.85],
    ],
  ],
  [
    [
      [0.7, 0.12],
      [0.45, 0.15],
      [0.28, 0.4],
      [0.25, 0.7],
      [0.4, 0.9],
      [0.65, 0.88],
      [0.75, 0.7],
      [0.62, 0.52],
      [0.4, 0.52],
      [0.27, 0.65],
    ],
  ],
  [
    [
      [0.2, 0.1],
      [0.8, 0.1],
      [0.42, 0.9],
    ],
  ],
  [ellipse(0.5, 0.29, 0.2, 0.19), ellipse(0.5, 0.7, 0.25, 0.21)],
  [
    ellipse(0.48, 0.32, 0.22, 0.21),
    [
      [0.7, 0.32],
      [0.66, 0.9],
    ],
  ],
];

/** The random pose of one drawn digit. */
export interface GlyphPose {
  scale: number;
  /** Radians. */
  rotation: number;
  shear: number;
  /** Offsets in units of the image side. */
  dx: number;
  dy: number;
  /** Stroke width in units of the image side. */
  thickness: number;
}

/** Pose ranges: MNIST-like variation (a few degrees of slant, ±10 % shifts, thin to bold strokes). */
export function samplePose(rng: Rng): GlyphPose {
  return {
    scale: rng.uniform(0.7, 0.95),
    rotation: rng.uniform(-0.2, 0.2),
    shear: rng.uniform(-0.2, 0.2),
    dx: rng.uniform(-0.08, 0.08),
    dy: rng.uniform(-0.08, 0.08),
    thickness: rng.uniform(0.08, 0.13),
  };
}

/**
 * Rasterises a digit into `out` (size × size, values in [0, 1], coverage of the stroke), anti-aliased
 * by distance to the nearest segment. `out` is overwritten.
 */
export function drawDigit(digit: number, pose: GlyphPose, size: number, out: Float32Array): void {
  const cos = Math.cos(pose.rotation);
  const sin = Math.sin(pose.rotation);
  const segments: number[] = [];
  for (const line of DIGIT_STROKES[digit]) {
    const mapped = line.map(([x, y]): Point => {
      // Centre, shear, rotate, scale, shift; then to pixel units.
      const u = x - 0.5 + pose.shear * (y - 0.5);
      const v = y - 0.5;
      const px = (pose.scale * (cos * u - sin * v) + 0.5 + pose.dx) * size;
      const py = (pose.scale * (sin * u + cos * v) + 0.5 + pose.dy) * size;
      return [px, py];
    });
    for (let i = 0; i + 1 < mapped.length; i++) segments.push(mapped[i][0], mapped[i][1], mapped[i + 1][0], mapped[i + 1][1]);
  }
  const half = (pose.thickness * size) / 2;
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      const x = col + 0.5;
      const y = row + 0.5;
      let best = Number.POSITIVE_INFINITY;
      for (let s = 0; s < segments.length; s += 4) {
        const ax = segments[s];
        const ay = segments[s + 1];
        const bx = segments[s + 2] - ax;
        const by = segments[s + 3] - ay;
        const len2 = bx * bx + by * by;
        const t = len2 > 0 ? Math.max(0, Math.min(1, ((x - ax) * bx + (y - ay) * by) / len2)) : 0;
        const ex = x - ax - t * bx;
        const ey = y - ay - t * by;
        const d = ex * ex + ey * ey;
        if (d < best) best = d;
      }
      out[row * size + col] = Math.max(0, Math.min(1, half + 0.5 - Math.sqrt(best)));
    }
  }
}
