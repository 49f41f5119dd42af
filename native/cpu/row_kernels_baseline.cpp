// Row and trainer passes compiled for the baseline instruction set (flags set by the build).
#define SM_ISA isa_baseline
#include "row_kernels_impl.inc"
#include "trainer_kernels_impl.inc"
