// The CPU backend of mask(): the reference every other backend matches bit
// for bit, parallel over rows, and over segments of a row when the batch is
// smaller than the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "../core/rule.h"
#include "host_buffer.h"
#include "../core/types.h"

namespace sm::cpu {

struct MaskRowsResult {
  std::vector<int32_t> offsets;  // rows + 1 entries
  HostBuffer indices;            // int32: the ascending kept ids of each row
  int64_t error_row = -1;        // the first row that has no mask, or -1
  RowStatus error;
  bool too_many_ids = false;     // more kept ids in all than an Int32Array offset can address
};

// Kept ids of every row. Parameters must already be valid. With fill, every
// entry not kept becomes -inf in place, but only once every row is known to
// be valid: on error the logits are left as they were.
MaskRowsResult mask_rows(const LogitsView& logits, const BatchParams& params, bool fill);

}  // namespace sm::cpu
