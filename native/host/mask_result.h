// What mask() returns for a batch, from any backend (host memory).
#pragma once

#include <cstdint>
#include <vector>

#include "../core/trainer.h"
#include "../core/types.h"
#include "host_buffer.h"

namespace sm {

// What a batch does with a row that has no mask (mask()'s onInvalidRow).
enum class InvalidRows {
  kFailBatch,  // the first such row fails the whole call
  kSkip,       // the row keeps no ids and is reported in skipped; the others are masked as alone
};

struct MaskRowsResult {
  std::vector<int32_t> offsets;  // rows + 1 entries
  HostBuffer indices;            // int32: the ascending kept ids of each row
  int64_t error_row = -1;        // kFailBatch: the first row that has no mask, or -1
  RowStatus error;
  std::vector<RowFailure> skipped;  // kSkip: every row that has no mask, ascending
  bool too_many_ids = false;        // more kept ids in all than an Int32Array offset can address
};

// What sample() returns for a batch, from any backend (host memory).
struct SampleRowsResult {
  MaskRowsResult mask;               // a failure is reported here, as for mask()
  std::vector<int32_t> tokens;       // per row, one of its kept ids
  std::vector<float> logprobs;       // per row, over its kept ids
  std::vector<float> full_logprobs;  // per row, over every id; empty unless asked for
};

}  // namespace sm
