import { readFile } from 'node:fs/promises';
import { GenviewError, formatConfigIssues, z } from '@genview/core';
import type { SchedulerKind } from './types';

/**
 * Which of our samplers runs each diffusers class. DDPM and PNDM are not implemented as such:
 * exports (Stable Diffusion 1.x among them) often ship a PNDMScheduler or DDPMScheduler config, and
 * what a sampler needs from it is the trained noise schedule (betas, prediction type, spacing,
 * offset), which DDIM reads the same way. Sampling is then DDIM's, not PLMS's or DDPM's ancestral
 * chain: DDIM with eta = 1 and every training step is DDPM's sampler, and PNDM's PLMS is a
 * multistep variant of the same ODE, so the images differ in detail but not in kind.
 */
export const SCHEDULER_CLASSES = {
  DDIMScheduler: 'ddim',
  DDPMScheduler: 'ddim',
  PNDMScheduler: 'ddim',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler-ancestral',
  DPMSolverMultistepScheduler: 'dpm-solver',
} as const satisfies Record<string, SchedulerKind>;

export type SchedulerClassName = keyof typeof SCHEDULER_CLASSES;

const CLASS_NAMES = Object.keys(SCHEDULER_CLASSES) as [SchedulerClassName, ...SchedulerClassName[]];

/** diffusers' own per-class default when a config has no `timestep_spacing` (older exports don't). */
const DEFAULT_SPACING: Record<SchedulerKind, 'leading' | 'linspace'> = {
  ddim: 'leading',
  euler: 'linspace',
  'euler-ancestral': 'linspace',
  'dpm-solver': 'linspace',
};

/**
 * A flag that changes the arithmetic in ways these samplers do not implement. Ignoring it would
 * sample from the wrong schedule without a word, so `true` is refused and `false` is accepted.
 */
function unsupportedFlag(what: string) {
  return z
    .boolean()
    .optional()
    .refine((v) => v !== true, { message: `${what} is not implemented by the GenView schedulers; expected false or absent` });
}

const probability = z.number().gt(0).lt(1);

const fields = z.object({
  _class_name: z.enum(CLASS_NAMES),
  num_train_timesteps: z.number().int().min(1).default(1000),
  beta_start: probability.default(0.0001),
  beta_end: probability.default(0.02),
  beta_schedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2']).default('linear'),
  trained_betas: z.array(probability).min(1).optional(),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
  timestep_spacing: z.enum(['leading', 'trailing', 'linspace']).optional(),
  steps_offset: z.number().int().min(0).default(0),
  set_alpha_to_one: z.boolean().default(true),
  // diffusers' DDIM defaults to clipping x0 to [-1, 1]; that is right for pixel models but ruins
  // latent ones, and every latent export spells the field out, so absent means no clipping here.
  clip_sample: z.boolean().default(false),
  clip_sample_range: z.number().gt(0).default(1),
  use_karras_sigmas: z.boolean().default(false),
  sigma_min: z.number().gt(0).optional(),
  sigma_max: z.number().gt(0).optional(),
  interpolation_type: z.literal('linear').default('linear'),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
  timestep_type: z.enum(['discrete', 'continuous']).default('discrete'),
  // 'deis' configs are run as dpmsolver++ by diffusers itself; the noise-prediction variants
  // ('dpmsolver', 'sde-dpmsolver') are deprecated there and not implemented here.
  algorithm_type: z.enum(['dpmsolver++', 'sde-dpmsolver++', 'deis']).default('dpmsolver++'),
  // diffusers maps the UniPC/DEIS solver names onto midpoint in the same way.
  solver_type: z.enum(['midpoint', 'heun', 'logrho', 'bh1', 'bh2']).default('midpoint'),
  solver_order: z.number().int().min(1).max(3).default(2),
  lower_order_final: z.boolean().default(true),
  euler_at_final: z.boolean().default(false),
  lambda_min_clipped: z.union([z.number(), z.literal(Number.NEGATIVE_INFINITY)]).default(Number.NEGATIVE_INFINITY),
  thresholding: unsupportedFlag('dynamic thresholding'),
  rescale_betas_zero_snr: unsupportedFlag('zero-terminal-SNR rescaling'),
  use_exponential_sigmas: unsupportedFlag('exponential sigmas'),
  use_beta_sigmas: unsupportedFlag('beta sigmas'),
  use_lu_lambdas: unsupportedFlag('Lu lambdas'),
  use_flow_sigmas: unsupportedFlag('flow-matching sigmas'),
  use_dynamic_shifting: unsupportedFlag('dynamic shifting'),
});

/**
 * The fields of a diffusers `scheduler_config.json` that decide sampling. Unknown keys are dropped
 * (exports carry `_diffusers_version`, `skip_prk_steps`, `variance_type` and the like), and a JSON
 * `null` (Python's None) means "use the default", as it does for diffusers' optional arguments.
 */
export const schedulerConfigSchema = z
  .preprocess(dropNulls, fields)
  .superRefine((c, ctx) => {
    if (c.trained_betas && c.trained_betas.length !== c.num_train_timesteps) {
      ctx.addIssue({
        code: 'custom',
        path: ['trained_betas'],
        message: `has ${c.trained_betas.length} entries; expected one per training step (num_train_timesteps = ${c.num_train_timesteps})`,
      });
    }
    if (c.timestep_type === 'continuous' && c.prediction_type === 'v_prediction' && SCHEDULER_CLASSES[c._class_name] === 'euler') {
      ctx.addIssue({
        code: 'custom',
        path: ['timestep_type'],
        message: `'continuous' (timesteps 0.25 log sigma) is not implemented; expected 'discrete'`,
      });
    }
  })
  .transform((c) => {
    const kind: SchedulerKind = SCHEDULER_CLASSES[c._class_name];
    return {
      ...c,
      kind,
      timestep_spacing: c.timestep_spacing ?? DEFAULT_SPACING[kind],
      /** The spacing the file itself gave, so a sampler swap can fall back to the new class's default. */
      explicit_timestep_spacing: c.timestep_spacing,
      algorithm_type: c.algorithm_type === 'deis' ? ('dpmsolver++' as const) : c.algorithm_type,
      solver_type: c.solver_type === 'heun' ? ('heun' as const) : ('midpoint' as const),
    };
  });

/** What a scheduler_config.json may contain (as an object built in code; files may also hold nulls). */
export type SchedulerConfigInput = z.input<typeof fields>;
/** A validated config with every default filled in and `kind` naming the sampler that runs it. */
export type SchedulerConfig = z.output<typeof schedulerConfigSchema>;

function dropNulls(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}

/**
 * The same trained schedule run by another sampler, as diffusers'
 * `EulerDiscreteScheduler.from_config(pipe.scheduler.config)`: every field carries over, and a
 * spacing the file left out becomes the new class's default.
 */
export function withSchedulerKind(config: SchedulerConfig, kind: SchedulerKind): SchedulerConfig {
  if (kind === config.kind) return config;
  return { ...config, kind, timestep_spacing: config.explicit_timestep_spacing ?? DEFAULT_SPACING[kind] };
}

/** Validates a parsed scheduler_config.json (or a config built in code). */
export function parseSchedulerConfig(raw: unknown, where = 'scheduler_config.json'): SchedulerConfig {
  const parsed = schedulerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = formatConfigIssues('', parsed.error.issues);
    const classIssue = parsed.error.issues.some((issue) => issue.path[0] === '_class_name');
    throw new GenviewError('INVALID_CONFIG', `invalid scheduler config:\n  ${lines.join('\n  ')}`, {
      where,
      fix: classIssue
        ? `set _class_name to one of ${CLASS_NAMES.join(', ')} (DDPM and PNDM configs are run by DDIM); other diffusers samplers are not implemented.`
        : 'correct the fields listed, or delete one to get its diffusers default.',
    });
  }
  return parsed.data;
}

/**
 * Python's json module writes `Infinity`, `-Infinity` and `NaN` bare (DPMSolverMultistepScheduler
 * saves `"lambda_min_clipped": -Infinity`), which JSON.parse rejects. Outside string literals they
 * become marker strings (starting with an escaped NUL, which no real config value holds) that the
 * reviver turns back into numbers.
 */
export function parseDiffusersJson(text: string): unknown {
  const marker = '\u0000py:';
  const patched = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (token) => (token.startsWith('"') ? token : `"\\u0000py:${token}"`));
  return JSON.parse(patched, (_key, value: unknown) => {
    if (typeof value !== 'string' || !value.startsWith(marker)) return value;
    return Number(value.slice(marker.length));
  });
}

/** Reads and validates a diffusers scheduler_config.json from disk. */
export async function readSchedulerConfig(file: string): Promise<SchedulerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new GenviewError('UNREADABLE_FILE', 'cannot read the scheduler config.', {
      where: file,
      fix: 'point to the scheduler/scheduler_config.json of a diffusers export.',
      cause,
    });
  }
  let raw: unknown;
  try {
    raw = parseDiffusersJson(text);
  } catch (cause) {
    throw new GenviewError('INVALID_CONFIG', `not valid JSON: ${(cause as Error).message}`, {
      where: file,
      fix: 'the file should be the JSON object diffusers writes with save_config().',
      cause,
    });
  }
  return parseSchedulerConfig(raw, file);
}
