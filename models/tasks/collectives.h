// The processes of a data-parallel run, as the trainer uses them: every rank holds
// the whole model, trains on its shard of each batch, and the ranks combine their
// gradients and metrics through these collectives. models/distributed/ implements
// them on MPI; a trainer without Collectives is a single process.
//
// Every call is collective: all ranks make the same calls in the same order, and a
// call returns on every rank the same values.
#ifndef GATEFUSE_MODELS_TASKS_COLLECTIVES_H_
#define GATEFUSE_MODELS_TASKS_COLLECTIVES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gatefuse {

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Elementwise sums over the ranks, in place.
  virtual absl::Status SumFloats(absl::Span<float> values) = 0;
  virtual absl::Status SumDoubles(absl::Span<double> values) = 0;
  // Rank 0's values on every rank (the sizes must agree).
  virtual absl::Status BroadcastFloats(absl::Span<float> values) = 0;
  // Rank 0's bytes on every rank, whatever the others held.
  virtual absl::Status BroadcastBytes(std::string& bytes) = 0;
  // Every rank's value, in rank order.
  virtual absl::StatusOr<std::vector<uint64_t>> GatherAll(uint64_t value) = 0;
};

// The ranks whose entry of `per_rank` (GatherAll's result) differs from rank 0's,
// as "1, 3"; empty when all agree.
inline std::string RanksUnlikeRankZero(const std::vector<uint64_t>& per_rank) {
  std::string out;
  for (size_t r = 1; r < per_rank.size(); ++r) {
    if (per_rank[r] == per_rank[0]) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(r);
  }
  return out;
}

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_TASKS_COLLECTIVES_H_
