#!/usr/bin/env bash
# The sanitized slice CI runs (from .ci/run): the addon built with ASan and
# UBSan (CPU only), the jest files that feed it bad and racing input, and a
# minute of fuzzing, all with the sanitizer runtimes preloaded; any report
# fails it. Sized to finish in under 5 minutes on 2 cores (the build is
# about a minute of that). SAMPLING_MASK_CI_FUZZ_SECONDS changes the fuzzing time.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/sanitize.sh --fuzz-seconds "${SAMPLING_MASK_CI_FUZZ_SECONDS:-60}" \
  test/facade-arguments.test.ts test/mask-errors.test.ts test/trainer-errors.test.ts test/shared-inputs.test.ts \
  test/fuzz-slice.test.ts
