// Host-side work on a mask's CSR that every backend needs before or after
// its own computation: checking the kept ids, and scattering per-id values
// into dense rows.
#pragma once

#include <cstdint>

#include "../core/trainer.h"
#include "thread_pool.h"

namespace sm::host {

// Every row's kept ids strictly ascending within [0, vocab)? The lowest
// failing row is reported.
RowFailure check_kept_ids(ThreadPool& pool, const KeptIds& kept, int64_t rows, int64_t vocab);

// dense[r, id] = values[j] for every kept id (values aligned with
// kept.indices); other entries of dense are left as they are.
void scatter_kept(ThreadPool& pool, const KeptIds& kept, int64_t rows, int64_t vocab, const float* values,
                  float* dense);

}  // namespace sm::host
