import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installInto, packWorkspace, run } from './packing';

const scratch = mkdtempSync(join(tmpdir(), 'genview-pack-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('packages are consumable on their own', () => {
  it('installs only @genview/core + @genview/losses from tarballs and computes a loss (ESM and CJS)', () => {
    const project = join(scratch, 'consumer');
    installInto(project, [packWorkspace('core', scratch), packWorkspace('losses', scratch)], { name: 'consumer' });
    const installed = readdirSync(join(project, 'node_modules', '@genview')).sort();
    expect(installed).toEqual(['core', 'losses']);
    // tfjs-core is a peer of core: one copy at the top, none nested under core.
    expect(existsSync(join(project, 'node_modules', '@tensorflow', 'tfjs-core', 'package.json'))).toBe(true);
    expect(existsSync(join(project, 'node_modules', '@genview', 'core', 'node_modules', '@tensorflow', 'tfjs-core'))).toBe(false);
    const program = `
      import * as userTf from '@tensorflow/tfjs-core';
      import { tf, selectBackend } from '@genview/core';
      import { ntXent } from '@genview/losses';
      await selectBackend({ force: 'cpu' });
      const a = tf.tensor2d([[1, 0], [0, 1]]);
      const b = tf.tensor2d([[1, 0], [0, 1]]);
      // The user's own import sees GenView's backend and tensors: one engine, not two.
      const shared = userTf.engine() === tf.engine() && userTf.getBackend() === 'cpu';
      console.log(JSON.stringify({ loss: ntXent([a, b], { temperature: 0.5 }).dataSync()[0], shared }));
    `;
    writeFileSync(join(project, 'esm.mjs'), program);
    const esm = JSON.parse(run('node', ['esm.mjs'], project).trim().split('\n').pop()!) as { loss: number; shared: boolean };
    // Two orthogonal unit pairs: positives have sim 1, the other two candidates sim 0 → log(e^2 + 2) − 2.
    expect(esm.loss).toBeCloseTo(Math.log(Math.exp(2) + 2) - 2, 5);
    expect(esm.shared).toBe(true);
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const { tf, selectBackend } = require('@genview/core'); const { plugins } = require('@genview/losses');
       selectBackend({ force: 'cpu' }).then(() => console.log(JSON.stringify({ names: plugins.map((p) => p.name) })));`,
    );
    const cjs = JSON.parse(run('node', ['cjs.cjs'], project).trim().split('\n').pop()!) as { names: string[] };
    expect(cjs.names).toContain('nt-xent');
  });
});
