#include "kept_ids.h"

namespace sm::host {

RowFailure check_kept_ids(ThreadPool& pool, const KeptIds& kept, int64_t rows, int64_t vocab) {
  return for_row_chunks(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t previous = -1;
      for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j) {
        if (!kept_id_follows(kept.indices[j], previous, vocab))
          return RowFailure{r, RowStatus{RowError::kInvalidMask, kept.indices[j]}};
        previous = kept.indices[j];
      }
    }
    return RowFailure{};
  });
}

void scatter_kept(ThreadPool& pool, const KeptIds& kept, int64_t rows, int64_t vocab, const float* values,
                  float* dense) {
  for_row_chunks(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int32_t j = kept.offsets[r]; j < kept.offsets[r + 1]; ++j) dense[r * vocab + kept.indices[j]] = values[j];
    }
    return RowFailure{};
  });
}

}  // namespace sm::host
