import type { z } from 'zod';
import type { EventBus } from '../events';
import type { Rng } from '../rng';
import type { FeatureExtractor, FrozenVisionLanguageModel, PatchTokenEncoder, PluginInstances, PluginKind, Tokenizer } from './contracts';
import type { Registry } from './registry';

/** What every plugin's create() receives besides its validated config. */
export interface PluginContext {
  /** Seeded randomness; forked per plugin so adding one plugin does not shift another's stream. */
  rng: Rng;
  events: EventBus;
  /** To build nested plugins (a framework builds its backbone, heads and loss by name). */
  registry: Registry;
  /** The config path of this plugin (e.g. "framework.loss"), for error messages. */
  path: string;
  /**
   * Shared resources the host (the runner, a user's program) offers to plugins. Optional so that
   * existing hosts and plugins are unaffected; a plugin that needs a service it does not find throws
   * a GenviewError saying which host option provides it.
   */
  services?: PluginServices;
}

/**
 * Things a plugin may need that live in other packages. Leaf packages never import each other, so a
 * quality scorer that needs a frozen encoder asks the host for one by name instead of importing a
 * backbone package.
 */
export interface PluginServices {
  /**
   * A frozen feature extractor by the name a plugin's config gives (what names exist is the host's
   * choice: e.g. "framework" for the encoder being trained, or a weights/ONNX file path). Throw a
   * GenviewError (NOT_FOUND) for names the host does not know.
   */
  featureExtractor?(name: string): FeatureExtractor | Promise<FeatureExtractor>;
  /**
   * A frozen encoder of patch tokens by name: whatever featureExtractor resolves (when it has patch
   * tokens), plus encoders outside TensorFlow.js the host knows (an ONNX image tower, say). Plugins
   * that only read patch tokens ask here first, so they take either kind.
   */
  patchTokenEncoder?(name: string): PatchTokenEncoder | Promise<PatchTokenEncoder>;
  /**
   * A tokenizer by the name a plugin's config gives (a tokenizer.json or tokenizer folder path, or a
   * host-defined name such as "captions" for one trained on the training set's captions).
   */
  tokenizer?(name: string): Tokenizer | Promise<Tokenizer>;
  /**
   * A frozen image-text model by name (e.g. an ONNX CLIP folder, or a trained vision-language run), for
   * scorers that weigh view–caption alignment. Throw a GenviewError (NOT_FOUND) for unknown names.
   */
  visionLanguageModel?(name: string): FrozenVisionLanguageModel | Promise<FrozenVisionLanguageModel>;
}

export interface Plugin<K extends PluginKind = PluginKind, S extends z.ZodType = z.ZodType> {
  readonly kind: K;
  /** Short name, unique within its kind and package: "nt-xent". */
  readonly name: string;
  /** The npm package that provides it, for "package:name" references. */
  readonly package: string;
  /**
   * Packages that offered this plugin before it moved (e.g. a dataset that left @genview/views for
   * @genview/datasets): "former-package:name" references still resolve to it, and the registry warns.
   */
  readonly formerPackages?: readonly string[];
  readonly description: string;
  /** Validates and fills defaults; the registry runs it before create(). */
  readonly configSchema: S;
  create(config: z.output<S>, context: PluginContext): PluginInstances[K] | Promise<PluginInstances[K]>;
}

export type AnyPlugin = { [K in PluginKind]: Plugin<K, z.ZodType> }[PluginKind];

/** Identity at run time; gives create() a typed config inferred from the schema. */
export function definePlugin<K extends PluginKind, S extends z.ZodType>(plugin: Plugin<K, S>): Plugin<K, S> {
  return plugin;
}
