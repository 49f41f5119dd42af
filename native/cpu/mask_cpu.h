// The CPU backend of mask(): the reference every other backend matches bit
// for bit, parallel over rows, and over segments of a row when the batch is
// smaller than the thread count.
#pragma once

#include <vector>

#include "../core/rule.h"
#include "../host/mask_result.h"

namespace sm::cpu {

// What a row's mask was decided by: it keeps exactly the ids with x >= cut,
// and x_max is the row's maximum (always kept).
struct RowCut {
  float cut;
  float x_max;
};

// Kept ids of every row. Parameters must already be valid. With fill, every
// entry not kept becomes -inf in place, but only once every row is known to
// be valid (kFailBatch: on error the logits are left as they were; kSkip:
// invalid rows are left as they were). With cuts, also each row's cut (its
// entry is unspecified for a row that has no mask).
MaskRowsResult mask_rows(const LogitsView& logits, const BatchParams& params, bool fill, InvalidRows invalid_rows,
                         std::vector<RowCut>* cuts = nullptr);

}  // namespace sm::cpu
