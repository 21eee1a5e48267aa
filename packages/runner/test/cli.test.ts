import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { sink } from './output-sink';


describe('genview CLI', () => {
  it('lists every plugin kind with options and defaults', async () => {
    const out = sink();
    expect(await main(['plugins'], out, sink())).toBe(0);
    const text = out.text();
    for (const name of ['simclr', 'moco-v2', 'byol', 'simsiam', 'nt-xent', 'moco-queue', 'small-cnn', 'resnet-18', 'knn', 'linear-probe', 'fashion-mnist', 'random-resized-crop']) {
      expect(text).toContain(`  ${name}  (`);
    }
    expect(text).toMatch(/temperature: number = 0\.5/);
    const losses = sink();
    await main(['plugins', 'loss'], losses, sink());
    expect(losses.text()).toContain('nt-xent');
    expect(losses.text()).not.toContain('small-cnn');
  });

  it('fails before training with the field path for a bad config, and names unknown plugins', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'genview-cli-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'trainer:\n  batchSize: 0\n');
    const err = sink();
    expect(await main(['train', '--config', bad], sink(), err)).toBe(2);
    expect(err.text()).toMatch(/trainer\.batchSize/);

    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, `outDir: ${join(dir, 'run')}\nframework: simclear\ntrainer: { steps: 1, limitTrain: 512 }\n`);
    const err2 = sink();
    expect(await main(['train', '--config', typo, '--plain'], sink(), err2)).toBe(2);
    expect(err2.text()).toMatch(/no framework plugin named "simclear".*did you mean "simclr"/s);

    const unknownCommand = sink();
    expect(await main(['trian'], sink(), unknownCommand)).toBe(2);
    expect(unknownCommand.text()).toMatch(/\[BAD_ARGUMENT\] unknown command "trian"\. Fix: did you mean train\?/);
  });
});
