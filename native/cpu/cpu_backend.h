// The CPU backend: the reference every other backend matches bit for bit,
// parallel over rows on its own thread pool, with row kernels compiled per
// instruction set and picked at run time (row_kernels.h).
#pragma once

#include <memory>

#include "../host/backend.h"
#include "../host/thread_pool.h"

namespace sm::cpu {

using host::ThreadPool;

Backend& backend();

// The pool every CPU operation runs on. set_threads replaces it; work in
// flight keeps the pool it started with alive through the shared_ptr.
std::shared_ptr<ThreadPool> pool();
void set_threads(int threads);  // 0 = all hardware threads

// The row kernels' instruction set ("avx512", "avx2" or "baseline").
const char* isa();

}  // namespace sm::cpu
