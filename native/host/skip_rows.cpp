#include "skip_rows.h"

#include <climits>
#include <cstring>

namespace sm::host {
namespace {

// Rows [first, first + count) of a batch: the same memory, host or device.
Logits rows_of(const Logits& logits, int64_t first, int64_t count) {
  Logits part = logits;
  const size_t row_bytes = static_cast<size_t>(logits.view.vocab) * dtype_bytes(logits.view.dtype);
  part.view.data = static_cast<uint8_t*>(logits.view.data) + static_cast<size_t>(first) * row_bytes;
  part.view.rows = count;
  return part;
}

template <class T>
PerRow<T> rows_of(const PerRow<T>& values, int64_t first) {
  PerRow<T> part = values;
  if (part.values) part.values += first;
  return part;
}

BatchParams rows_of(const BatchParams& params, int64_t first) {
  BatchParams part = params;  // (the filter order too)
  part.temperature = rows_of(params.temperature, first);
  part.min_p = rows_of(params.min_p, first);
  part.top_p = rows_of(params.top_p, first);
  part.top_k = rows_of(params.top_k, first);
  return part;
}

// Appends a sub-batch's CSR after what the batch has so far.
void append(std::vector<int32_t>* offsets, std::vector<int32_t>* indices, const MaskRowsResult& part) {
  const int32_t base = offsets->back();
  for (size_t r = 1; r < part.offsets.size(); ++r) offsets->push_back(base + part.offsets[r]);
  const auto* ids = part.indices.as<int32_t>();
  indices->insert(indices->end(), ids, ids + part.offsets.back());
}

}  // namespace

MaskRowsResult mask_skipping_invalid_rows(Backend& backend, const Logits& logits, const BatchParams& params, bool fill,
                                          Profile* profile) {
  MaskRowsResult result;
  std::vector<int32_t> offsets{0}, indices;
  const int64_t rows = logits.view.rows;
  // Masks rows [first, end): all of them, or, after a failure, the rows
  // before it (valid, so the next try succeeds unless the data changed).
  // Each round moves first forward or end back, so the loop ends.
  for (int64_t first = 0, end = rows; first < rows;) {
    MaskRowsResult part = backend.mask(rows_of(logits, first, end - first), rows_of(params, first), fill,
                                       InvalidRows::kFailBatch, profile);
    if (part.too_many_ids || (part.error_row < 0 && offsets.back() + int64_t{part.offsets.back()} > INT32_MAX)) {
      result.too_many_ids = true;
      return result;
    }
    if (part.error_row < 0) {
      append(&offsets, &indices, part);
      first = end;
      end = rows;
    } else if (part.error_row == 0) {
      result.skipped.push_back(RowFailure{first, part.error});
      offsets.push_back(offsets.back());
      first += 1;
      end = rows;
    } else {
      end = first + part.error_row;
    }
  }
  result.offsets = std::move(offsets);
  result.indices = HostBuffer(indices.size() * sizeof(int32_t));
  if (!indices.empty()) std::memcpy(result.indices.data(), indices.data(), indices.size() * sizeof(int32_t));
  return result;
}

void drop_rows(MaskRowsResult* result, const std::vector<bool>& drop) {
  const int32_t* ids = result->indices.as<int32_t>();
  int32_t* out = result->indices.as<int32_t>();
  int32_t written = 0;
  for (size_t r = 0; r + 1 < result->offsets.size(); ++r) {
    const int32_t begin = result->offsets[r], end = result->offsets[r + 1];
    result->offsets[r] = written;
    if (drop[r] || end == begin) continue;  // (an empty result has no memory to move)
    std::memmove(out + written, ids + begin, sizeof(int32_t) * static_cast<size_t>(end - begin));
    written += end - begin;
  }
  result->offsets.back() = written;
  // The CSR must end where its ids do: a trusted mask is never checked again.
  result->indices.resize(sizeof(int32_t) * static_cast<size_t>(written));
}

}  // namespace sm::host
