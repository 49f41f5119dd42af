// What mask() returns for a batch, from any backend (host memory).
#pragma once

#include <cstdint>
#include <vector>

#include "host_buffer.h"
#include "../core/types.h"

namespace sm {

struct MaskRowsResult {
  std::vector<int32_t> offsets;  // rows + 1 entries
  HostBuffer indices;            // int32: the ascending kept ids of each row
  int64_t error_row = -1;        // the first row that has no mask, or -1
  RowStatus error;
  bool too_many_ids = false;     // more kept ids in all than an Int32Array offset can address
};

}  // namespace sm
