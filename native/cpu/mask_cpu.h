// The CPU backend of mask(): the reference every other backend matches bit
// for bit, parallel over rows, and over segments of a row when the batch is
// smaller than the thread count.
#pragma once

#include "../core/rule.h"
#include "../host/mask_result.h"

namespace sm::cpu {

// Kept ids of every row. Parameters must already be valid. With fill, every
// entry not kept becomes -inf in place, but only once every row is known to
// be valid (kFailBatch: on error the logits are left as they were; kSkip:
// invalid rows are left as they were).
MaskRowsResult mask_rows(const LogitsView& logits, const BatchParams& params, bool fill, InvalidRows invalid_rows);

}  // namespace sm::cpu
