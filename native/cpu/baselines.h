// Baselines that `npm run bench` measures the CPU backend against, in the
// same process and on the same threads: the cost of one read of the logits,
// and a straightforward sort-based implementation of the same rule. Not used
// by any operation.
#pragma once

#include <cstdint>

#include "../core/rule.h"
#include "../core/types.h"

namespace sm::cpu {

// Sums every logit (one read of the batch), parallel over rows.
double read_once(const LogitsView& logits);

// Kept-id count of every row by sorting the row (std::sort per row). Returns
// the total, so that the work cannot be optimized away.
int64_t sort_based_mask(const LogitsView& logits, const BatchParams& params);

}  // namespace sm::cpu
