import { GenviewError } from '@genview/core';

/** How a module is loaded; tests pass their own to stand for a package that is not installed. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

const nodeImport: ModuleImporter = (specifier) => import(/* @vite-ignore */ specifier);

export interface OptionalPeerRequest {
  /** The package, e.g. "@genview/model-tiny-unclip". */
  name: string;
  /** What asked for it, in the user's words: "the bundled model tiny-unclip". */
  neededFor: string;
  /** The config field that asked. */
  where: string;
  /** What else the user could write instead of installing the package. */
  alternative?: string;
  importer?: ModuleImporter;
}

/**
 * Only the package itself being absent means "not installed"; a missing module inside it (a broken or
 * unbuilt copy) is a different problem and is reported with its own message.
 */
function isMissing(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = error instanceof Error ? error.message : String(error);
  return message.includes(`'${name}'`) || message.includes(`"${name}"`);
}

/**
 * Loads an optional peer of @genview/runner (the data and model packages are optional so that
 * installing the runner does not carry 36 MB), or says which package to install and the command.
 */
export async function importOptionalPeer<T>(request: OptionalPeerRequest): Promise<T> {
  const { name, neededFor, where } = request;
  try {
    return (await (request.importer ?? nodeImport)(name)) as T;
  } catch (error) {
    const install = `npm install ${name}`;
    const instead = request.alternative ? `, or ${request.alternative}` : '';
    if (isMissing(error, name)) {
      throw new GenviewError('NOT_FOUND', `${neededFor} ships in ${name}, an optional peer of @genview/runner that is not installed.`, {
        where,
        fix: `run \`${install}\`${instead}.`,
        cause: error,
      });
    }
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new GenviewError('NOT_FOUND', `${neededFor} ships in ${name}, which is installed but could not be loaded (${reason}).`, {
      where,
      fix: `reinstall it (\`${install}\`)${instead}.`,
      cause: error,
    });
  }
}
