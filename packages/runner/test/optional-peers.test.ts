import { describe, expect, it } from 'vitest';
import { type ModuleImporter, importOptionalPeer } from '../src/bundled/optional-peer';
import { bundledClipDir, bundledPipelineDir, withBundledModel } from '../src/bundled/tiny-unclip';
import { caught } from './caught';

/** Stands for a package that is not installed: the error Node's ESM loader gives for it. */
function absent(name: string): ModuleImporter {
  return async (specifier) => {
    if (specifier !== name) throw new Error(`unexpected import of ${specifier}`);
    throw Object.assign(new Error(`Cannot find package '${name}' imported from /somewhere/runner/dist/index.js`), { code: 'ERR_MODULE_NOT_FOUND' });
  };
}

const neverImport: ModuleImporter = async (specifier) => {
  throw new Error(`nothing should be imported, got ${specifier}`);
};

describe('optional peers of the runner', () => {
  it('names the package and the install command when the package is not installed (a real import)', async () => {
    const error = await caught(() => importOptionalPeer({ name: '@genview/no-such-peer', neededFor: 'the thing', where: 'a.field' }));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.where).toBe('a.field');
    expect(error.problem).toBe('the thing ships in @genview/no-such-peer, an optional peer of @genview/runner that is not installed.');
    expect(error.fix).toBe('run `npm install @genview/no-such-peer`.');
  });

  it('tells a broken copy (a module missing inside the package) apart from an absent package', async () => {
    const broken: ModuleImporter = async () => {
      throw Object.assign(new Error("Cannot find module '/x/node_modules/@genview/model-tiny-unclip/dist/index.js'"), { code: 'ERR_MODULE_NOT_FOUND' });
    };
    const error = await caught(() => importOptionalPeer({ name: '@genview/model-tiny-unclip', neededFor: 'it', where: 'w', importer: broken }));
    expect(error.problem).toMatch(/^it ships in @genview\/model-tiny-unclip, which is installed but could not be loaded \(Cannot find module/);
    expect(error.fix).toBe('reinstall it (`npm install @genview/model-tiny-unclip`).');
  });

  it('resolves `path: tiny-unclip` to the installed model and reports the config field when it is missing', async () => {
    const installed = await withBundledModel({ name: 'onnx-diffusion', path: 'tiny-unclip', steps: 4 }, 'views.generated.generator');
    expect(installed).toMatchObject({ name: 'onnx-diffusion', steps: 4 });
    expect((installed as unknown as { path: string }).path).toMatch(/model-tiny-unclip[/\\]pipeline$/);

    const error = await caught(() =>
      withBundledModel({ name: 'onnx-diffusion', path: 'tiny-unclip' }, 'views.generated.generator', absent('@genview/model-tiny-unclip')),
    );
    expect(error.message).toBe(
      '[NOT_FOUND] views.generated.generator.path: the bundled model "tiny-unclip" ships in @genview/model-tiny-unclip, an optional peer of @genview/runner that is not installed. ' +
        'Fix: run `npm install @genview/model-tiny-unclip`, or point this field at the folder of an ONNX diffusion pipeline export.',
    );
  });

  it('leaves other folders and string references alone without loading the package', async () => {
    expect(await withBundledModel({ name: 'onnx-diffusion', path: '/models/sd' }, 'generate.generator', neverImport)).toEqual({ name: 'onnx-diffusion', path: '/models/sd' });
    expect(await withBundledModel('fake-generator', 'generate.generator', neverImport)).toBe('fake-generator');
    expect(await bundledPipelineDir('/models/unclip', 'prior.pipeline', neverImport)).toBe('/models/unclip');
    expect(await bundledClipDir('/models/clip', 'services.visionLanguageModel', neverImport)).toBe('/models/clip');
  });

  it('resolves onnx:tiny-clip and the prior pipeline through the same package', async () => {
    expect(await bundledClipDir('tiny-clip', 'services.visionLanguageModel')).toMatch(/model-tiny-unclip[/\\]clip$/);
    const clip = await caught(() => bundledClipDir('tiny-clip', 'services.visionLanguageModel', absent('@genview/model-tiny-unclip')));
    expect(clip.fix).toBe('run `npm install @genview/model-tiny-unclip`, or name a CLIP exported to ONNX as "onnx:<folder>".');
    const prior = await caught(() => bundledPipelineDir('tiny-unclip', 'prior.pipeline', absent('@genview/model-tiny-unclip')));
    expect(prior.where).toBe('prior.pipeline');
  });
});
