import { GenviewError } from '@genview/core';
import { formatVerify, verifyPath } from '../../run/verify';
import { defineCommand } from '../command';
import { helpOption, jsonOption } from '../options';
import { withProgress } from '../session';

/** What `genview verify` exits with when damage remains (see EXIT_CODES). */
export const VERIFY_DAMAGE_EXIT = 4;

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 'check a view store or a training run for damaged files; --repair un-marks damaged shards',
  usage: ['verify STORE|RUN [--repair] [--json]'],
  description: [
    "A view store (the folder with store.json): every marked shard is checked against its completion",
    'marker (size, sha256, members). A run (the outDir of `genview train`): every checkpoint, MCL stage',
    'folders included, is decoded in full, and any view store inside it is checked as well. Exits 4 while',
    'damage remains. --repair removes the markers of damaged shards (and rebuilds index.json), so',
    '`genview generate` with the same config rewrites exactly those; a damaged checkpoint cannot be',
    'repaired: the report says which sound ones exist.',
  ].join('\n'),
  positionals: { max: 1, name: 'STORE|RUN' },
  options: {
    repair: { type: 'boolean', help: 'un-mark damaged shards so the next `genview generate` rewrites them' },
    json: jsonOption,
    help: helpOption,
  },
  async run(args, io) {
    const path = args.positionals[0];
    if (!path) {
      throw new GenviewError('BAD_ARGUMENT', 'verify needs the folder to check.', {
        where: 'genview verify',
        fix: 'e.g. genview verify runs/x/views (a view store) or genview verify runs/x (a training run).',
      });
    }
    const repair = args.flag('repair');
    const result = await withProgress(io, { plain: true }, (events) => verifyPath(path, { repair, events }));
    return { result, text: formatVerify(result, { repair }), code: result.remaining > 0 ? VERIFY_DAMAGE_EXIT : 0 };
  },
});
