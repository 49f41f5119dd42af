// What the CLI commands share: parsed arguments, progress that shows on a
// terminal only, and the failure exit.

export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

/** `--name value`, `--name=value` and bare `--name` (a flag whose next word starts with -- or is absent). */
export function parseArgs(argv: string[], valued: readonly string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '-h') {
      flags.set('help', true);
    } else if (word.startsWith('--')) {
      const [name, inline] = word.slice(2).split(/=(.*)/s);
      if (inline !== undefined) flags.set(name, inline);
      else if (valued.includes(name)) {
        const value = argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
      } else flags.set(name, true);
    } else {
      positional.push(word);
    }
  }
  return { positional, flags };
}

export class UsageError extends Error {}

/** A line of progress, rewritten in place on a terminal; nothing when stderr is piped or a file. */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
}

export function clearProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
