// Small helpers shared by the op tests.
#ifndef GATEFUSE_OPS_TESTING_OP_TEST_UTIL_H_
#define GATEFUSE_OPS_TESTING_OP_TEST_UTIL_H_

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/testing/gradient_check.h"

namespace gatefuse::testing {

inline Var Const(const Shape& shape, std::vector<double> values, DType dtype = DType::kF64) {
  return Var::Constant(Tensor::FromValues(shape, values, dtype).value());
}

// The values of an op's result, which must be OK.
inline std::vector<double> Values(const VarOr& v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? v->value().ToVector() : std::vector<double>{};
}

// The relative tolerance for an op's values against expectations exact to double
// precision (computed in the test, or written out to 17 digits): about a dozen
// roundings (2^-24 each) in f32; in f64 about fifty roundings (2^-53 each), under
// 1/500 of one f32 rounding, so an f64 value that went through f32 anywhere fails.
// (The ops measured here stay within 7e-16 relative in f64.)
inline double ValueTolerance(DType dtype) { return dtype == DType::kF32 ? 1e-6 : 1e-14; }

// For Pointwise over (actual, expected) pairs: |actual - expected| is at most
// ValueTolerance(dtype) * |expected|, or ValueTolerance(dtype) where expected is 0.
//   EXPECT_THAT(Values(Tanh(x)), Pointwise(ValueNear(dtype), {-0.9640275800758169, 0.0}));
MATCHER_P(ValueNear, dtype,
          absl::StrCat(negation ? "not " : "", "within relative ", ValueTolerance(dtype))) {
  const double actual = ::testing::get<0>(arg), expected = ::testing::get<1>(arg);
  const double error = std::abs(actual - expected);
  *result_listener << "differs by " << error;
  if (expected != 0) *result_listener << " (relative " << error / std::abs(expected) << ")";
  return error <= ValueTolerance(dtype) * (expected == 0 ? 1 : std::abs(expected));
}

// `r` failed with InvalidArgument and a message containing every part.
template <typename T>
void ExpectInvalidArgument(const absl::StatusOr<T>& r, const std::vector<std::string>& parts) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  for (const std::string& p : parts) EXPECT_THAT(r.status().message(), ::testing::HasSubstr(p));
}

inline void ExpectGradientsMatch(const TapeFunction& f, const std::vector<Tensor>& inputs) {
  const absl::Status s = CheckGradients(f, inputs);
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace gatefuse::testing

#endif  // GATEFUSE_OPS_TESTING_OP_TEST_UTIL_H_
