#!/usr/bin/env node
// `npx sampling-mask <command>`: see usage below.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { benchSvg, benchTable, runBench } from './bench';
import { checkCases, digest, runCheck } from './check';
import { formatInfo, hostInfo } from './info';
import { inspectFile } from './inspect';
import { parseArgs, UsageError, type Args } from './io';

const usage = `Usage: sampling-mask <command> [options]

Commands:
  info                 which binary runs (prebuild flavour or source build) and why, what it was compiled
                       for (CPU kernel variants, CUDA version and GPU architectures), the CUDA driver, runtime
                       and devices found here, CPU kernels and threads, versions        [--json]
  check                a parity suite for a new host: mask() against the test suite's reference rule,
                       log-probs against a float64 reference, CPU threads and kernel variants against each
                       other, CUDA against the CPU bit for bit when CUDA runs here. Exit code 1 on any
                       mismatch                                          [--require-cuda: 2 when CUDA is not checked]
  demo                 a simulated RL step: importance ratios with and without recorded masks
                       [--batch 4 --steps 256 --vocab 32000 --topP 0.9 --topK 50 --seed 1]
  bench [module...]    benchmarks (mask-cpu, trainer-cpu, carry), each as ratios against baselines measured
                       in the same run                                   [--json] [--svg FILE]
  inspect FILE         summary of a serialized mask (serialize()) or a record stream (MaskRecordWriter)
                                                                         [--json]

Options:
  -h, --help           this text

Progress goes to stderr on a terminal only.`;

const root = path.join(__dirname, '..', '..');

function flag(args: Args, name: string): boolean {
  return args.flags.get(name) === true;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage);
    return command === undefined ? 2 : 0;
  }
  if (command === 'demo') {
    // The demo parses its own options.
    if (rest.includes('--help') || rest.includes('-h')) rest.splice(0, rest.length, '--help');
    return spawnSync(process.execPath, [path.join(root, 'scripts', 'demo.js'), ...rest], { stdio: 'inherit' }).status ?? 1;
  }
  const args = parseArgs(rest, ['svg']);
  if (flag(args, 'help')) {
    console.log(usage);
    return 0;
  }
  switch (command) {
    case 'info': {
      const info = hostInfo();
      console.log(flag(args, 'json') ? JSON.stringify(info, null, 2) : formatInfo(info));
      return 0;
    }
    case 'check': {
      // --digest: one child of the CPU kernel variant comparison (check runs itself with SAMPLING_MASK_CPU_ISA).
      if (flag(args, 'digest')) {
        console.log(digest(checkCases()));
        return 0;
      }
      return runCheck({ requireCuda: flag(args, 'require-cuda'), cli: __filename });
    }
    case 'bench': {
      const results = await runBench(args.positional);
      if (flag(args, 'json')) console.log(JSON.stringify(results, null, 2));
      else for (const [name, rows] of Object.entries(results)) console.log(`\n## ${name}\n${benchTable(rows)}`);
      const svg = args.flags.get('svg');
      if (typeof svg === 'string') {
        const info = hostInfo();
        const title = `sampling-mask ${info.package.version} bench: ${info.backend.cpuIsa} CPU kernels, ${info.backend.threads} threads (log time axis)`;
        fs.writeFileSync(svg, benchSvg(results, title));
        console.error(`wrote ${svg}`);
      }
      return 0;
    }
    case 'inspect': {
      const file = args.positional[0];
      if (!file) throw new UsageError('inspect needs a FILE');
      const result = inspectFile(file);
      console.log(flag(args, 'json') ? JSON.stringify(result.json, null, 2) : result.text);
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`sampling-mask: ${error.message}\n\n${usage}`);
      process.exitCode = 2;
    } else {
      console.error(`sampling-mask: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  },
);
