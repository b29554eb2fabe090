// The one comparison of a computed tensor with a reference, used by every check in
// gatefuse (refcheck, the fused and compiled paths against the tape, pass tests):
//
//   error = max_i |ours_i - ref_i| / max_i |ref_i|      (1 in place of max |ref| when the
//                                                        reference is all zeros)
//
// Any NaN or Inf on either side makes the comparison fail (error = +inf), as does a
// shape mismatch; the message names the worst element by its index.
//
//   CompareTensors(y, y_ref).error          // 3.1e-07
//   ExpectClose(y, y_ref, 1e-4, "y")        // OK, or InvalidArgument:
//     "y: relative error 2.5e-02 > 1e-04 at [2,0,3]: ours 0.51 vs reference 0.49 (scale 1.2)"
#ifndef GATEFUSE_CORE_COMPARE_H_
#define GATEFUSE_CORE_COMPARE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace gatefuse {

struct TensorComparison {
  double error = 0;  // as above; +inf for a non-finite value or a shape mismatch
  double scale = 1;  // max |ref|, or 1 for an all-zero reference
  // The element that decides `error`: the first non-finite one if any, else the one
  // with the largest |ours - ref|; -1 when the tensors are empty or shapes differ.
  int64_t worst_index = -1;
  double ours = 0, ref = 0;  // the two values at worst_index
  std::string problem;       // empty, or what made the error infinite
  // "[2,0,3]: ours 0.51 vs reference 0.49 (scale 1.2)", or the problem.
  std::string Describe(const Shape& shape) const;
  bool Within(double tolerance) const { return error <= tolerance; }  // false for inf
};

TensorComparison CompareTensors(const Tensor& ours, const Tensor& ref);

// OK when CompareTensors(ours, ref).error <= tolerance; else InvalidArgument naming
// `what`, the error, the tolerance and the worst element.
absl::Status ExpectClose(const Tensor& ours, const Tensor& ref, double tolerance,
                         absl::string_view what);

// The multi-dimensional index of a flat row-major position, as "[i,j,k]".
std::string FormatIndex(const Shape& shape, int64_t flat_index);

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_COMPARE_H_
