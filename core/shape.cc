#include "core/shape.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gatefuse {

int64_t Shape::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

std::vector<int64_t> Shape::RowMajorStrides() const {
  std::vector<int64_t> s(dims_.size());
  int64_t step = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    s[i] = step;
    step *= dims_[i];
  }
  return s;
}

std::string Shape::ToString() const { return absl::StrCat("[", absl::StrJoin(dims_, ","), "]"); }

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b, absl::string_view op) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(rank);
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": shapes ", a.ToString(), " and ",
                                                     b.ToString(), " do not broadcast"));
    }
    out[i] = da == 1 ? db : da;
  }
  return Shape(std::move(out));
}

absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank, absl::string_view op) {
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": axis ", axis, " is out of range for rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace gatefuse
