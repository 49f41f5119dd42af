// The loaded addon's dynamic symbols: the versions a Linux host's C and C++
// runtimes must provide for it to load, and what it exports. Prebuilds are made on Debian 12 (glibc 2.36,
// libstdc++ GLIBCXX_3.4.30); native/glibc/pins.S and -static-libstdc++ keep
// the requirement to glibc 2.25 and no libstdc++ at all (README, "Install").
import { execFileSync } from 'child_process';
import { backendInfo } from '../lib';

/** Version requirements of a shared object, per versioned library ("GLIBC" -> ["2.2.5", ...]). */
function requiredVersions(file: string): Map<string, string[]> {
  const dump = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const versions = new Map<string, string[]>();
  for (const match of dump.matchAll(/\b(GLIBC|GLIBCXX|CXXABI|GCC)_([0-9.]+)\b/g)) {
    versions.set(match[1], [...(versions.get(match[1]) ?? []), match[2]]);
  }
  return versions;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

(linuxX64 ? describe : describe.skip)('the addon on Linux x64 (the only platform prebuilds ship for)', () => {
  const versions = requiredVersions(backendInfo().binaryPath);

  test('needs glibc 2.25 at most', () => {
    const glibc = versions.get('GLIBC') ?? [];
    expect(glibc.length).toBeGreaterThan(0);
    const highest = glibc
      .map((v) => v.split('.').map(Number))
      .sort(compare)
      .at(-1)!;
    expect(compare(highest, [2, 25])).toBeLessThanOrEqual(0);
  });

  test('needs no libstdc++ (it is linked in)', () => {
    expect(versions.get('GLIBCXX')).toBeUndefined();
    expect(versions.get('CXXABI')).toBeUndefined();
  });

  test('exports the N-API entry points and none of its own code (two copies can share a process)', () => {
    const dump = execFileSync('objdump', ['-T', '-C', backendInfo().binaryPath], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const defined = dump.split('\n').filter((line) => /^[0-9a-f]+ /.test(line) && !line.includes('*UND*'));
    expect(defined.some((line) => line.endsWith(' napi_register_module_v1'))).toBe(true);
    expect(defined.filter((line) => line.includes('sm::'))).toEqual([]);
  });
});
