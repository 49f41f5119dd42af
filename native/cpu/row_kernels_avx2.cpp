// Row and trainer passes compiled for the avx2 instruction set (flags set by the build).
#define SM_ISA isa_avx2
#include "row_kernels_impl.inc"
#include "trainer_kernels_impl.inc"
