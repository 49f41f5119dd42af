#!/usr/bin/env bash
# Prepares, on this machine, everything the GPU check carries to the GPU
# machine in .device/ (ignored by git): the addon built for sm_90 only (in a
# side build folder, so build/ stays as it is), this machine's node packed
# with xz, and dist/ compiled fresh. Run from the project root, then run the
# printed device command with carry [".device", "dist"].
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .device
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> "$(git rev-parse --git-common-dir)/info/exclude"

npx tsc -p tsconfig.json
CUDACXX="${CUDACXX:-/usr/local/cuda/bin/nvcc}" SAMPLING_MASK_CUDA=on SAMPLING_MASK_CUDA_ARCHITECTURES=90 \
  SAMPLING_MASK_BUILD_DIR=build-sm90 node scripts/install.js --force
cp build-sm90/Release/sampling_mask.node .device/sampling_mask.node
pack_node="$(cd ../shared/device && pwd)/pack-node.sh"
if [ -d .git ]; then
  "$pack_node" > /dev/null
elif [ ! -s .device/node.xz ]; then
  # A git worktree (.git is a file): pack where the script finds a .git/info folder.
  scratch="$(mktemp -d)"
  mkdir -p "$scratch/.git/info"
  (cd "$scratch" && "$pack_node" > /dev/null)
  mv "$scratch/.device/node.xz" .device/node.xz
  rm -rf "$scratch"
fi

du -ch .device/* dist | tail -n 1
echo "device command (carry: [\".device\", \"dist\"]):"
echo 'bash scripts/gpu-check.sh "$OUT"'
