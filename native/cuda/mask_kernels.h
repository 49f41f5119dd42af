// The mask pipeline's device data and kernel launches, shared by the kernels
// (mask_kernels.cu) and the host side that drives them (mask_cuda.cpp).
//
// Every row is a small state machine in device memory. Scan kernels read the
// rows (several blocks per row, each a segment of whole tiles) and do what
// each row's stage asks; after each scan a plan kernel (one block per row)
// reads what the scan gathered and picks the row's next stage. Every row
// ends with its cut (keep x >= cut) and either the kept count of each of its
// segments or its kept ids, sorted, from a small candidate list:
//
//   scan: stats       row max, first NaN/+inf column, histogram of the top
//                     12 bits of order_key(x)
//   plan: start       errors, min-p cut; the top-k bin from the histogram;
//                     if every id that can be kept is among few candidates,
//                     collect them, else refine
//   scan: collect     (x, id) of every x in [lo, hi) into the row's list
//                     (and, for top-p, each segment's count above hi)
//   plan: candidates  top-k and top-p exactly over the sorted list, kept ids
//   scan: weights     integer top-p weights summed per weight bucket
//   plan: boundary    the bucket where the cumulative weight reaches the
//                     budget; collect it, then the exact cut and counts
//   scan: digits      radix refinement (next 12 or 8 bits of order_key) of a
//                     count or weight target, when a list would not fit
//   scan: count       kept ids per segment, once the cut is known
//   offsets           one block: every segment's place in the CSR
//   write             every segment's kept ids in order, or a row's list
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "../core/rule.h"
#include "../core/types.h"

namespace sm::cuda {

constexpr int kScanThreads = 256;
constexpr int kTileLoads = 4;  // 16-byte loads per thread per tile
constexpr int kPlanThreads = 512;
constexpr int kKeyBins = 4096;     // 12-bit digits of order keys
constexpr int kCandidates = 4096;  // per row
// Scan + plan rounds, the first (stats) included. The deepest path: stats,
// two top-k digits, weights, a boundary that overflows, three top-p digits,
// count.
constexpr int kMaxRounds = 9;
constexpr int kOffsetsThreads = 1024;

// Elements of one tile: 16 bytes per load.
constexpr int64_t tile_elements(DType dtype) {
  return int64_t{kScanThreads} * kTileLoads * (dtype == DType::kFloat32 ? 4 : 8);
}

enum Stage : uint8_t {
  kStageStats = 0,  // zeroed state: every row starts here
  kStageCollect,
  kStageDigits,
  kStageWeights,
  kStageCount,           // cut known; the next scan counts each segment
  kStageCounted,         // cut and segment counts known: ids written from the logits
  kStageFromCandidates,  // cut known; sorted ids in kept_ids
  kStageFailed,
};

// Stages from which a row does no more scanning.
SM_HD bool stage_is_final(uint8_t stage) { return stage >= kStageCounted; }

enum Search : uint8_t {
  kSearchNone = 0,
  kSearchCandidates,    // collect: every id that can be kept; then top-k / top-p on the list
  kSearchTopK,          // digits: the k-th largest x (count target)
  kSearchTopPBoundary,  // collect: the boundary weight bucket
  kSearchTopP,          // digits: the top-p boundary x (weight target)
};

// RowError codes beyond core's, for states the search must never reach.
constexpr uint8_t kRowErrorInternal = 0xff;

struct RowState {
  uint32_t max_key;      // stats: atomicMax of order_key(x)
  uint32_t invalid_key;  // stats: atomicMax of ~column over NaN / +inf; 0 = none
  uint32_t candidates;   // collect: entries appended (may pass kCandidates: overflow)
  uint32_t kept;         // from candidates: kept ids
  float cut;             // keep x >= cut
  float lo, hi;          // collect / digits: x in [lo, hi)
  float z_max;
  uint64_t target;  // digits: count or weight still to reach
  uint64_t budget;  // top-p budget of the survivors
  uint64_t above;   // top-p weight above the boundary range
  uint32_t prefix;  // digits: key bits chosen so far
  uint8_t stage, search, level, error;
};

struct Summary {
  uint32_t error_row_key;        // atomicMax of ~row over failed rows; 0 = none
  uint32_t pending[kMaxRounds];  // rows not yet final after each plan round
  int64_t total;                 // kept ids of the chunk
};

struct Candidate {
  float x;
  int32_t id;
};

// Device memory of one chunk of rows.
struct Workspace {
  int64_t* offsets;  // rows + 1, chunk-relative
  Summary* summary;  // right after offsets: both come back in one copy
  RowState* states;
  uint32_t* key_hist;        // rows x kKeyBins
  int32_t* segment_counts;   // rows x segments: kept ids of each segment
  int64_t* segment_offsets;  // rows x segments: where each segment's ids go
  uint64_t* search_hist;     // rows x kKeyBins: digits or weight buckets
  Candidate* candidates;     // rows x kCandidates
  int32_t* kept_ids;         // rows x kCandidates
  float* cuts;               // final cut of each row, kept for the fill pass
  int32_t* indices;          // the CSR ids
  int64_t capacity;          // of indices
};

struct MaskBatch {
  void* logits;  // [rows, vocab] in the storage format of dtype
  DType dtype;
  bool aligned;  // rows start on 16 bytes: vector loads
  int64_t rows, vocab;
  int64_t tiles_per_row;
  int32_t segments;  // scan and write blocks per row
  int32_t tiles_per_segment;
  int64_t segment_elements;  // tiles_per_segment whole tiles
  BatchParams params;        // per-row arrays in device memory
  Workspace w;
};

// Round 0 is the stats scan of every row (all rows start there).
void launch_scan(const MaskBatch& batch, int round, cudaStream_t stream);
void launch_plan(const MaskBatch& batch, int round, cudaStream_t stream);
// Once every row is final: the CSR offsets, then the kept ids.
void launch_offsets(const MaskBatch& batch, cudaStream_t stream);
void launch_write(const MaskBatch& batch, cudaStream_t stream);
// Writes -inf below each row's cut (w.cuts); run only once no row failed.
void launch_fill(const MaskBatch& batch, cudaStream_t stream);

// How many scan blocks of this dtype one multiprocessor of the current
// device holds at once (the scans read the logits two to four times per
// call, the write at most once).
int resident_scan_blocks_per_multiprocessor(DType dtype);

// Empty when the kernels have an image for the current device, else why not.
std::string kernels_unusable_reason();

}  // namespace sm::cuda
