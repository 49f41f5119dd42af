// onInvalidRow: 'skip' for any backend, built from the backend's own
// fail-the-batch mask(): the batch runs in sub-batches split at each failing
// row, so every other row is masked exactly as it would be alone. A backend
// that can skip rows natively (the CPU) does so instead.
#pragma once

#include <cstdint>
#include <vector>

#include "backend.h"

namespace sm::host {

MaskRowsResult mask_skipping_invalid_rows(Backend& backend, const Logits& logits, const BatchParams& params, bool fill,
                                          Profile* profile);

// Empties the rows marked in drop (rows + 1 offsets kept consistent).
void drop_rows(MaskRowsResult* result, const std::vector<bool>& drop);

}  // namespace sm::host
