type Point = readonly [number, number];

/** The shapes captioned-shapes draws; their names are its class names and caption nouns. */
export const SHAPE_NAMES = ['circle', 'square', 'triangle', 'cross', 'star', 'diamond'] as const;
export type ShapeName = (typeof SHAPE_NAMES)[number];

export const TEXTURE_NAMES = ['solid', 'striped', 'dotted'] as const;
export type TextureName = (typeof TEXTURE_NAMES)[number];

/**
 * Named colours whose RGB directions stay far apart (cosine ≤ 0.97), so a colour is recognisable from
 * the direction of a pixel alone: texture shading only scales a colour, it never changes its direction.
 */
export const SHAPE_COLORS: readonly { name: string; rgb: readonly [number, number, number] }[] = [
  { name: 'red', rgb: [1, 0.1, 0.1] },
  { name: 'green', rgb: [0.1, 0.85, 0.1] },
  { name: 'blue', rgb: [0.15, 0.3, 1] },
  { name: 'yellow', rgb: [1, 0.9, 0.1] },
  { name: 'purple', rgb: [0.6, 0.15, 0.9] },
  { name: 'orange', rgb: [1, 0.5, 0.05] },
  { name: 'white', rgb: [0.95, 0.95, 0.95] },
];

/** Half-extent of every outline in units of the object's radius (the square's corners reach √2·0.8). */
export const SHAPE_EXTENT = 1.15;

/** Textured areas between stripes or dots keep this share of the colour: darker, same hue. */
export const TEXTURE_SHADE = 0.35;

function regular(count: number, radii: readonly number[], start = -Math.PI / 2): Point[] {
  return Array.from({ length: count }, (_, i) => {
    const r = radii[i % radii.length] as number;
    const a = start + (2 * Math.PI * i) / count;
    return [r * Math.cos(a), r * Math.sin(a)] as const;
  });
}

const ARM = 0.33;
/** Outlines in units of the radius, centred on the origin, y pointing down (image rows). */
const OUTLINES: Record<Exclude<ShapeName, 'circle'>, Point[]> = {
  square: [
    [-0.8, -0.8],
    [0.8, -0.8],
    [0.8, 0.8],
    [-0.8, 0.8],
  ],
  // Centred on its centroid so the object centre is inside, pointing up.
  triangle: regular(3, [1.1]),
  cross: [
    [-ARM, -1],
    [ARM, -1],
    [ARM, -ARM],
    [1, -ARM],
    [1, ARM],
    [ARM, ARM],
    [ARM, 1],
    [-ARM, 1],
    [-ARM, ARM],
    [-1, ARM],
    [-1, -ARM],
    [-ARM, -ARM],
  ],
  star: regular(10, [1.1, 0.45]),
  diamond: [
    [0, -1.05],
    [0.8, 0],
    [0, 1.05],
    [-0.8, 0],
  ],
};

const CIRCLE_RADIUS = 0.9;


function insidePolygon(x: number, y: number, polygon: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i] as Point;
    const [xj, yj] = polygon[j] as Point;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether a point in units of the radius (object frame) lies inside the outline. */
export function insideShape(shape: ShapeName, x: number, y: number): boolean {
  if (shape === 'circle') return x * x + y * y <= CIRCLE_RADIUS * CIRCLE_RADIUS;
  return insidePolygon(x, y, OUTLINES[shape]);
}

/** Distance from a point to the outline (units of the radius), negative inside. */
export function shapeDistance(shape: ShapeName, x: number, y: number): number {
  if (shape === 'circle') return Math.sqrt(x * x + y * y) - CIRCLE_RADIUS;
  const polygon = OUTLINES[shape];
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [ax, ay] = polygon[j] as Point;
    const [bx, by] = polygon[i] as Point;
    const ex = bx - ax;
    const ey = by - ay;
    const t = Math.max(0, Math.min(1, ((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey)));
    const dx = x - ax - t * ex;
    const dy = y - ay - t * ey;
    best = Math.min(best, dx * dx + dy * dy);
  }
  return insidePolygon(x, y, polygon) ? -Math.sqrt(best) : Math.sqrt(best);
}

/** One object to draw, in pixels. */
export interface DrawnObject {
  shape: ShapeName;
  rgb: readonly [number, number, number];
  texture: TextureName;
  /** Centre and radius in pixels. */
  cx: number;
  cy: number;
  radius: number;
  /** Radians, clockwise in image coordinates. */
  rotation: number;
}

/**
 * 1 on the stripe or dot, 0 between. The pattern is anchored at the object centre, so the centre is
 * always on it and the pixel there shows the unshaded colour's direction. Periods have a floor in
 * pixels so that a small object at 32 px still shows a pattern rather than aliasing into noise.
 */
function textureOn(texture: TextureName, dx: number, dy: number, radius: number): boolean {
  if (texture === 'solid') return true;
  if (texture === 'striped') {
    // On where cos(2πu / period) ≥ 0, i.e. u within a quarter period of a multiple of the period.
    const phase = (dx + dy) / Math.SQRT2 / Math.max(3, 0.5 * radius) + 0.25;
    return phase - Math.floor(phase) <= 0.5;
  }
  const spacing = Math.max(3.5, 0.6 * radius);
  const ox = dx - spacing * Math.round(dx / spacing);
  const oy = dy - spacing * Math.round(dy / spacing);
  return ox * ox + oy * oy <= (0.32 * spacing) ** 2;
}

/**
 * Paints objects over a uniform grey background into `out` (size × size × 3, values in [0, 1]).
 * Anti-aliasing by supersampling: each pixel averages `samples`² points, so edges, stripes and dots
 * blend smoothly instead of stair-stepping. Objects are painted in order (later ones on top).
 */
export function drawObjects(objects: readonly DrawnObject[], size: number, background: number, samples: number, out: Float32Array, offset = 0): void {
  for (let p = 0; p < size * size * 3; p++) out[offset + p] = background;
  const step = 1 / samples;
  const weight = 1 / (samples * samples);
  for (const object of objects) {
    const reach = object.radius * SHAPE_EXTENT + 1;
    const x0 = Math.max(0, Math.floor(object.cx - reach));
    const x1 = Math.min(size - 1, Math.ceil(object.cx + reach));
    const y0 = Math.max(0, Math.floor(object.cy - reach));
    const y1 = Math.min(size - 1, Math.ceil(object.cy + reach));
    const cos = Math.cos(object.rotation);
    const sin = Math.sin(object.rotation);
    for (let py = y0; py <= y1; py++) {
      for (let px = x0; px <= x1; px++) {
        // Only pixels the outline crosses need supersampled coverage; the rest are wholly in or out.
        const cx = px + 0.5 - object.cx;
        const cy = py + 0.5 - object.cy;
        const distance = object.radius * shapeDistance(object.shape, (cos * cx + sin * cy) / object.radius, (-sin * cx + cos * cy) / object.radius);
        if (distance >= Math.SQRT1_2) continue;
        let coverage = 0;
        let paint = 0;
        const interior = distance <= -Math.SQRT1_2;
        if (interior && object.texture === 'solid') {
          coverage = 1;
          paint = 1;
        } else {
          for (let sy = 0; sy < samples; sy++) {
            for (let sx = 0; sx < samples; sx++) {
              const dx = px + (sx + 0.5) * step - object.cx;
              const dy = py + (sy + 0.5) * step - object.cy;
              if (!interior) {
                // Into the object frame: undo the rotation, then scale by the radius.
                const lx = (cos * dx + sin * dy) / object.radius;
                const ly = (-sin * dx + cos * dy) / object.radius;
                if (!insideShape(object.shape, lx, ly)) continue;
              }
              coverage += weight;
              paint += weight * (textureOn(object.texture, dx, dy, object.radius) ? 1 : TEXTURE_SHADE);
            }
          }
        }
        if (coverage === 0) continue;
        const at = offset + (py * size + px) * 3;
        for (let c = 0; c < 3; c++) out[at + c] = (1 - coverage) * (out[at + c] as number) + paint * (object.rgb[c] as number);
      }
    }
  }
}
