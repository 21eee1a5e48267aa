import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ViewStore } from '@genview/views';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built CLI, as a user runs it; killed with SIGKILL mid-run, then resumed.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'packages/runner/dist/cli.js');
const PIPELINE = join(ROOT, 'packages/views/test/fixtures/tiny-random-unclip');

function yaml(store: string): string {
  return `seed: 5
outDir: ${store}
generate:
  generator: { name: onnx-diffusion, path: ${PIPELINE}, steps: 3, threads: 1 }
  conditioning: { name: genview-adaptive-noise, strategy: random, levels: [0, 200, 400] }
  store: ${store}
  viewsPerImage: 2
  shardSize: 4
  batchSize: 4
  limit: 48
`;
}

async function snapshot(dir: string): Promise<string[]> {
  const store = await ViewStore.open(dir);
  const out: string[] = [];
  for (let index = 0; index < 48; index++) {
    for (let k = 0; k < 2; k++) {
      const v = await store.readView(index, k);
      out.push(`${index}.${k}:${Buffer.from(v.pixels).toString('base64')}:${JSON.stringify(v.params)}`);
    }
  }
  return out;
}

describe.skipIf(!existsSync(CLI))('genview generate killed mid-run', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-kill-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('resumes after SIGKILL without losing or duplicating a view', async () => {
    const reference = join(root, 'reference');
    await writeFile(join(root, 'reference.yaml'), yaml(reference));
    const whole = spawnSync('node', [CLI, 'generate', '--config', join(root, 'reference.yaml'), '--plain'], { encoding: 'utf8' });
    expect(whole.status, whole.stderr).toBe(0);
    expect(whole.stdout).toMatch(/12 shards written this run \(12 in all\), 96 views/);

    const killed = join(root, 'killed');
    await writeFile(join(root, 'killed.yaml'), yaml(killed));
    const child = spawn('node', [CLI, 'generate', '--config', join(root, 'killed.yaml'), '--plain'], { stdio: 'ignore' });
    // Kill once a few shards are done, so the run dies part-way through the next one.
    const markers = join(killed, 'done');
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(async () => {
        const done = existsSync(markers) ? (await readdir(markers)).length : 0;
        if (done >= 3) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(poll);
        reject(new Error('the run finished before it could be killed'));
      });
    });
    const partial = await ViewStore.open(killed);
    expect(partial.isComplete()).toBe(false);
    const resumed = spawnSync('node', [CLI, 'generate', '--config', join(root, 'killed.yaml'), '--plain'], { encoding: 'utf8' });
    expect(resumed.status, resumed.stderr).toBe(0);
    const written = Number(/(\d+) shards written this run/.exec(resumed.stdout)?.[1]);
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(12);
    expect(await snapshot(killed)).toEqual(await snapshot(reference));
    expect((await readdir(join(killed, 'shards'))).filter((f) => f.endsWith('.tar'))).toHaveLength(12);
  });
});
