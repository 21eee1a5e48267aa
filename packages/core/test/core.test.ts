import { describe, expect, it } from 'vitest';
import { type AnyPlugin, EventBus, GenviewError, Registry, Rng, ShapeCheck, closestNames, definePlugin, selectBackend, tf, z } from '@genview/core';

describe('Rng', () => {
  it('is reproducible from a seed and resumes from a saved state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const first = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(first);
    a.normal();
    const saved = a.getState();
    const next = [a.float(), a.normal(), a.int(1000)];
    const c = new Rng(0);
    c.setState(saved);
    expect([c.float(), c.normal(), c.int(1000)]).toEqual(next);
  });

  it('forks independent, label-dependent streams', () => {
    const root = new Rng(7);
    const x = root.fork('augment').float();
    const y = new Rng(7).fork('augment').float();
    const z2 = new Rng(7).fork('loss').float();
    expect(x).toBe(y);
    expect(x).not.toBe(z2);
  });

  it('draws uniform and normal values with the right moments', () => {
    const rng = new Rng(1);
    const n = 20000;
    const u = rng.uniformArray(n);
    const g = rng.normalArray(n);
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(u)).toBeCloseTo(0.5, 1);
    expect(mean(g)).toBeCloseTo(0, 1);
    const m = mean(g);
    expect(g.reduce((s, v) => s + (v - m) ** 2, 0) / n).toBeCloseTo(1, 1);
    const perm = Array.from(rng.permutation(100)).sort((p, q) => p - q);
    expect(perm).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

const scale = definePlugin({
  kind: 'loss',
  name: 'scaled-sum',
  package: '@genview/test',
  description: 'sum of the first view times a factor',
  configSchema: z.object({ factor: z.number().positive().default(2) }).strict(),
  create: (config) => ({
    name: 'scaled-sum',
    requires: [],
    crossProcess: { kind: 'local' },
    compute: ({ views }) => tf.mul(tf.sum(views[0]), config.factor) as tf.Scalar,
  }),
});

/** The GenviewError a call throws (the test fails when it throws nothing or something else). */
function caught(call: () => unknown): GenviewError {
  try {
    call();
  } catch (error) {
    if (error instanceof GenviewError) return error;
    throw error;
  }
  throw new Error('expected a GenviewError');
}

describe('Registry', () => {
  const registry = new Registry().register(scale);
  const ctx = { rng: new Rng(0), events: new EventBus() };

  it('resolves by name and package:name, and fills defaults', async () => {
    expect(registry.resolve('loss', 'scaled-sum').name).toBe('scaled-sum');
    expect(registry.resolve('loss', '@genview/test:scaled-sum').name).toBe('scaled-sum');
    expect(registry.resolve('loss', 'test:scaled-sum').name).toBe('scaled-sum');
    const loss = await registry.create('loss', 'scaled-sum', ctx);
    const value = loss.compute({ views: [tf.tensor2d([[1, 2]])] });
    expect(value.dataSync()[0]).toBe(6);
  });

  it('rejects unknown names with the closest known ones', () => {
    expect(() => registry.resolve('loss', 'scaled-sun')).toThrowError(/did you mean "scaled-sum"/);
    expect(() => registry.resolve('loss', 'scaled-sun')).toThrowError(GenviewError);
    expect(() => registry.resolve('backbone', 'scaled-sum')).toThrowError(/is a loss plugin, not a backbone/);
  });

  it('says a package:name names a package with nothing registered, and how to register it', () => {
    // Only its kind, name and package matter here: it is resolved, never created.
    const reg = new Registry().register([scale, { ...scale, kind: 'framework', name: 'scaled' } as unknown as AnyPlugin]);
    // "scaled" is close to "scaled-sum", but the package is what is missing: no built-in look-alike is offered.
    const error = caught(() => reg.resolve('framework', '@acme/genview-extra:scaled', 'framework'));
    expect(error).toBeInstanceOf(GenviewError);
    expect(error.code).toBe('UNKNOWN_PLUGIN');
    expect(error.problem).toBe('no framework plugin named "@acme/genview-extra:scaled": no plugins from the package "@acme/genview-extra" are registered.');
    expect(error.fix).toMatch(/^Register the package's plugins before naming them: for genview, list the package in the config \(plugins: \[@acme\/genview-extra\]\) or pass --plugin @acme\/genview-extra; in code, registry\.register\(plugins\)\. Registered packages: @genview\/test\.$/);
    // A misspelt package gets the registered one that is close.
    expect(caught(() => reg.resolve('loss', '@genview/tset:scaled-sum')).fix).toMatch(/^did you mean "@genview\/test:scaled-sum"\? Register/);
    // A registered package without that name keeps the name suggestions.
    expect(caught(() => reg.resolve('loss', '@genview/test:scaled-sun')).fix).toMatch(/did you mean "scaled-sum"/);
  });

  it('validates config with the schema and names the field', async () => {
    await expect(registry.create('loss', { name: 'scaled-sum', factor: -1 }, { ...ctx, path: 'framework.loss' })).rejects.toThrowError(
      /framework\.loss\.factor/,
    );
    await expect(registry.create('loss', { name: 'scaled-sum', factr: 3 }, ctx)).rejects.toThrowError(/factr/);
  });

  it('refuses duplicates and asks for package:name when ambiguous', () => {
    expect(() => new Registry().register([scale, scale])).toThrowError(/registered twice/);
    const other = { ...scale, package: '@acme/plugins' };
    const both = new Registry().register([scale, other]);
    expect(() => both.resolve('loss', 'scaled-sum')).toThrowError(/AMBIGUOUS_PLUGIN/);
    expect(both.resolve('loss', '@acme/plugins:scaled-sum').package).toBe('@acme/plugins');
  });

  it('resolves a moved plugin by its former package, warning on create, and never prefers it over a current owner', async () => {
    const moved = { ...scale, package: '@genview/new-home', formerPackages: ['@genview/test'] };
    const events = new EventBus();
    const warnings: string[] = [];
    events.on('log', (e) => {
      if (e.level === 'warn') warnings.push(e.message);
    });
    const reg = new Registry().register(moved);
    expect(reg.resolve('loss', '@genview/test:scaled-sum').package).toBe('@genview/new-home');
    expect(reg.resolve('loss', 'test:scaled-sum').package).toBe('@genview/new-home');
    await reg.create('loss', 'new-home:scaled-sum', { ...ctx, events });
    await reg.create('loss', 'scaled-sum', { ...ctx, events });
    expect(warnings).toEqual([]);
    await reg.create('loss', { name: '@genview/test:scaled-sum', factor: 2 }, { ...ctx, events, path: 'framework.loss' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/framework\.loss: "@genview\/test:scaled-sum" is deprecated.*moved to @genview\/new-home/);
    // A package that still offers the name wins over a former owner's alias.
    const both = new Registry().register([moved, scale]);
    expect(both.resolve('loss', '@genview/test:scaled-sum').package).toBe('@genview/test');
    expect(() => reg.resolve('loss', '@acme/other:scaled-sum')).toThrowError(/UNKNOWN_PLUGIN|no loss plugin/);
  });

  it('suggests close names', () => {
    expect(closestNames('simclear', ['simclr', 'byol', 'moco-v2'])).toEqual(['simclr']);
  });
});

describe('ShapeCheck', () => {
  it('checks rank, sizes and named dims across tensors', () => {
    const a = tf.zeros([4, 3]);
    const b = tf.zeros([5, 3]);
    const check = new ShapeCheck('loss');
    check.check(a, 'views[0]', ['N', 'D']);
    expect(() => check.check(b, 'views[1]', ['N', 'D'])).toThrowError(/views\[1\] dim 0 \(N\) is 5 but N was 4/);
    expect(() => new ShapeCheck('x').check(a, 'images', [null, null, null, 1])).toThrowError(/rank 4/);
  });
});

describe('backend ladder', () => {
  it('forces a rung by name and reports it', async () => {
    const report = await selectBackend({ force: 'cpu' });
    expect(report.chosen).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('skips rungs that fail with the reason and picks the next', async () => {
    const events = new EventBus();
    const seen: string[] = [];
    events.on('backend', (e) => seen.push(e.chosen));
    const report = await selectBackend({
      force: '',
      events,
      rungs: [
        { name: 'broken', backendName: 'nope', load: async () => { throw new Error('Cannot find module x'); } },
        { name: 'cpu', backendName: 'cpu', load: async () => { await tf.setBackend('cpu'); } },
      ],
    });
    expect(report.tried[0]).toEqual({ name: 'broken', ok: false, reason: 'not installed' });
    expect(seen).toEqual(['cpu']);
  });

  it('rejects an unknown forced backend', async () => {
    await expect(selectBackend({ force: 'quantum' })).rejects.toThrowError(/GENVIEW_BACKEND=quantum/);
  });

  it('has gradients registered (tfjs-core alone lacks them)', async () => {
    await selectBackend({ force: 'cpu' });
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.relu(tf.mul(x, x))))(tf.tensor1d([1, -2, 3]));
    expect(Array.from(g.dataSync())).toEqual([2, -4, 6]);
  });

  it('loads the wasm rung offline', async () => {
    const report = await selectBackend({ force: 'wasm' });
    expect(report.chosen).toBe('wasm');
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(y.dataSync()[0]).toBe(11);
  });
});

describe('ops', () => {
  it('stopGradient passes values and blocks gradients', async () => {
    const { stopGradient, l2Normalize } = await import('@genview/core');
    const x = tf.tensor1d([1, 2]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.add(tf.mul(v, v), stopGradient(tf.mul(v, 3)))))(x);
    expect(Array.from(g.dataSync())).toEqual([2, 4]);
    expect(Array.from(stopGradient(x).dataSync())).toEqual([1, 2]);
    const n = l2Normalize(tf.tensor2d([[3, 4], [0, 0]]), 1);
    const values = Array.from(n.dataSync());
    for (const [i, v] of [0.6, 0.8, 0, 0].entries()) expect(values[i]).toBeCloseTo(v, 6);
  });
});
