// The Arrow and Parquet formats lean on packages that a user who only wants
// masks should not have to install (apache-arrow: 12 MB, parquet-wasm:
// 15 MB). They are optional peer dependencies, loaded on first use, and a
// missing one is an error that names what to install.
import { environmentError } from './errors';

/** The optional packages, by the module name that is loaded. */
const kPackageOf: Record<string, string> = {
  'apache-arrow': 'apache-arrow',
  'parquet-wasm/node': 'parquet-wasm',
};

const loaded = new Map<string, unknown>();

/**
 * The module `name`, or an Error with code ERR_SM_MISSING_DEPENDENCY naming
 * the package to install when it is not installed. `purpose` says what
 * needed it.
 */
export function requireOptional<T>(name: string, purpose: string): T {
  const cached = loaded.get(name);
  if (cached !== undefined) return cached as T;
  const packageName = kPackageOf[name] ?? name;
  let module: T;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional packages load on first use
    module = require(name) as T;
  } catch (e) {
    // Only the package itself being absent is ours to explain; an error
    // inside an installed package is passed on as it is.
    const missing = (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((e as Error).message).includes(`'${name}'`);
    if (!missing) throw e;
    throw environmentError(
      'ERR_SM_MISSING_DEPENDENCY',
      packageName,
      `${purpose} needs the package '${packageName}': npm install ${packageName}`,
      {
        dependency: packageName,
        cause: e,
      },
    );
  }
  loaded.set(name, module);
  return module;
}
