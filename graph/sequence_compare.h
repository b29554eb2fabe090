// Compares two cell graphs with the same signature: both run over the same random
// sequence (RunGraphSequence, on the tape), forward and backward, and the result
// is the largest relative error over the outputs (y and final states) and the
// gradients with respect to x, the initial states and every parameter. Each
// tensor's error is CompareTensors(a, b).error (core/compare.h): max|a - b| /
// max|b|, +inf for any NaN or Inf.
#ifndef GATEFUSE_GRAPH_SEQUENCE_COMPARE_H_
#define GATEFUSE_GRAPH_SEQUENCE_COMPARE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace gatefuse {

struct SequenceCompareOptions {
  int64_t T = 8;
  int64_t B = 3;
  DType dtype = DType::kF32;
  uint64_t seed = 1;
};

struct SequenceComparison {
  double max_rel_err = 0;
  std::string worst;  // which tensor and element, e.g. "d_Wi [3,1]: ours ... vs ..."
};

absl::StatusOr<SequenceComparison> CompareCellGraphs(const Graph& a, const Graph& b,
                                                     const SequenceCompareOptions& options = {});

}  // namespace gatefuse

#endif  // GATEFUSE_GRAPH_SEQUENCE_COMPARE_H_
