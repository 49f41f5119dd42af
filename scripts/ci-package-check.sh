#!/usr/bin/env bash
# The package as a user gets it, checked end to end (run by .ci/run after
# npm install; about 5 minutes on 2 cores):
#   1. prebuilds (the CPU flavour; SAMPLING_MASK_CI_FLAVOURS=cpu,cuda13 for more) and `npm pack`;
#      the tarball's file list against the allow-list (scripts/package-files.js)
#   2. prebuild path: the tarball installed in an empty folder with no compiler on
#      PATH (the install script finds the prebuild), and again with --ignore-scripts
#   3. source path: the tarball without its prebuilds, CPU only, built by node-gyp
#      (node-addon-api added, no cmake-js: the fallback of hosts without CMake)
#      and by CMake (node-addon-api and cmake-js added)
# In every install a CommonJS, an ES module and a TypeScript consumer (module
# nodenext, strict, against the shipped types) compute a mask and a masked
# log-prob and compare them with values worked out by hand, and
# `npx sampling-mask info` and `check` pass.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }
# Installs below are a user's: no build switch or addon override from the CI environment.
unset SAMPLING_MASK_CUDA SAMPLING_MASK_CUDA_ARCHITECTURES SAMPLING_MASK_BUILD SAMPLING_MASK_WERROR SAMPLING_MASK_BUILD_DIR \
  SAMPLING_MASK_ADDON CUDACXX
seconds() { echo "$(( $(date +%s%N) / 1000000 ))"; }

step "prebuilds (${SAMPLING_MASK_CI_FLAVOURS:-cpu}) and npm pack"
npm run --silent prepare
node scripts/prebuilds.js --only "${SAMPLING_MASK_CI_FLAVOURS:-cpu}"
tarball="$work/$(npm pack --ignore-scripts --silent --pack-destination "$work")"
node -e '
  const { packageFileProblems } = require("./scripts/package-files.js");
  const files = require("child_process").execFileSync("tar", ["tzf", process.argv[1]], { encoding: "utf8" })
    .trim().split("\n").map((f) => f.replace(/^package\//, ""));
  const problems = packageFileProblems(files, { prebuilds: true });
  if (problems.length) { console.error(problems.join("\n")); process.exit(1); }
  console.log(`${files.length} files, all allowed: ${require("fs").statSync(process.argv[1]).size} bytes`);
' "$tarball"

# Consumers: row 0 [1, 3, 2, 0, -1] with topK 2 keeps ids 1 and 2, and the
# log-prob of id 2 over them is 2 - ln(e^3 + e^2) = -ln(1 + e); row 1
# [0, 0, 0, 5, 0] with topP 0.5 keeps id 3 alone (log-prob 0).
mkdir -p "$work/consumers"
cat > "$work/consumers/body.txt" <<'EOF'
const logits = { data: new Float32Array([1, 3, 2, 0, -1, 0, 0, 0, 5, 0]), shape: [2, 5], dtype: 'float32' } as const;
const kept = sm.mask(logits, { topK: [2, -1], topP: [1, 0.5] });
const lists = JSON.stringify(kept.toLists());
if (lists !== '[[1,2],[3]]') throw new Error(`kept ${lists}`);
const { logprobs } = sm.maskedLogprobs(logits, kept, new Int32Array([2, 3]));
const expected = [-Math.log(1 + Math.E), 0];
if (logprobs.some((lp: number, i: number) => Math.abs(lp - expected[i]) > 1e-6)) throw new Error(`log-probs ${logprobs}`);
console.log(`ok ${kind}: ${lists}, log-probs ${Array.from(logprobs)} on the ${sm.backendInfo().binary} binary (${sm.backendInfo().binaryOrigin})`);
EOF
strip_types() { sed -e 's/ as const;/;/' -e 's/(lp: number, i: number)/(lp, i)/'; }
{ echo "const sm = require('sampling-mask'); const kind = 'CommonJS';"; strip_types < "$work/consumers/body.txt"; } > "$work/consumers/consumer.cjs"
{ echo "import * as sm from 'sampling-mask'; const kind = 'ES module';"; strip_types < "$work/consumers/body.txt"; } > "$work/consumers/consumer.mjs"
{ echo "import * as sm from 'sampling-mask'; const kind: string = 'TypeScript';"; cat "$work/consumers/body.txt"; } > "$work/consumers/consumer.mts"
# skipLibCheck as the README asks of users without the optional apache-arrow (whose types toArrow names);
# the consumer's own code is still checked strictly against the shipped declarations.
cat > "$work/consumers/tsconfig.json" <<EOF
{ "compilerOptions": { "module": "nodenext", "target": "ES2022", "strict": true, "skipLibCheck": true, "outDir": "out",
    "types": ["node"], "typeRoots": ["$repo/node_modules/@types"] },
  "files": ["consumer.mts"] }
EOF

# Runs the consumers, info and check in an installed folder, whose binary must come from $2 (prebuild or source build).
consume() {
  local dir="$1" origin="$2"
  (cd "$dir" && node -e '
    const info = require("sampling-mask").backendInfo();
    if (info.binaryOrigin !== process.argv[1]) throw new Error(`the ${info.binaryOrigin} binary loaded, not a ${process.argv[1]}`);' "$origin")
  cp "$work/consumers/"consumer.* "$work/consumers/tsconfig.json" "$dir/"
  node "$dir/consumer.cjs"
  node "$dir/consumer.mjs"
  node "$repo/node_modules/typescript/bin/tsc" -p "$dir"
  node "$dir/out/consumer.mjs"
  (cd "$dir" && npx --no-install sampling-mask info && npx --no-install sampling-mask check)
}

fresh() {
  local dir="$work/$1"
  mkdir -p "$dir"
  echo '{ "name": "consumer", "version": "1.0.0", "private": true }' > "$dir/package.json"
  echo "$dir"
}

step "prebuild path: no compiler on PATH"
bare="$work/bare-bin"
mkdir -p "$bare"
for tool in sh node npm npx; do ln -s "$(command -v "$tool")" "$bare/$tool"; done
for compiler in cc gcc g++ c++ cmake make nvcc; do
  if PATH="$bare" command -v "$compiler" > /dev/null; then echo "$compiler is still on PATH" >&2; exit 1; fi
done
dir="$(fresh prebuild)"
started="$(seconds)"
(cd "$dir" && PATH="$bare" npm install --no-audit --no-fund --foreground-scripts "$tarball")
echo "installed from the tarball in $(( $(seconds) - started )) ms"
consume "$dir" prebuild

step "prebuild path: --ignore-scripts (as pnpm does by default)"
dir="$(fresh ignore-scripts)"
(cd "$dir" && npm install --no-audit --no-fund --foreground-scripts --ignore-scripts "$tarball")
consume "$dir" prebuild

step "source path: the tarball without prebuilds"
mkdir -p "$work/repack"
tar xzf "$tarball" -C "$work/repack"
rm -rf "$work/repack/package/prebuilds"
source_tarball="$work/sampling-mask-source.tgz"
tar czf "$source_tarball" -C "$work/repack" package

step "source path: node-gyp (node-addon-api only: no cmake-js, so CMake is not used)"
dir="$(fresh source-node-gyp)"
(cd "$dir" && SAMPLING_MASK_CUDA=off npm install --no-audit --no-fund --foreground-scripts --prefer-offline "$source_tarball" node-addon-api@^8)
consume "$dir" "source build"

step "source path: CMake (node-addon-api and cmake-js)"
dir="$(fresh source-cmake)"
(cd "$dir" && SAMPLING_MASK_CUDA=off npm install --no-audit --no-fund --foreground-scripts --prefer-offline "$source_tarball" node-addon-api@^8 cmake-js@^8)
consume "$dir" "source build"

step "package check passed"
