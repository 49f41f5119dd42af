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
// mask's own exact vectorized pass: what top-p without top-k did before it
// weighed the values below its members approximately. Returns the sum of the
// totals.
uint64_t weigh_once(const LogitsView& logits);

// The largest relative difference between the approximate top-p weight of
// the row passes picked for this processor and the rule's weight before
// truncation, over every f32 d in [-28, 0] (about 1.1e9 values: seconds).
// The tests hold it to kApproximateWeightError (row_kernels.h).
double approximate_weight_error();

// Kept-id count of every row by sorting the row (std::sort per row). Returns
// the total, so that the work cannot be optimized away.
int64_t sort_based_mask(const LogitsView& logits, const BatchParams& params);

}  // namespace sm::cpu
