import { EventBus, type Registry } from '@genview/core';
import { loadRunConfig } from '../config/load';
import { createRegistryWithPlugins } from '../config/plugins';
import type { RunConfig } from '../config/schema';
import type { CliIO, CommandArgs } from './command';
import { renderProgress } from './progress';

/** The config a command's --config and --set give (every field defaulted when there is no file). */
export function configFrom(args: CommandArgs): RunConfig {
  return loadRunConfig({ path: args.string('config'), overrides: args.list('set') });
}

/** Built-in plugins plus the third-party ones the config's plugins: list and --plugin flags name. */
export function registryFrom(args: CommandArgs, config: RunConfig | undefined): Promise<Registry> {
  return createRegistryWithPlugins(config?.plugins, { cliPlugins: args.list('plugin'), configPath: config ? args.string('config') : undefined });
}

/**
 * Runs library work with its events rendered on stderr (progress, logs, the backend line), so stdout
 * carries only the command's results.
 */
export async function withProgress<T>(io: CliIO, options: { plain: boolean }, work: (events: EventBus) => Promise<T>): Promise<T> {
  const events = new EventBus();
  const stop = renderProgress(events, { stream: io.err, plain: options.plain });
  const offBackend = events.on('backend', ({ chosen, tried }) => {
    io.err.write(`backend: ${chosen} (${tried.map((t) => `${t.name}: ${t.reason}`).join('; ')})\n`);
  });
  try {
    return await work(events);
  } finally {
    offBackend();
    stop();
  }
}
