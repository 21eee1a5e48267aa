import { loadRunConfig } from '../../config/load';
import { defineCommand } from '../command';
import { configOption, helpOption, jsonOption, pluginOption, setOption } from '../options';
import { describePlugin, formatPluginList, matchingPlugins } from '../plugins-command';
import { registryFrom } from '../session';

export const pluginsCommand = defineCommand({
  name: 'plugins',
  summary: 'list the plugins (built-in and third-party) with their options and defaults',
  usage: ['plugins [KIND | NAME | PACKAGE] [--config run.yaml] [--plugin SPEC ...] [--json]'],
  description: [
    'Lists every registered plugin by kind, with the options its schema takes and their defaults. A',
    "config adds the third-party modules of its `plugins:` list, --plugin adds more. The filter keeps one",
    'kind (loss, framework, ...), one plugin name or one package.',
  ].join('\n'),
  positionals: { max: 1, name: 'KIND | NAME | PACKAGE' },
  options: {
    config: { ...configOption, help: "a run config whose `plugins:` list is loaded as well" },
    set: setOption,
    plugin: pluginOption,
    json: jsonOption,
    help: helpOption,
  },
  async run(args) {
    const path = args.string('config');
    const config = path ? loadRunConfig({ path, overrides: args.list('set') }) : undefined;
    const registry = await registryFrom(args, config);
    const filter = args.positionals[0];
    return { result: matchingPlugins(registry, filter).map(describePlugin), text: formatPluginList(registry, filter) };
  },
});
