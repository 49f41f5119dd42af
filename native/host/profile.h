// Milliseconds one call spent, for `profile: true`, from any backend: its
// computation (CUDA: kernels alone, between CUDA events; CPU: the whole
// computation) and the host <-> device copies of inputs and results.
#pragma once

#include <chrono>

namespace sm {

struct Profile {
  double kernel_ms = 0, upload_ms = 0, download_ms = 0;
};

// Runs a host computation, recording its wall time as profile->kernel_ms
// (profile may be null).
template <class Run>
auto timed_on_host(Profile* profile, const Run& run) {
  const auto start = std::chrono::steady_clock::now();
  auto result = run();
  if (profile)
    profile->kernel_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace sm
