import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isGenviewError } from '@genview/core';
import { main } from '@genview/runner';
import { ViewStore } from '@genview/views';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sink } from './output-sink';
import { tinyGenerateSection, writeTinyConfig } from './tiny-run';

/** Every file under dir by relative path. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

async function genview(...args: string[]) {
  const out = sink();
  const err = sink();
  const code = await main(args, out, err);
  return { code, out: out.text(), err: err.text() };
}

describe('genview verify', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'genview-verify-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const generateInto = async (name: string) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const store = join(dir, 'views');
    const config = writeTinyConfig(dir, join(dir, 'run'), { extra: tinyGenerateSection(store, 32) });
    const run = await genview('generate', '--config', config, '--plain');
    expect(run.code, run.err).toBe(0);
    return { store, config };
  };

  it('reports a damaged shard (exit 4); --repair un-marks it and generate rewrites that one shard, to the bytes of an undamaged store', async () => {
    const reference = await generateInto('reference');
    const { store, config } = await generateInto('damaged');
    expect(await genview('verify', store)).toMatchObject({ code: 0, out: expect.stringContaining('no damage found') });

    const shard = join(store, 'shards', 'shard-000002.tar');
    const bytes = readFileSync(shard);
    bytes[700] ^= 0xff;
    writeFileSync(shard, bytes);
    // Reading it fails, and the error points to the command that mends it.
    const reader = await ViewStore.open(store);
    const error = await reader.readView(17, 0).catch((e: unknown) => e);
    expect(isGenviewError(error)).toBe(true);
    expect((error as Error).message).toContain(`genview verify ${store} --repair`);

    const found = await genview('verify', store);
    expect(found.code).toBe(4);
    expect(found.out).toMatch(/DAMAGED shard 2: sha256 is [0-9a-f]{64}, the marker says/);
    expect(found.out).toContain(`\`genview verify ${store} --repair\``);
    // Without the repair, generate has nothing to do: the shard is still marked complete.
    expect((await genview('generate', '--config', config, '--plain')).out).toContain(': 0 shards written this run');

    const repaired = await genview('verify', store, '--repair');
    expect(repaired.code).toBe(0);
    expect(repaired.out).toContain('repaired: un-marked shard 2;');
    const rewritten = await genview('generate', '--config', config, '--plain');
    expect(rewritten.out).toContain(': 1 shards written this run (4 in all)');
    expect(await genview('verify', store)).toMatchObject({ code: 0 });

    const want = snapshot(reference.store);
    const got = snapshot(store);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [path, data] of want) expect(got.get(path)?.equals(data), path).toBe(true);
  }, 120_000);

  it('checks every checkpoint of a run and says which sound ones exist', async () => {
    const dir = join(root, 'train');
    mkdirSync(dir, { recursive: true });
    const outDir = join(dir, 'run');
    const config = writeTinyConfig(dir, outDir, { steps: 6, checkpointEvery: 3 });
    expect((await genview('train', '--config', config, '--plain')).code).toBe(0);
    const ok = await genview('verify', outDir);
    expect(ok).toMatchObject({ code: 0, out: expect.stringContaining('checkpoint last.safetensors: ok (step 6)') });

    const last = join(outDir, 'last.safetensors');
    writeFileSync(join(outDir, 'step-6.safetensors'), readFileSync(last));
    writeFileSync(last, readFileSync(last).subarray(0, 300));
    const bad = await genview('verify', outDir, '--json');
    expect(bad.code).toBe(4);
    const result = JSON.parse(bad.out) as { kind: string; remaining: number; checkpoints: { file: string; ok: boolean; step?: number; problem?: string }[] };
    expect(result).toMatchObject({ kind: 'run', remaining: 1 });
    expect(result.checkpoints).toEqual([
      { file: 'last.safetensors', ok: false, problem: expect.stringMatching(/truncated file/) },
      { file: 'step-6.safetensors', ok: true, step: 6 },
    ]);
    const text = await genview('verify', outDir, '--repair');
    expect(text.code).toBe(4);
    expect(text.out).toContain('copy a sound one over it (step-6.safetensors (step 6))');

    expect(await genview('verify', join(root, 'nothing-here'))).toMatchObject({ code: 2, err: expect.stringContaining('[NOT_FOUND]') });
  }, 120_000);
});
