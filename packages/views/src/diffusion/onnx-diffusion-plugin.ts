import { type GeneratedView, type GenerationRequest, type Generator, definePlugin, z } from '@genview/core';
import { OnnxDiffusionPipeline } from './pipeline';

const NAME = 'onnx-diffusion';

export const onnxDiffusionSchema = z
  .object({
    path: z.string().min(1).describe('folder of an ONNX diffusion pipeline export (model_index.json, unet/, vae_decoder/ ...)'),
    steps: z.number().int().min(1).max(1000).default(20).describe('denoising steps per view when a request does not say'),
    guidanceScale: z.number().min(0).max(50).default(3).describe('classifier-free guidance scale; 1 turns guidance off'),
    scheduler: z
      .enum(['from-config', 'ddim', 'euler', 'euler-ancestral', 'dpm-solver'])
      .default('from-config')
      .describe('sampler; from-config uses the class named in scheduler_config.json'),
    executionProvider: z.enum(['cpu', 'cuda']).default('cpu').describe('onnxruntime execution provider (cuda needs its add-on)'),
    threads: z.number().int().min(0).max(256).default(0).describe('threads per operator; 0 lets onnxruntime decide'),
    batchSize: z.number().int().min(1).max(1024).default(8).describe('views denoised together in one UNet batch'),
  })
  .strict();
export type OnnxDiffusionOptions = z.input<typeof onnxDiffusionSchema>;

/** The generator contract over an ONNX pipeline; the pipeline itself is usable without the registry. */
export class OnnxDiffusionGenerator implements Generator {
  readonly name = NAME;
  private constructor(readonly pipeline: OnnxDiffusionPipeline) {}

  static async open(options: OnnxDiffusionOptions): Promise<OnnxDiffusionGenerator> {
    const config = onnxDiffusionSchema.parse(options);
    const pipeline = await OnnxDiffusionPipeline.load(config.path, {
      steps: config.steps,
      guidanceScale: config.guidanceScale,
      scheduler: config.scheduler === 'from-config' ? undefined : config.scheduler,
      executionProvider: config.executionProvider,
      threads: config.threads,
      batchSize: config.batchSize,
    });
    return new OnnxDiffusionGenerator(pipeline);
  }

  generate(requests: GenerationRequest[]): Promise<GeneratedView[]> {
    return this.pipeline.generate(requests);
  }

  dispose(): Promise<void> {
    return this.pipeline.dispose();
  }
}

export const onnxDiffusionPlugin = definePlugin({
  kind: 'generator',
  name: NAME,
  package: '@genview/views',
  description: 'Image variation (unCLIP, noise level), img2img, text-to-image and image+text views from an ONNX diffusion pipeline on onnxruntime-node.',
  configSchema: onnxDiffusionSchema,
  create: (config) => OnnxDiffusionGenerator.open(config),
});
