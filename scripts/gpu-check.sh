#!/usr/bin/env bash
# The GPU check on the lent GPU machine, in one command (no build, no network,
# no npm there): unpacks the carried node, runs scripts/gpu-check.js with the
# carried addon and dist/, then a short compute-sanitizer memcheck of --quick.
# Prepare the carried files here first with scripts/pack-gpu-check.sh.
#
#   scripts/gpu-check.sh OUT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/gpu-check.sh OUT_DIR}"
mkdir -p "$out"
xz -dc .device/node.xz > .device/node && chmod +x .device/node || exit 4
export SAMPLING_MASK_ADDON="${SAMPLING_MASK_ADDON:-$PWD/.device/sampling_mask.node}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv > "$out/nvidia-smi.txt" 2>&1

timeout 180 .device/node scripts/gpu-check.js --out "$out" --budget 140 2>&1 | tee "$out/gpu-check.log"
status=${PIPESTATUS[0]}

sanitizer=compute-sanitizer
command -v "$sanitizer" > /dev/null || sanitizer=/usr/local/cuda/bin/compute-sanitizer
timeout 90 "$sanitizer" --tool memcheck --report-api-errors no --error-exitcode 9 .device/node scripts/gpu-check.js --quick --out "$out/memcheck" --budget 60 > "$out/memcheck.log" 2>&1
memcheck=$?
tail -n 15 "$out/memcheck.log"
echo "gpu-check: check exit $status, memcheck exit $memcheck (0 = clean, 9 = memory errors, 124 = timed out)"
[ "$status" -eq 0 ] && [ "$memcheck" -eq 0 ]
