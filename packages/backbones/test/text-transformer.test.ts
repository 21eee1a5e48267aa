import { EventBus, GenviewError, Registry, Rng, type Tensor2D, selectBackend, tf } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TextTransformer, createTextTransformer, plugins } from '../src/index';
import { firstEosPositions } from '../src/models/text-transformer';

// A tiny tower: vocabulary 20 with eos 19 (0 plays padding), 8 positions, width 16.
const VOCAB = 20;
const EOS = 19;
const L = 8;
const evalMode = { training: false };

const ids = (rows: number[][]): Tensor2D => tf.tensor2d(rows, [rows.length, L], 'int32');

let net: TextTransformer;
beforeAll(() => {
  net = createTextTransformer({ vocabSize: VOCAB, contextLength: L, eosTokenId: EOS, width: 16, layers: 2, heads: 2, rng: new Rng(5) });
});
afterAll(() => net.dispose());

/** Runs f, returns its output as nested arrays, and disposes every tensor it made (inputs included). */
function run<T>(f: () => tf.Tensor): T {
  const out = tf.tidy(f);
  const values = out.arraySync() as T;
  out.dispose();
  return values;
}

describe('text-transformer forward', () => {
  it('maps [N, L] int32 ids to [N, width] and names its variables like the other backbones', () => {
    const out = net.apply(ids([[1, 2, 3, EOS, 0, 0, 0, 0], [4, EOS, 0, 0, 0, 0, 0, 0], [5, 6, 7, 8, 9, 10, 11, EOS]]), evalMode);
    expect(out.shape).toEqual([3, 16]);
    expect(net.featureDim).toBe(16);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
    const names = net.variables().map((v) => v.name);
    expect(names.slice(0, 2)).toEqual(['token_embedding.weight', 'positional_embedding']);
    expect(names).toContain('blocks.1.attn.qkv.weight');
    expect(names).toContain('blocks.0.mlp.fc2.bias');
    expect(names[names.length - 1]).toBe('ln_final.bias');
    expect(net.variables().find((v) => v.name === 'token_embedding.weight')?.variable.shape).toEqual([VOCAB, 16]);
    expect(net.variables().find((v) => v.name === 'positional_embedding')?.variable.shape).toEqual([L, 16]);
  });

  it('is causal: tokens after the eos position do not change the output, tokens before it do', () => {
    const base = [3, 1, 4, EOS, 0, 0, 0, 0];
    const after = [3, 1, 4, EOS, 7, 7, 12, 5];
    const before = [3, 2, 4, EOS, 0, 0, 0, 0];
    const [a, b, c] = run<number[][]>(() => net.apply(ids([base, after, before]), evalMode));
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-6);
    expect(Math.max(...a.map((v, i) => Math.abs(v - c[i])))).toBeGreaterThan(1e-3);
    // The same holds for every position's token feature, not only the pooled one.
    const tokens = run<number[][][]>(() => net.tokens(ids([base, after]), evalMode));
    for (let p = 0; p <= 3; p++) expect(Math.max(...tokens[0][p].map((v, i) => Math.abs(v - tokens[1][p][i])))).toBeLessThan(1e-6);
    expect(Math.max(...tokens[0][4].map((v, i) => Math.abs(v - tokens[1][4][i])))).toBeGreaterThan(1e-3);
  });

  it('pools at the first eos of each row, and at the last position of a row without one', () => {
    const rows = [
      [1, 2, EOS, 0, 0, 0, 0, 0],
      [1, EOS, 3, EOS, 0, 0, 0, 0],
      [1, 2, 3, 4, 5, 6, 7, 8],
    ];
    const x = ids(rows);
    expect(Array.from(net.poolPositions(x))).toEqual([2, 1, 7]);
    expect(Array.from(firstEosPositions(Int32Array.from(rows.flat()), 3, L, EOS))).toEqual([2, 1, 7]);
    const pooled = run<number[][]>(() => net.apply(x, evalMode));
    const tokens = run<number[][][]>(() => net.tokens(x, evalMode));
    x.dispose();
    const expected = [tokens[0][2], tokens[1][1], tokens[2][7]];
    for (let r = 0; r < 3; r++) {
      expect(pooled[r]).toEqual(expected[r]);
      // And not some other position's feature.
      expect(pooled[r]).not.toEqual(tokens[r][0]);
    }
  });

  it('does not leak tensors across forward and backward passes', () => {
    const x = ids([[1, 2, EOS, 0, 0, 0, 0, 0], [4, 5, 6, EOS, 0, 0, 0, 0]]);
    const projection = tf.tensor2d(new Rng(9).normalArray(16 * 3), [16, 3]);
    const step = () => {
      tf.dispose([net.apply(x, evalMode), net.tokens(x, { training: true })]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.matMul(net.apply(x, { training: true }), projection))));
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, projection]);
  });
});

describe('text-transformer errors', () => {
  const caught = (f: () => unknown): GenviewError => {
    try {
      tf.tidy(() => {
        f();
        return undefined;
      });
    } catch (error) {
      if (error instanceof GenviewError) return error;
      throw error;
    }
    throw new Error('expected a GenviewError');
  };

  it('refuses ids out of range, the wrong dtype, rank or length, naming the tower and the fix', () => {
    let e = caught(() => net.apply(ids([[1, 2, VOCAB, 0, 0, 0, 0, 0]]), evalMode));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.where).toBe('text-transformer');
    expect(e.message).toMatch(/token id 20 \(row 0, position 2\) is outside the vocabulary \[0, 20\)/);
    expect(e.fix).toMatch(/vocabSize/);
    e = caught(() => net.apply(ids([[1, 2, 3, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0, 0, 0]]), evalMode));
    expect(e.message).toMatch(/token id -1 \(row 1, position 0\)/);
    e = caught(() => net.apply(tf.tensor2d([[1, 2, EOS, 0, 0, 0, 0, 0]]), evalMode));
    expect(e.message).toMatch(/must be int32, got float32/);
    e = caught(() => net.apply(tf.tensor1d([1, 2, EOS, 0, 0, 0, 0, 0], 'int32'), evalMode));
    expect(e.code).toBe('BAD_SHAPE');
    expect(e.message).toMatch(/token ids must have rank 2/);
    e = caught(() => net.apply(tf.tensor2d([[1, 2, EOS, 0]], [1, 4], 'int32'), evalMode));
    expect(e.code).toBe('BAD_SHAPE');
    expect(e.message).toMatch(/4 positions per row, expected contextLength 8/);
    expect(e.fix).toMatch(/Tokenizer\.encodeBatch/);
  });

  it('validates its config through the plugin schema and fills the documented defaults', async () => {
    const registry = new Registry().register(plugins);
    const ctx = { rng: new Rng(0), events: new EventBus() };
    await expect(registry.create('backbone', { name: 'text-transformer', vocabSize: 10, eosTokenId: 10 }, ctx)).rejects.toThrow(/eosTokenId must be below vocabSize/);
    await expect(registry.create('backbone', { name: 'text-transformer', vocabSize: 10, eosTokenId: 9, width: 30 }, ctx)).rejects.toThrow(/heads must divide width/);
    const tower = await registry.create('backbone', { name: 'text-transformer', vocabSize: 50, eosTokenId: 49 }, ctx);
    expect(tower.featureDim).toBe(128);
    const shapes = new Map(tower.variables().map((v) => [v.name, v.variable.shape]));
    expect(shapes.get('positional_embedding')).toEqual([77, 128]);
    expect(shapes.get('blocks.2.mlp.fc1.weight')).toEqual([128, 512]);
    expect(shapes.has('blocks.3.norm1.weight')).toBe(false);
    const out = tower.apply(tf.tensor2d(new Int32Array(2 * 77).fill(49), [2, 77], 'int32'), evalMode);
    expect(out.shape).toEqual([2, 128]);
    tf.dispose(out);
    tower.dispose();
  });
});

describe('text-transformer gradients', () => {
  const x = () => ids([[1, 2, 3, EOS, 15, 15, 15, 15], [4, 5, EOS, 0, 16, 16, 16, 16]]);
  const projection = () => tf.tensor2d(new Rng(99).normalArray(16 * 3), [16, 3]);
  const lossOf = (input: Tensor2D, p: tf.Tensor2D, tower = net) =>
    tf.tidy(() => tf.sum(tf.square(tf.matMul(tower.apply(input, { training: true }), p))) as tf.Scalar);

  it('reach the embeddings and every block, and nothing past the eos position', () => {
    const input = x();
    const p = projection();
    const { value, grads } = tf.variableGrads(() => lossOf(input, p));
    const byName = new Map(net.variables().map((v) => [v.name, grads[v.variable.name]]));
    const zero = [...byName].filter(([, g]) => g === undefined || !(tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]) > 0)).map(([n]) => n);
    expect(zero).toEqual([]);
    const rowNorms = (g: tf.Tensor) => tf.tidy(() => Array.from(tf.sum(tf.abs(g), 1).dataSync()));
    const token = rowNorms(byName.get('token_embedding.weight')!);
    // Ids seen before an eos get gradient; 15 and 16 appear only after it; 0 only after row 1's eos.
    for (const id of [1, 2, 3, 4, 5, EOS]) expect(token[id]).toBeGreaterThan(0);
    for (const id of [0, 15, 16, 7]) expect(token[id]).toBe(0);
    const positions = rowNorms(byName.get('positional_embedding')!);
    expect(positions.slice(0, 4).every((v) => v > 0)).toBe(true);
    expect(positions.slice(4)).toEqual([0, 0, 0, 0]);
    tf.dispose([value, ...Object.values(grads), input, p]);
  });

  it('match central finite differences on the cpu backend', async () => {
    await selectBackend({ force: 'cpu' });
    // A tower of its own, made on cpu: the exact float32 reference kernels, nothing moved between backends.
    const cpuNet = createTextTransformer({ vocabSize: VOCAB, contextLength: L, eosTokenId: EOS, width: 16, layers: 2, heads: 2, rng: new Rng(5) });
    const input = x();
    const p = projection();
    const names = ['token_embedding.weight', 'positional_embedding', 'blocks.0.attn.qkv.weight', 'blocks.1.norm2.weight'];
    const byName = new Map(cpuNet.variables().map((v) => [v.name, v.variable]));
    const variables = names.map((n) => byName.get(n)!);
    const { value, grads } = tf.variableGrads(() => lossOf(input, p, cpuNet), variables);
    value.dispose();
    const h = 1e-2;
    // Coordinates that matter: token 2's first entry, position 1, and the first and middle of the others.
    const coordinates: Record<string, number[]> = {
      'token_embedding.weight': [2 * 16, 2 * 16 + 5],
      positional_embedding: [16 + 3],
      'blocks.0.attn.qkv.weight': [0, 16 * 24],
      'blocks.1.norm2.weight': [0, 7],
    };
    for (const [k, variable] of variables.entries()) {
      const analytic = grads[variable.name].dataSync();
      const base = Float32Array.from(variable.dataSync());
      for (const i of coordinates[names[k]]) {
        const at = (delta: number) => {
          const shifted = Float32Array.from(base);
          shifted[i] += delta;
          variable.assign(tf.tensor(shifted, variable.shape));
          return tf.tidy(() => lossOf(input, p, cpuNet).dataSync()[0]);
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        variable.assign(tf.tensor(base, variable.shape));
        expect(Math.abs(analytic[i])).toBeGreaterThan(0);
        expect(Math.abs(numeric - analytic[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
      }
    }
    tf.dispose([input, p, ...Object.values(grads)]);
    cpuNet.dispose();
  });
});
