import type { Tensor } from '@tensorflow/tfjs-core';
import { GenviewError } from './errors';

/** A dimension: an exact size, null for any size, or a name that must agree across calls of one check. */
export type Dim = number | null | string;

/**
 * Checks a tensor's rank and sizes; named dims (strings) must be equal wherever they repeat,
 * across all tensors given to one `ShapeCheck`. Messages name the tensor, the expected layout and what came.
 */
export class ShapeCheck {
  private bound = new Map<string, number>();

  constructor(private readonly where: string) {}

  check(tensor: Tensor, label: string, expected: Dim[]): this {
    const shape = tensor.shape;
    const layout = `[${expected.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
    if (shape.length !== expected.length) {
      throw new GenviewError(
        'BAD_SHAPE',
        `${label} must have rank ${expected.length} ${layout}, got shape [${shape.join(', ')}].`,
        { where: this.where, fix: `pass ${label} as a ${expected.length}-D tensor laid out ${layout}.` },
      );
    }
    expected.forEach((dim, i) => {
      const actual = shape[i];
      if (dim === null) return;
      if (typeof dim === 'number') {
        if (actual !== dim) {
          throw new GenviewError('BAD_SHAPE', `${label} dim ${i} must be ${dim} ${layout}, got shape [${shape.join(', ')}].`, {
            where: this.where,
          });
        }
        return;
      }
      const prior = this.bound.get(dim);
      if (prior === undefined) this.bound.set(dim, actual);
      else if (prior !== actual) {
        throw new GenviewError(
          'BAD_SHAPE',
          `${label} dim ${i} (${dim}) is ${actual} but ${dim} was ${prior} earlier; expected ${layout}, got [${shape.join(', ')}].`,
          { where: this.where, fix: `make every tensor agree on ${dim}.` },
        );
      }
    });
    return this;
  }

  size(name: string): number | undefined {
    return this.bound.get(name);
  }
}

/** One-off check of a single tensor. */
export function assertShape(tensor: Tensor, expected: Dim[], label: string, where: string): void {
  new ShapeCheck(where).check(tensor, label, expected);
}
