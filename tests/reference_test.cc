// The cells built from generic ops on the tape against the independent reference
// values in tests/data/reference/ (forward values and every gradient, f64).
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/reference.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

constexpr char kDataDir[] = "tests/data/reference";

std::vector<std::string> ReferenceFiles() { return ReferenceFilesIn(kDataDir); }

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every builtin kind has reference files (ln_lstm's in their own folder, checked
// by reference_ln_lstm_test), and every file is of a builtin kind.
TEST(ReferenceTest, EveryBuiltinKindIsCovered) {
  std::set<std::string> kinds;
  std::vector<std::string> files = ReferenceFiles();
  for (const std::string& f : ReferenceFilesIn("tests/data/reference_ln_lstm")) files.push_back(f);
  for (const std::string& f : files) {
    absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(f);
    ASSERT_TRUE(ref.ok()) << ref.status();
    kinds.insert(ref->kind);
  }
  const std::vector<std::string> builtin = BuiltinCellKinds();
  EXPECT_EQ(kinds, std::set<std::string>(builtin.begin(), builtin.end()));
}

TEST(ReferenceTest, TapeMatchesEveryReferenceFile) {
  const auto files = ReferenceFiles();
  ASSERT_GE(files.size(), 16u);
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(f);
    ASSERT_TRUE(ref.ok()) << ref.status();
    absl::StatusOr<RefcheckResult> r = RefcheckTape(*ref);
    ASSERT_TRUE(r.ok()) << r.status();
    // y, hT, loss, d_x, d_h0, d_W, d_U, d_b at least.
    EXPECT_GE(r->tensors_compared, 8);
    EXPECT_LE(r->max_rel_err, 1e-9) << "worst tensor: " << r->worst_tensor;
  }
}

// The same files through the compiler in f32: every kind fuses (mgu takes the
// compiled custom-cell path; nothing runs op by op) and matches to 1e-4.
TEST(ReferenceTest, FusedPathMatchesEveryReferenceFile) {
  for (const std::string& f : ReferenceFiles()) {
    SCOPED_TRACE(f);
    absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(f);
    ASSERT_TRUE(ref.ok()) << ref.status();
    absl::StatusOr<RefcheckResult> r = Refcheck(*ref, RefcheckPath::kFused);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GE(r->tensors_compared, 8);
    EXPECT_LE(r->max_rel_err, 1e-4) << "worst tensor: " << r->worst_tensor;
    EXPECT_GT(r->max_rel_err, 0) << "f32 cannot match f64 exactly";
    EXPECT_EQ(r->fusion == "custom", ref->kind == "mgu") << r->fusion;
    if (ref->kind == "mgu") {
      EXPECT_EQ(r->path.ToString(), "compiled");
    } else {
      EXPECT_EQ(r->path.ToString(), "fused " + r->fusion);
    }
  }
}

// NaN or Inf anywhere, in the reference or in what gatefuse computes, fails the
// check with an infinite error, whatever the other values are.
TEST(ReferenceTest, NaNAndInfFail) {
  const std::string file = std::string(kDataDir) + "/lstm_T5_B3_I4_H6_s1.txt";
  for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(bad);
    for (const char* name : {"y", "d_U"}) {  // one reference output, one gradient
      absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(file);
      ASSERT_TRUE(ref.ok());
      ref->tensors.at(name).data<double>()[3] = bad;
      absl::StatusOr<RefcheckResult> r = RefcheckTape(*ref);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(std::isinf(r->max_rel_err)) << r->max_rel_err;
      EXPECT_EQ(r->worst_tensor, name);
      EXPECT_THAT(r->worst, HasSubstr("not finite"));
    }
    // Every reference value of y NaN: no finite error can come of it.
    absl::StatusOr<ReferenceCase> ref = ReadReferenceFile(file);
    ASSERT_TRUE(ref.ok());
    Tensor& y = ref->tensors.at("y");
    for (int64_t i = 0; i < y.num_elements(); ++i) y.data<double>()[i] = bad;
    absl::StatusOr<RefcheckResult> r = RefcheckTape(*ref);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(std::isinf(r->max_rel_err));
    // A non-finite input makes our outputs non-finite: that fails too.
    ref = ReadReferenceFile(file);
    ASSERT_TRUE(ref.ok());
    ref->tensors.at("x").data<double>()[0] = bad;
    for (const RefcheckPath path : {RefcheckPath::kTape, RefcheckPath::kFused}) {
      r = Refcheck(*ref, path);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(std::isinf(r->max_rel_err)) << r->max_rel_err;
    }
  }
}

// A reference with one gradient value changed must be reported, and named.
TEST(ReferenceTest, DetectsAPerturbedGradient) {
  absl::StatusOr<ReferenceCase> ref =
      ReadReferenceFile(std::string(kDataDir) + "/lstm_T5_B3_I4_H6_s1.txt");
  ASSERT_TRUE(ref.ok()) << ref.status();
  Tensor& dU = ref->tensors.at("d_U");
  dU.data<double>()[7] += 1e-6;
  absl::StatusOr<RefcheckResult> r = RefcheckTape(*ref);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->max_rel_err, 1e-9);
  EXPECT_EQ(r->worst_tensor, "d_U");
}

// A case labelled with another kind computes different numbers.
TEST(ReferenceTest, DetectsTheWrongCell) {
  absl::StatusOr<ReferenceCase> ref =
      ReadReferenceFile(std::string(kDataDir) + "/gru_T5_B3_I4_H6_s1.txt");
  ASSERT_TRUE(ref.ok());
  ref->kind = "gru_lbr";
  absl::StatusOr<RefcheckResult> r = RefcheckTape(*ref);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->max_rel_err, 1e-3);
}

TEST(ReferenceTest, ParseErrorsNameFileAndLine) {
  const std::string good = ReadText(std::string(kDataDir) + "/rnn_tanh_T5_B3_I4_H6_s1.txt");
  auto bad_header = ParseReferenceCase("# cell lstm T 5\n", "f.txt");
  EXPECT_EQ(bad_header.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_header.status().message(), HasSubstr("f.txt:1:"));

  // Drop the last value of the first tensor (line 3).
  std::string truncated = good;
  const size_t line3_end = truncated.find('\n', truncated.find('\n', truncated.find('\n') + 1) + 1);
  const size_t last_space = truncated.rfind(' ', line3_end);
  truncated.erase(last_space, line3_end - last_space);
  auto r = ParseReferenceCase(truncated, "g.txt");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("g.txt:3: tensor x [5,3,4] needs 60 values"));

  auto bad_number = ParseReferenceCase("# cell lstm T 1 B 1 I 1 H 1 seed 1 float64\n"
                                       "tensor x 1 2\n1.0 abc\n",
                                       "h.txt");
  EXPECT_THAT(bad_number.status().message(), HasSubstr("h.txt:3: bad number 'abc'"));
  EXPECT_EQ(ReadReferenceFile("/nonexistent/file.txt").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ReferenceTest, MissingTensorIsAnError) {
  absl::StatusOr<ReferenceCase> ref =
      ReadReferenceFile(std::string(kDataDir) + "/lstm_T5_B3_I4_H6_s1.txt");
  ASSERT_TRUE(ref.ok());
  ref->tensors.erase("c0");
  auto r = RefcheckTape(*ref);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("c0 is missing"));
}

TEST(ReferenceTest, UnknownKindIsAnError) {
  absl::StatusOr<ReferenceCase> ref =
      ReadReferenceFile(std::string(kDataDir) + "/lstm_T5_B3_I4_H6_s1.txt");
  ASSERT_TRUE(ref.ok());
  ref->kind = "transformer";
  auto r = RefcheckTape(*ref);
  EXPECT_THAT(r.status().message(), HasSubstr("unknown cell kind 'transformer'"));
}

}  // namespace
}  // namespace gatefuse
