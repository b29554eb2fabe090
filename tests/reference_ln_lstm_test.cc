// The layer-normalised LSTM (the builtin ln_lstm, defined by models/cells/ln_lstm.cell)
// against the independent reference values in tests/data/reference_ln_lstm/: the
// forward values and every gradient, on the tape in f64 and on the fast path in f32.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/cells/reference.h"

namespace gatefuse {
namespace {

using ::testing::StartsWith;

constexpr char kDataDir[] = "tests/data/reference_ln_lstm";

std::vector<std::string> ReferenceFiles() { return ReferenceFilesIn(kDataDir); }

// y, hT, cT, loss and the gradients of x, h0, c0, W, U and the six layer-norm
// parameters: everything a file holds but the inputs and the loss weights.
constexpr int kTensorsPerFile = 4 + 11;

TEST(ReferenceLnLstmTest, TheFilesAreLnLstmCases) {
  const std::vector<std::string> files = ReferenceFiles();
  ASSERT_EQ(files.size(), 2u);
  for (const std::string& f : files) {
    absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(f);
    ASSERT_TRUE(ref.ok()) << ref.status();
    EXPECT_EQ(ref->kind, "ln_lstm") << f;
    EXPECT_FALSE(ref->tensors.count("b")) << f << ": ln_lstm has no bias";
  }
}

TEST(ReferenceLnLstmTest, TapeMatchesInF64) {
  for (const std::string& f : ReferenceFiles()) {
    SCOPED_TRACE(f);
    absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(f);
    ASSERT_TRUE(ref.ok()) << ref.status();
    absl::StatusOr<RefcheckResult> r = Refcheck(*ref, RefcheckPath::kTape);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->tensors_compared, kTensorsPerFile);
    EXPECT_LE(r->max_rel_err, 1e-10) << r->worst;
    EXPECT_EQ(r->fusion, "none");
    EXPECT_THAT(r->path.ToString(), StartsWith("op-by-op: the cell's equations on the tape"));
  }
}

// No fused kernel exists for ln_lstm: it runs on the compiled plan, reductions over
// the features included, and nothing falls back to the tape.
TEST(ReferenceLnLstmTest, FastPathMatchesInF32) {
  for (const std::string& f : ReferenceFiles()) {
    SCOPED_TRACE(f);
    absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(f);
    ASSERT_TRUE(ref.ok()) << ref.status();
    absl::StatusOr<RefcheckResult> r = Refcheck(*ref, RefcheckPath::kFused);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->tensors_compared, kTensorsPerFile);
    EXPECT_EQ(r->path.ToString(), "compiled");
    EXPECT_EQ(r->fusion, "custom");
    EXPECT_LE(r->max_rel_err, 1e-4) << r->worst;
    EXPECT_GT(r->max_rel_err, 0) << "f32 cannot match f64 exactly";
  }
}

// A gradient of a layer-norm parameter changed in the file is found, and named.
TEST(ReferenceLnLstmTest, DetectsAPerturbedLayerNormGradient) {
  absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(ReferenceFiles()[0]);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ref->tensors.at("d_lnc_g").data<double>()[2] *= 1.001;
  absl::StatusOr<RefcheckResult> r = Refcheck(*ref, RefcheckPath::kTape);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->max_rel_err, 1e-5);
  EXPECT_EQ(r->worst_tensor, "d_lnc_g");
}

TEST(ReferenceLnLstmTest, AMissingLayerNormParameterIsNamed) {
  absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(ReferenceFiles()[0]);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ref->tensors.erase("lnh_b");
  absl::StatusOr<RefcheckResult> r = Refcheck(*ref, RefcheckPath::kTape);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("reference ln_lstm: tensor lnh_b is missing"));
}

}  // namespace
}  // namespace gatefuse
