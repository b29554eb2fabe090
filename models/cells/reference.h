// Reference cases: one sequence run of one cell, forward and backward, in the text
// format of shared/reference/README.md, and the check of gatefuse against them.
//
//   # cell lstm T 5 B 3 I 4 H 6 seed 1 float64
//   tensor x 3 5 3 4
//   <values>
//
// Weights are stored per gate as W [G,H,I], U [G,H,H] (used as x @ W[k]^T), biases
// b [G,H] (and bh for the GRU forms), peepholes P [3,H] for gates i, f, o. A cell
// whose W [I,G*H] and U [H,G*H] hold the gates side by side (ln_lstm) gets the
// [G*H, .] stacks transposed; any other param (ln_lstm's lnx_g ... lnc_b) is the
// reference tensor of its name.
#ifndef GATEFUSE_MODELS_CELLS_REFERENCE_H_
#define GATEFUSE_MODELS_CELLS_REFERENCE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "graph/executor.h"

namespace gatefuse {

struct ReferenceCase {
  std::string kind;
  int64_t T = 0, B = 0, I = 0, H = 0, seed = 0;
  std::map<std::string, Tensor> tensors;  // f64
};

// Parses the text form; errors name the file and line.
absl::StatusOr<ReferenceCase> ParseReferenceCase(const std::string& text,
                                                 const std::string& filename);
absl::StatusOr<ReferenceCase> ReadReferenceFile(const std::string& path);
// The files of a folder of reference files, sorted by name (empty if it has none).
std::vector<std::string> ReferenceFilesIn(const std::string& dir);

struct RefcheckResult {
  // max over compared tensors of CompareTensors(ours, reference).error: +inf when
  // any value is NaN or Inf.
  double max_rel_err = 0;
  std::string worst_tensor;
  std::string worst;  // the worst tensor and element, e.g. "d_W [1,0,2]: ours ... vs ..."
  int tensors_compared = 0;
  std::string fusion;  // the kernel the compiler chose ("none" on the tape path)
  SequencePath path;   // how the sequence ran (graph/executor.h)
};

enum class RefcheckPath {
  kTape,   // the cell's equations op by op on the tape, f64
  kFused,  // compiled by the standard passes and run by the executor, f32: one fused
           // oneDNN primitive for a recognised cell, the custom-cell path otherwise
};

// Rebuilds the case's cell from generic ops, runs the sequence forward and backward
// along `path`, and compares every output and gradient in the case.
absl::StatusOr<RefcheckResult> Refcheck(const ReferenceCase& ref, RefcheckPath path);
absl::StatusOr<RefcheckResult> RefcheckTape(const ReferenceCase& ref);

}  // namespace gatefuse

#endif  // GATEFUSE_MODELS_CELLS_REFERENCE_H_
