// Small helpers shared by the op tests.
#ifndef GATEFUSE_OPS_TESTING_OP_TEST_UTIL_H_
#define GATEFUSE_OPS_TESTING_OP_TEST_UTIL_H_

#include <string>
#include <vector>

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
