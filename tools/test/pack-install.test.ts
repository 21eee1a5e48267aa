import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'genview-pack-'));

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_fund: 'false', npm_config_audit: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function pack(name: string): string {
  const dir = join(root, 'packages', name);
  if (!existsSync(join(dir, 'dist', 'index.js'))) run('npx', ['tsup'], dir);
  const out = run('npm', ['pack', '--json', '--pack-destination', scratch], dir);
  const [{ filename }] = JSON.parse(out) as { filename: string }[];
  return join(scratch, filename);
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('packages are consumable on their own', () => {
  it('installs only @genview/core + @genview/losses from tarballs and computes a loss (ESM and CJS)', () => {
    const core = pack('core');
    const losses = pack('losses');
    const project = join(scratch, 'consumer');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    run('npm', ['install', '--no-package-lock', '--prefer-offline', core, losses], project);
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
