// The CPU backend of sample(): the CPU mask, then per row one token drawn
// from exactly the ids that mask keeps (core/sample.h), and the log-probs of
// the drawn tokens from the trainer side's maskedLogprobs, so that the two
// agree bit for bit.
#pragma once

#include "../core/rule.h"
#include "../core/sample.h"
#include "../host/mask_result.h"

namespace sm::cpu {

// Parameters must already be valid. A row that has no mask fails the batch
// as in mask_rows.
SampleRowsResult sample_rows(const LogitsView& logits, const BatchParams& params, const BatchDrawKeys& keys,
                             bool full_logprobs);

}  // namespace sm::cpu
