#!/usr/bin/env bash
# `npm run sanitize`: builds the addon with AddressSanitizer and
# UndefinedBehaviorSanitizer (CPU only, into build-sanitize/), then runs jest
# files and the fuzzer against it with the sanitizer runtimes preloaded into
# node. Fails if a test fails, the fuzzer has a finding, or a sanitizer
# reports anything (see below for how no report can go unseen).
#
#   scripts/sanitize.sh [--fuzz-seconds N] [--fuzz-classes a,b] [--no-build] [jest test files...]
#
# Defaults: the jest files below and 120 s of fuzzing over every class.
# SAMPLING_MASK_SANITIZE picks the sanitizers (default address,undefined).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=120
fuzz_classes=values,race,terminate,bytes
build=1
tests=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fuzz-seconds) fuzz_seconds="$2"; shift 2 ;;
    --fuzz-classes) fuzz_classes="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) tests+=("$1"); shift ;;
  esac
done
if [[ ${#tests[@]} -eq 0 ]]; then
  tests=(test/mask-errors.test.ts test/trainer-errors.test.ts test/shared-inputs.test.ts test/mask-async.test.ts
         test/carry-recorder.test.ts test/carry-records.test.ts test/facade-arguments.test.ts test/fuzz-slice.test.ts)
fi

sanitizers="${SAMPLING_MASK_SANITIZE:-address,undefined}"
if [[ $build -eq 1 ]]; then
  SAMPLING_MASK_SANITIZE="$sanitizers" SAMPLING_MASK_CUDA=off SAMPLING_MASK_BUILD_DIR=build-sanitize \
    node scripts/install.js --force
fi
npx tsc -p tsconfig.json
npx tsc -p test/tsconfig.json

addon="$PWD/build-sanitize/Release/sampling_mask.node"
[[ -f "$addon" ]] || { echo "sanitize: no instrumented addon at $addon" >&2; exit 1; }

# The toolchain's runtimes, ASan first (it must be the first library in the process).
preload=()
[[ ",$sanitizers," == *",address,"* ]] && preload+=("$(g++ -print-file-name=libasan.so)")
[[ ",$sanitizers," == *",undefined,"* ]] && preload+=("$(g++ -print-file-name=libubsan.so)")
for file in "${preload[@]}"; do
  [[ -f "$file" ]] || { echo "sanitize: runtime $file not found (g++ -print-file-name)" >&2; exit 1; }
done

reports="$(mktemp -d "${TMPDIR:-/tmp}/sm-sanitize.XXXXXX")"
# A report fails the run three ways: the process it happens in stops
# (halt_on_error / abort_on_error: jest and the fuzzer fail), ASan writes it
# to a file under $reports, and everything printed is kept and searched (GCC's
# UBSan prints to stderr even with log_path when ASan is linked too).
set +e
(
  export LD_PRELOAD="${preload[*]}"
  # V8 keeps memory until exit by design: leak reports would be noise. A
  # failed huge allocation returns null as without ASan, so that the addon's
  # own out-of-memory path is what runs.
  export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:log_path=$reports/asan"
  export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
  export SAMPLING_MASK_ADDON="$addon"
  npx jest --runInBand "${tests[@]}" &&
    node scripts/fuzz/index.js --seconds "$fuzz_seconds" --classes "$fuzz_classes" --seed "${SAMPLING_MASK_FUZZ_SEED:-1}"
) 2>&1 | tee "$reports/output.log"
status=${PIPESTATUS[0]}
set -e

pattern='runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer'
if compgen -G "$reports/asan*" > /dev/null || grep -Eq "$pattern" "$reports/output.log"; then
  echo "sanitize: sanitizer reports:" >&2
  grep -E -A8 "$pattern" "$reports/output.log" | head -80 >&2 || true
  for report in "$reports"/asan*; do
    [[ -f "$report" ]] && { echo "--- $report" >&2; head -60 "$report" >&2; }
  done
  status=1
fi
rm -rf "$reports"
if [[ $status -eq 0 ]]; then
  echo "sanitize: no sanitizer reports; tests and fuzzing passed ($sanitizers)"
else
  echo "sanitize: FAILED ($sanitizers): see the reports and findings above" >&2
fi
exit $status
