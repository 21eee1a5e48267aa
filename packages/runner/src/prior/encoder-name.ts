import { isAbsolute, relative, resolve } from 'node:path';
import { GenviewError } from '@genview/core';

/** What `prior.source.encoder` takes, for error messages and docs. */
export const PRIOR_ENCODER_FORMS =
  '"pixels", { backbone, seed } (a backbone built for the prior: random with seed, or pretrained with its weights: <file.safetensors>), ' +
  '"onnx:<file.onnx>[?size=..&norm=..]" (any ONNX image model, frozen) or "checkpoint:<run directory>" (the encoder of another, finished run)';

/** The encoder-name kinds a prior resolves through the runner's feature-extractor service. */
const ALLOWED = new Set(['onnx', 'checkpoint']);

/**
 * Why each kind the feature-extractor service also knows cannot be a prior. A prior is fixed before
 * training and feeds the loss of the network being built: a name that means "this config's framework"
 * would build the prior from the very framework whose construction is waiting for it.
 */
const REFUSED: Record<string, { problem: string; fix: string }> = {
  random: {
    problem: 'is this config\'s own framework freshly initialised, and that framework cannot wait on a prior built from itself',
    fix: 'for a random-network prior write encoder: { backbone: { name: small-cnn }, seed: 0 } (its own seeded stream)',
  },
  safetensors: {
    problem: "puts the file's weights in this config's own backbone, the network being trained, so the prior would be built from the framework that is waiting for it",
    fix: 'for a pretrained prior write encoder: { backbone: { name: resnet-18, stem: imagenet, weights: <file.safetensors> } }, or export the model to ONNX and name onnx:<file.onnx>',
  },
};

/**
 * Checks an encoder name given as a prior (syntax only; the service loads it). With `ownRunDir` (the
 * run's outDir, known to preflight) a checkpoint of this very run, or of a folder inside it, is refused:
 * its weights are the ones being trained, so the prior would change with every resume.
 */
export function checkPriorEncoderName(name: string, where: string, ownRunDir?: string): { kind: string; arg: string } {
  const colon = name.indexOf(':');
  const kind = colon > 0 ? name.slice(0, colon) : '';
  const arg = colon > 0 ? name.slice(colon + 1) : '';
  const refused = REFUSED[kind];
  if (refused) {
    throw new GenviewError('INVALID_CONFIG', `the prior encoder "${name}" ${refused.problem}.`, { where, fix: `${refused.fix}. A prior takes ${PRIOR_ENCODER_FORMS}.` });
  }
  if (!ALLOWED.has(kind) || arg.length === 0) {
    throw new GenviewError('INVALID_CONFIG', `"${name}" is not an encoder a prior takes.`, { where, fix: `name one as ${PRIOR_ENCODER_FORMS}.` });
  }
  if (kind === 'checkpoint' && ownRunDir !== undefined) {
    const inside = relative(resolve(ownRunDir), resolve(arg));
    if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
      throw new GenviewError('INVALID_CONFIG', `the prior encoder "${name}" is this run's own checkpoint (outDir ${ownRunDir}): the prior would be the network being trained, different at every resume.`, {
        where,
        fix: 'name the checkpoint of another, finished run (checkpoint:<its outDir>), or an onnx:<file.onnx> export of it (genview export --format onnx).',
      });
    }
  }
  return { kind, arg };
}
