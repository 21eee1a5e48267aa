import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '@genview/core';
import { main, runConfigSchema } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { hashConfig } from '../src/run/config-hash';
import { sink } from './output-sink';
import { writeTinyConfig } from './tiny-run';

describe("the checkpoint's configHash", () => {
  it('leaves out where the run reads and writes, and nothing else', () => {
    const base = (root: string, lr: number) =>
      runConfigSchema.parse({
        outDir: `${root}/run`,
        plugins: [`${root}/plugins/my-plugins.mjs`, '@acme/genview-plugins'],
        data: { train: { name: 'image-folder', dir: `${root}/images` } },
        views: { preset: 'simclr', generated: { generator: { name: 'view-store', dir: `${root}/views` } } },
        quality: { name: 'genview-fg-bg', encoder: `checkpoint:${root}/encoder-run`, direction: `${root}/fg.safetensors` },
        generate: { store: `${root}/views`, generator: { name: 'onnx-diffusion', path: `${root}/unclip` } },
        trainer: { lr },
      });
    expect(hashConfig(base('/home/a', 0.3))).toBe(hashConfig(base('/srv/b/c', 0.3)));
    expect(hashConfig(base('/home/a', 0.3))).not.toBe(hashConfig(base('/home/a', 0.2)));
    // Another plugin module, or another kind of encoder, is a different run.
    const other = base('/home/a', 0.3);
    expect(hashConfig({ ...other, plugins: ['/home/a/plugins/other.mjs', '@acme/genview-plugins'] })).not.toBe(hashConfig(other));
    expect(hashConfig({ ...other, quality: { ...(other.quality as Record<string, unknown>), name: 'genview-fg-bg', encoder: 'random:3' } })).not.toBe(hashConfig(other));
    // An onnx:<file> encoder: the file's place does not count, its options (which change the features) do.
    const withOnnx = (encoder: string) => hashConfig({ ...other, quality: { ...(other.quality as Record<string, unknown>), name: 'genview-fg-bg', encoder } });
    expect(withOnnx('onnx:/home/a/r18.onnx?norm=imagenet')).toBe(withOnnx('onnx:/srv/b/r18.onnx?norm=imagenet'));
    expect(withOnnx('onnx:/home/a/r18.onnx?norm=imagenet')).not.toBe(withOnnx('onnx:/home/a/r18.onnx'));
  });

  it('two identical runs in different folders write byte-identical checkpoints', async () => {
    const root = mkdtempSync(join(tmpdir(), 'genview-hash-'));
    const files: Buffer[] = [];
    for (const name of ['first', join('somewhere', 'else')]) {
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      const config = writeTinyConfig(dir, join(dir, 'run'), { steps: 6, checkpointEvery: 3 });
      expect(await main(['train', '--config', config, '--plain'], sink(), sink())).toBe(0);
      files.push(readFileSync(join(dir, 'run', 'last.safetensors')));
    }
    expect(decodeSafetensors(new Uint8Array(files[0])).metadata?.step).toBe('6');
    expect(files[1].equals(files[0])).toBe(true);
    rmSync(root, { recursive: true, force: true });
  }, 120_000);
});
