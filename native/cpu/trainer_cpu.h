// The CPU backend of the trainer side: applyMask, maskedLogprobs and its
// backward, parallel over rows. Each row is computed by one thread in the
// order core/trainer.h defines, so results never depend on the thread count.
#pragma once

#include <cstdint>

#include "../core/trainer.h"
#include "../core/types.h"
#include "../host/thread_pool.h"

namespace sm::cpu {

// Writes logits with -inf at every id a row does not keep, in the logits' own
// format, to out ([rows, vocab] of the same format). out may be logits.data:
// then only the entries not kept are written. Checks the kept ids first.
RowFailure apply_mask(const LogitsView& logits, const KeptIds& kept, void* out);

// Per row: the log-prob of the target under the kept distribution (-inf when
// the target is not kept; counted in *targets_outside) and, if entropy is not
// null, that distribution's entropy. Temperatures must be valid. Runs on the
// pool `on`, or on the CPU backend's when it is null.
RowFailure masked_logprobs(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                           const PerRow<float>& temperature, float* logprobs, float* entropy, int64_t* targets_outside,
                           host::ThreadPool* on = nullptr);

// The gradient of upstream[r] * logprob[r] with respect to every kept logit,
// one value per kept id (aligned with kept.indices, or [rows, vocab] when
// every id is kept).
RowFailure masked_logprobs_backward(const LogitsView& logits, const KeptIds& kept, const int32_t* targets,
                                    const PerRow<float>& upstream, const PerRow<float>& temperature, float* gradient,
                                    int64_t* targets_outside);

}  // namespace sm::cpu
