// The draw of sample() (README "Sampling"), as scalar pieces shared by every
// backend: a counter-based generator keyed by (seed, stream, step), and the
// inverse CDF over the exact fixed-point weights of a row's kept ids. Integer
// arithmetic only, so every backend, thread count and batch layout draws the
// same token from the same key.
#pragma once

#include "rule.h"

namespace sm {

// Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
// easy as 1, 2, 3", SC'11), with Random123's multipliers, Weyl key increments
// and schedule (the key is bumped before each of rounds 2..10).
struct PhiloxWords {
  uint32_t v[4];
};

constexpr uint32_t kPhiloxMultiplier0 = 0xD2511F53u;
constexpr uint32_t kPhiloxMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxWeyl0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxWeyl1 = 0xBB67AE85u;

SM_HD PhiloxWords philox_round(const PhiloxWords& c, uint32_t k0, uint32_t k1) {
  const uint64_t product0 = static_cast<uint64_t>(kPhiloxMultiplier0) * c.v[0];
  const uint64_t product1 = static_cast<uint64_t>(kPhiloxMultiplier1) * c.v[2];
  const uint32_t hi0 = static_cast<uint32_t>(product0 >> 32), lo0 = static_cast<uint32_t>(product0);
  const uint32_t hi1 = static_cast<uint32_t>(product1 >> 32), lo1 = static_cast<uint32_t>(product1);
  return PhiloxWords{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
}

SM_HD PhiloxWords philox4x32_10(PhiloxWords counter, uint32_t k0, uint32_t k1) {
  counter = philox_round(counter, k0, k1);
  for (int round = 1; round < 10; ++round) {
    k0 += kPhiloxWeyl0;
    k1 += kPhiloxWeyl1;
    counter = philox_round(counter, k0, k1);
  }
  return counter;
}

// What a row's draw is keyed by: the caller's seed, the request's stream
// (e.g. a request id) and its decode step. Nothing about the batch.
struct DrawKey {
  uint64_t seed;
  uint64_t stream;
  uint32_t step;
};

struct BatchDrawKeys {
  uint64_t seed = 0;
  PerRow<uint64_t> stream;
  PerRow<uint32_t> step;
  SM_HD_MEMBER DrawKey row(int64_t r) const { return DrawKey{seed, stream.at(r), step.at(r)}; }
};

// The 128 random bits of draw number `draw` of a row (sample() makes draw
// 0): counter (draw, step, stream low word, stream high word), key (seed low
// word, seed high word).
SM_HD PhiloxWords draw_bits(const DrawKey& key, uint32_t draw) {
  const PhiloxWords counter{
      {draw, key.step, static_cast<uint32_t>(key.stream), static_cast<uint32_t>(key.stream >> 32)}};
  return philox4x32_10(counter, static_cast<uint32_t>(key.seed), static_cast<uint32_t>(key.seed >> 32));
}

// floor(total * r / 2^128), r the four words as one 128-bit integer (word 0
// most significant): a uniform integer in [0, total), each value's
// probability within total / 2^128 < 2^-65 of 1 / total (totals stay below
// 2^63, README "Determinism and precision"). Exact in 128-bit arithmetic.
SM_HD uint64_t draw_target(const PhiloxWords& r, uint64_t total) {
  const uint64_t high = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
  const uint64_t low = (static_cast<uint64_t>(r.v[2]) << 32) | r.v[3];
  const unsigned __int128 low_part = static_cast<unsigned __int128>(low) * total;
  const unsigned __int128 sum = static_cast<unsigned __int128>(high) * total + (low_part >> 64);
  return static_cast<uint64_t>(sum >> 64);
}

// The inverse CDF walk over a row's kept ids in ascending id order: the drawn
// id is the first whose cumulative weight (its own included) exceeds the
// target. Ids whose weight truncates to 0 are never drawn.
struct CdfWalk {
  uint64_t target;
  uint64_t below = 0;  // the weight of the ids walked so far
  // Adds the next id's weight; true when the draw lands on that id.
  SM_HD_MEMBER bool lands(uint64_t weight) {
    below += weight;
    return target < below;
  }
};

}  // namespace sm
