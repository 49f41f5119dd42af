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

// The exact top-p total of every row at T = 1, parallel over rows: its
// maximum (one read), then the fixed-point weight of every logit with the
// mask's own vectorized pass. Top-p without top-k cannot do less: its budget
// is a share of that exact total, and every logit within 28 of the maximum
// weighs. Returns the sum of the totals.
uint64_t weigh_once(const LogitsView& logits);

// Kept-id count of every row by sorting the row (std::sort per row). Returns
// the total, so that the work cannot be optimized away.
int64_t sort_based_mask(const LogitsView& logits, const BatchParams& params);

}  // namespace sm::cpu
