/**
 * A third-party plugin: depends on @genview/core only, registers next to the built-in ones, and is
 * named in a config like any other. This one is a loss: the negative mean cosine between two views
 * (a minimal "align the views" objective), with its own validated option.
 */
import { EventBus, Rng, definePlugin, l2Normalize, tf, z } from '@genview/core';
import { createRegistry } from '@genview/runner';

export const meanCosineLoss = definePlugin({
  kind: 'loss',
  name: 'mean-cosine',
  package: 'my-genview-plugins',
  description: 'Negative mean cosine similarity between the first two views, scaled.',
  configSchema: z.object({ scale: z.number().positive().default(1) }).strict(),
  create: (config) => ({
    name: 'mean-cosine',
    requires: [],
    crossProcess: { kind: 'local' },
    compute: ({ views }) =>
      tf.tidy(() => {
        const cosine = tf.sum(tf.mul(l2Normalize(views[0], 1), l2Normalize(views[1], 1)), 1);
        return tf.mul(tf.mean(cosine), -config.scale) as tf.Scalar;
      }),
  }),
});

/** Registers the plugin, builds it from a config reference and computes it on two tiny batches. */
export async function main(): Promise<number> {
  const registry = createRegistry([meanCosineLoss]);
  const loss = await registry.create('loss', { name: 'my-genview-plugins:mean-cosine', scale: 2 }, { rng: new Rng(0), events: new EventBus() });
  const a = tf.tensor2d([[1, 0], [0, 1]]);
  const b = tf.tensor2d([[1, 0], [1, 0]]);
  const value = loss.compute({ views: [a, b] });
  const result = (await value.data())[0];
  tf.dispose([a, b, value]);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((value) => console.log(`mean-cosine loss: ${value}`));
}
