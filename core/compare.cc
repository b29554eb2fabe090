#include "core/compare.h"

#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace gatefuse {

std::string FormatIndex(const Shape& shape, int64_t flat_index) {
  std::vector<int64_t> index(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    if (shape[d] > 0) {
      index[d] = flat_index % shape[d];
      flat_index /= shape[d];
    }
  }
  return absl::StrCat("[", absl::StrJoin(index, ","), "]");
}

std::string TensorComparison::Describe(const Shape& shape) const {
  if (!problem.empty() && worst_index < 0) return problem;
  std::string where = worst_index >= 0 ? FormatIndex(shape, worst_index) : "[]";
  const std::string values = absl::StrFormat("ours %.9g vs reference %.9g", ours, ref);
  if (!problem.empty()) return absl::StrCat(problem, " at ", where, ": ", values);
  return absl::StrCat(where, ": ", values, absl::StrFormat(" (scale %.3g)", scale));
}

TensorComparison CompareTensors(const Tensor& ours, const Tensor& ref) {
  TensorComparison c;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (!ours.defined() || !ref.defined()) {
    c.error = kInf;
    c.problem = ours.defined() ? "the reference is undefined" : "ours is undefined";
    return c;
  }
  if (ours.shape() != ref.shape()) {
    c.error = kInf;
    c.problem = absl::StrCat("shape ", ours.shape().ToString(), " vs reference ",
                             ref.shape().ToString());
    return c;
  }
  const std::vector<double> a = ours.ToVector(), r = ref.ToVector();
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool finite_a = std::isfinite(a[i]), finite_r = std::isfinite(r[i]);
    if (!finite_a || !finite_r) {
      c.error = kInf;
      c.worst_index = static_cast<int64_t>(i);
      c.ours = a[i];
      c.ref = r[i];
      c.problem = !finite_r ? "the reference is not finite" : "ours is not finite";
      return c;
    }
    const double diff = std::abs(a[i] - r[i]);
    if (diff > max_diff || c.worst_index < 0) {
      max_diff = diff;
      c.worst_index = static_cast<int64_t>(i);
    }
    max_ref = std::max(max_ref, std::abs(r[i]));
  }
  if (c.worst_index >= 0) {
    c.ours = a[c.worst_index];
    c.ref = r[c.worst_index];
  }
  c.scale = max_ref > 0 ? max_ref : 1.0;
  c.error = max_diff / c.scale;
  return c;
}

absl::Status ExpectClose(const Tensor& ours, const Tensor& ref, double tolerance,
                         absl::string_view what) {
  const TensorComparison c = CompareTensors(ours, ref);
  if (c.Within(tolerance)) return absl::OkStatus();
  const Shape& shape = ours.defined() ? ours.shape() : ref.shape();
  return absl::InvalidArgumentError(absl::StrFormat("%s: relative error %.3g > %.3g, %s", what,
                                                    c.error, tolerance, c.Describe(shape)));
}

}  // namespace gatefuse
