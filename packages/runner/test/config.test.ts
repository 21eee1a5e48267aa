import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGenviewError } from '@genview/core';
import { applyOverride, loadRunConfig } from '@genview/runner';
import { describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'genview-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('run config', () => {
  it('fills every default from an empty file', () => {
    const config = loadRunConfig({ path: file('empty.yaml', '') });
    expect(config.framework).toEqual({ name: 'simclr' });
    expect(config.trainer.batchSize).toBe(256);
    expect(config.eval.evaluators).toEqual(['knn', 'linear-probe']);
  });

  it('applies --set overrides with YAML typing, turning a plugin name into an object', () => {
    const config = loadRunConfig({
      path: file('a.yaml', 'framework: simclr\ntrainer:\n  epochs: 2\n'),
      overrides: ['trainer.epochs=5', 'framework.name=byol', 'framework.momentum=0.996', 'eval.baselines=false', 'trainer.limitTrain=512'],
    });
    expect(config.trainer.epochs).toBe(5);
    expect(config.framework).toEqual({ name: 'byol', momentum: 0.996 });
    expect(config.eval.baselines).toBe(false);
    expect(config.trainer.limitTrain).toBe(512);
    const raw: Record<string, unknown> = {};
    applyOverride(raw, 'views.pipelines=[[flip],[flip]]');
    expect(raw).toEqual({ views: { pipelines: [['flip'], ['flip']] } });
  });

  it('reports malformed YAML with file, line and column', () => {
    const path = file('bad.yaml', 'trainer:\n  epochs: 5\n   batchSize: 3\n');
    const error = errorOf(() => loadRunConfig({ path }));
    expect(isGenviewError(error, 'INVALID_CONFIG')).toBe(true);
    expect(error.message).toMatch(/bad\.yaml:[23]:\d+/);
    expect(error.message).toMatch(/malformed YAML/);
  });

  it('names an unknown key and an out-of-range value by path', () => {
    const unknown = errorOf(() => loadRunConfig({ path: file('u.yaml', 'trainer:\n  epoch: 5\n') }));
    expect(unknown.message).toMatch(/trainer/);
    expect(unknown.message).toMatch(/epoch/);
    const range = errorOf(() => loadRunConfig({ path: file('r.yaml', 'trainer:\n  batchSize: -4\n') }));
    expect(range.message).toMatch(/trainer\.batchSize/);
    const badSet = errorOf(() => loadRunConfig({ overrides: ['trainer.epochs'] }));
    expect(badSet.message).toMatch(/--set expects path=value/);
    const missing = errorOf(() => loadRunConfig({ path: join(dir, 'nope.yaml') }));
    expect(isGenviewError(missing, 'NOT_FOUND')).toBe(true);
  });
});
