// gtest form of core/compare.h, for tests:
//
//   EXPECT_TRUE(TensorsClose(y, y_ref, 1e-12, "y"));
//
// fails with ExpectClose's message (the error, the tolerance, the worst element),
// and on any NaN or Inf.
#ifndef GATEFUSE_CORE_COMPARE_TESTING_H_
#define GATEFUSE_CORE_COMPARE_TESTING_H_

#include "absl/strings/string_view.h"
#include "core/compare.h"
#include "gtest/gtest.h"

namespace gatefuse {

inline ::testing::AssertionResult TensorsClose(const Tensor& ours, const Tensor& ref,
                                               double tolerance, absl::string_view what) {
  const absl::Status s = ExpectClose(ours, ref, tolerance, what);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.message();
}

}  // namespace gatefuse

#endif  // GATEFUSE_CORE_COMPARE_TESTING_H_
