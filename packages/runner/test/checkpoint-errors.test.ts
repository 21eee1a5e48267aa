import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { sink } from './output-sink';
import { writeTinyConfig } from './tiny-run';

describe('a damaged last.safetensors under --resume', () => {
  it('names the file and says what to do: delete it and start over, or copy an earlier checkpoint over it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'genview-ckpt-errors-'));
    const outDir = join(dir, 'run');
    const config = writeTinyConfig(dir, outDir, { steps: 10 });
    expect(await main(['train', '--config', config, '--plain'], sink(), sink())).toBe(0);
    const last = join(outDir, 'last.safetensors');
    const good = readFileSync(last);

    const resumeWith = async (bytes: Uint8Array) => {
      writeFileSync(last, bytes);
      const err = sink();
      const code = await main(['train', '--config', config, '--plain', '--resume'], sink(), err);
      return { code, text: err.text() };
    };
    const garbage = Uint8Array.from(good);
    garbage.set([0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0x56, 0x78], 0);
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 100), /truncated file/],
      ['garbage-headed', garbage, /header length/],
      ['empty', new Uint8Array(0), /only 0 bytes/],
    ];
    for (const [label, bytes, problem] of cases) {
      const { code, text } = await resumeWith(bytes);
      expect(code, label).toBe(2);
      expect(text, label).toContain(`[CHECKPOINT] ${last}: the checkpoint is damaged`);
      expect(text, label).toMatch(problem);
      expect(text, label).toContain(`delete ${last} and run genview train without --resume`);
      expect(text, label).toContain('holds no other checkpoint');
    }

    // With an earlier checkpoint kept beside it, the fix names it and its step.
    writeFileSync(last, good);
    copyFileSync(last, join(outDir, 'step-10.safetensors'));
    const { code, text } = await resumeWith(good.subarray(0, 20));
    expect(code).toBe(2);
    expect(text).toContain(`resume from an earlier checkpoint by copying it over ${last} (this folder has step-10.safetensors (step 10))`);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
