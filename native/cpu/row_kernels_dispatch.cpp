#include "baselines.h"
#include "row_kernels.h"
#include "trainer_kernels.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace sm::cpu {

#define SM_DECLARE_ISA(ns) \
  namespace ns { \
  template <class S> \
  RowKernels<S> make_kernels(); \
  template <class S> \
  TrainerKernels<S> make_trainer_kernels(); \
  double approximate_weight_error(); \
  }
SM_DECLARE_ISA(isa_baseline)
#if defined(SM_HAVE_X86_VARIANTS)
SM_DECLARE_ISA(isa_avx2)
SM_DECLARE_ISA(isa_avx512)
#endif
#undef SM_DECLARE_ISA

namespace {

enum class Isa { kBaseline, kAvx2, kAvx512 };

Isa detect_isa() {
#if defined(SM_HAVE_X86_VARIANTS)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    return Isa::kAvx2;
#endif
  return Isa::kBaseline;
}

// SAMPLING_MASK_CPU_ISA=baseline or avx2 caps the choice, so that every
// variant can be run and compared on one machine; it never picks an
// instruction set the processor lacks.
Isa requested_cap() {
  const char* name = std::getenv("SAMPLING_MASK_CPU_ISA");
  if (name && std::strcmp(name, "baseline") == 0) return Isa::kBaseline;
  if (name && std::strcmp(name, "avx2") == 0) return Isa::kAvx2;
  return Isa::kAvx512;
}

const Isa kIsa = std::min(detect_isa(), requested_cap());

// The variant of a kernel factory for this processor: make is a function
// template that every isa_* namespace defines.
#if defined(SM_HAVE_X86_VARIANTS)
#define SM_PICK(make) \
  (kIsa == Isa::kAvx512 ? isa_avx512::make : kIsa == Isa::kAvx2 ? isa_avx2::make : isa_baseline::make)
#else
#define SM_PICK(make) (isa_baseline::make)
#endif

}  // namespace

template <class S>
const RowKernels<S>& row_kernels() {
  static const RowKernels<S> kernels = SM_PICK(make_kernels<S>)();
  return kernels;
}

template <class S>
const TrainerKernels<S>& trainer_kernels() {
  static const TrainerKernels<S> kernels = SM_PICK(make_trainer_kernels<S>)();
  return kernels;
}

double approximate_weight_error() { return SM_PICK(approximate_weight_error)(); }

#undef SM_PICK

template const RowKernels<F32Storage>& row_kernels<F32Storage>();
template const RowKernels<BF16Storage>& row_kernels<BF16Storage>();
template const RowKernels<F16Storage>& row_kernels<F16Storage>();
template const TrainerKernels<F32Storage>& trainer_kernels<F32Storage>();
template const TrainerKernels<BF16Storage>& trainer_kernels<BF16Storage>();
template const TrainerKernels<F16Storage>& trainer_kernels<F16Storage>();

const char* row_kernels_isa() {
  switch (kIsa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kBaseline: break;
  }
  return "baseline";
}

}  // namespace sm::cpu
