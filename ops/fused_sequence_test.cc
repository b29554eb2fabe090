#include "ops/fused_sequence.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"
#include "gmock/gmock.h"
#include "core/compare_testing.h"
#include "gtest/gtest.h"
#include "ops/cell_kinds.h"
#include "ops/fused_cell.h"
#include "ops/ops.h"
#include "ops/registry.h"
#include "ops/testing/op_test_util.h"

namespace gatefuse {
namespace {

using ::gatefuse::testing::ExpectInvalidArgument;

const std::vector<std::string> kKinds = {"rnn_tanh", "rnn_relu", "lstm",   "peephole",
                                         "cifg",     "gru",      "gru_lbr"};

struct Problem {
  std::string kind;
  int64_t T, B, I, H;
  std::vector<std::string> roles;
  // f32 values; the reference runs on their exact f64 casts.
  Tensor x;
  std::vector<Tensor> states, values;
  std::vector<Tensor> seeds;  // loss weights for y and each final state
};

std::string Describe(const Problem& p) {
  return absl::StrCat(p.kind, " T=", p.T, " B=", p.B, " I=", p.I, " H=", p.H,
                      " roles=", absl::StrJoin(p.roles, ","));
}

// Roles in an order unlike any slot order (n before r and z, o before i), so a
// mapping that relied on the attr order would fail.
std::vector<std::string> AllRoles(const std::string& kind, bool biases) {
  const CellKind& k = **FindCellKind(kind);
  std::vector<std::string> gates(k.gates.rbegin(), k.gates.rend());
  std::vector<std::string> roles;
  for (const std::string& g : gates) {
    roles.push_back(RoleName("U", g));
    roles.push_back(RoleName("W", g));
    if (biases) roles.push_back(RoleName("b", g));
  }
  if (biases && kind == "gru_lbr") roles.push_back("bh_n");
  if (biases && kind == "peephole") {
    for (const char* g : {"p_o", "p_i", "p_f"}) roles.push_back(g);
  }
  return roles;
}

Shape RoleShapeOf(const std::string& role, int64_t I, int64_t H) {
  if (role[0] == 'W') return Shape{I, H};
  if (role[0] == 'U') return Shape{H, H};
  return Shape{H};
}

Problem MakeProblem(const std::string& kind, int64_t T, int64_t B, int64_t I, int64_t H,
                    std::vector<std::string> roles, uint64_t seed) {
  Problem p{kind, T, B, I, H, std::move(roles), {}, {}, {}, {}};
  p.x = Tensor::Uniform({T, B, I}, DType::kF32, seed, -1, 1);
  const size_t n_states = (*FindCellKind(kind))->states.size();
  for (size_t k = 0; k < n_states; ++k) {
    p.states.push_back(Tensor::Uniform({B, H}, DType::kF32, seed + 10 + k, -0.5, 0.5));
  }
  for (size_t k = 0; k < p.roles.size(); ++k) {
    p.values.push_back(
        Tensor::Uniform(RoleShapeOf(p.roles[k], I, H), DType::kF32, seed + 100 + k, -0.5, 0.5));
  }
  p.seeds.push_back(Tensor::Uniform({T, B, H}, DType::kF32, seed + 1000, -1, 1));
  for (size_t k = 0; k < n_states; ++k) {
    p.seeds.push_back(Tensor::Uniform({B, H}, DType::kF32, seed + 1001 + k, -1, 1));
  }
  return p;
}

struct Result {
  std::vector<Tensor> outputs;  // y, final states
  std::vector<Tensor> grads;    // x, initial states, role values
};

std::vector<Var> Leaves(const Problem& p, DType dtype, bool requires_grad) {
  std::vector<Var> leaves = {Var::Leaf(p.x.Cast(dtype), requires_grad)};
  for (const Tensor& t : p.states) leaves.push_back(Var::Leaf(t.Cast(dtype), requires_grad));
  for (const Tensor& t : p.values) leaves.push_back(Var::Leaf(t.Cast(dtype), requires_grad));
  return leaves;
}

absl::StatusOr<Result> Differentiate(const Problem& p, const std::vector<Var>& leaves,
                                     const std::vector<Var>& roots, DType dtype,
                                     BackwardOptions options = {}) {
  Result r;
  std::vector<Tensor> seeds;
  for (const Tensor& s : p.seeds) seeds.push_back(s.Cast(dtype));
  for (const Var& v : roots) r.outputs.push_back(v.value());
  GF_ASSIGN_OR_RETURN(std::vector<Var> grads, Gradients(roots, seeds, leaves, options));
  for (const Var& g : grads) {
    if (!g.defined()) return absl::InternalError("an input got no gradient");
    r.grads.push_back(g.value());
  }
  return r;
}

// T FusedCell steps on the tape, in f64.
absl::StatusOr<Result> RunSteps(const Problem& p) {
  const std::vector<Var> leaves = Leaves(p, DType::kF64, true);
  const size_t n_states = p.states.size();
  std::vector<Var> states(leaves.begin() + 1, leaves.begin() + 1 + n_states);
  const std::vector<Var> values(leaves.begin() + 1 + n_states, leaves.end());
  std::vector<VarOr> ys;
  for (int64_t t = 0; t < p.T; ++t) {
    GF_ASSIGN_OR_RETURN(Var xt, Reshape(Slice(leaves[0], 0, t, t + 1), Shape{p.B, p.I}));
    GF_ASSIGN_OR_RETURN(states, FusedCellStep(p.kind, xt, states, p.roles, values));
    ys.push_back(Reshape(states[0], Shape{1, p.B, p.H}));
  }
  GF_ASSIGN_OR_RETURN(Var y, Concat(ys, 0));
  std::vector<Var> roots = {y};
  roots.insert(roots.end(), states.begin(), states.end());
  return Differentiate(p, leaves, roots, DType::kF64);
}

absl::StatusOr<Result> RunFused(const Problem& p, BackwardOptions options = {}) {
  const std::vector<Var> leaves = Leaves(p, DType::kF32, true);
  const size_t n_states = p.states.size();
  const std::vector<Var> states(leaves.begin() + 1, leaves.begin() + 1 + n_states);
  const std::vector<Var> values(leaves.begin() + 1 + n_states, leaves.end());
  GF_ASSIGN_OR_RETURN(std::vector<Var> out,
                      FusedSequence(p.kind, leaves[0], states, p.roles, values));
  if (out.size() != 1 + n_states) return absl::InternalError("wrong number of outputs");
  if (out[0].producer() == nullptr) return absl::InternalError("not recorded");
  return Differentiate(p, leaves, out, DType::kF32, options);
}

// max|got - want| <= 1e-4 max|want| (core/compare.h; NaN and Inf fail).
void ExpectClose(const Tensor& got, const Tensor& want, const std::string& what) {
  EXPECT_TRUE(TensorsClose(got, want, 1e-4, what));
}

std::string InputName(const Problem& p, size_t k) {
  if (k == 0) return "x";
  if (k <= p.states.size()) return k == 1 ? "h0" : "c0";
  return p.roles[k - 1 - p.states.size()];
}

void ExpectSameAsSteps(const Problem& p) {
  SCOPED_TRACE(Describe(p));
  absl::StatusOr<Result> fused = RunFused(p);
  ASSERT_TRUE(fused.ok()) << fused.status();
  absl::StatusOr<Result> steps = RunSteps(p);
  ASSERT_TRUE(steps.ok()) << steps.status();
  for (size_t k = 0; k < fused->outputs.size(); ++k) {
    ExpectClose(fused->outputs[k], steps->outputs[k], k == 0 ? "y" : absl::StrCat("final ", k));
  }
  ASSERT_EQ(fused->grads.size(), steps->grads.size());
  for (size_t k = 0; k < fused->grads.size(); ++k) {
    ExpectClose(fused->grads[k], steps->grads[k], "d loss / d " + InputName(p, k));
  }
}

struct Dims {
  int64_t T, B, I, H;
};
const std::vector<Dims> kDims = {{1, 1, 3, 5}, {1, 3, 7, 4}, {5, 1, 7, 4}, {5, 3, 3, 5},
                                 {5, 3, 7, 4}, {1, 1, 7, 4}, {5, 1, 3, 5}, {1, 3, 3, 5}};

class FusedSequenceKindTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FusedSequenceKindTest, MatchesFusedCellStepsForwardAndBackward) {
  uint64_t seed = 1;
  for (const Dims& d : kDims) {
    ExpectSameAsSteps(
        MakeProblem(GetParam(), d.T, d.B, d.I, d.H, AllRoles(GetParam(), true), seed += 7919));
  }
}

TEST_P(FusedSequenceKindTest, AbsentBiasesAreZero) {
  ExpectSameAsSteps(MakeProblem(GetParam(), 5, 3, 7, 4, AllRoles(GetParam(), false), 77));
}

// forward_inference (no workspace) and forward_training give the same y and states.
void ExpectInferenceSameAsTraining(const Problem& p) {
  SCOPED_TRACE(Describe(p));
  std::vector<VarOr> in;
  for (const Var& v : Leaves(p, DType::kF32, false)) in.push_back(v);
  const Attrs base = {{"kind", p.kind}, {"roles", absl::StrJoin(p.roles, ",")}};
  Attrs inference = base, training = base;
  inference.Set("training", int64_t{0});
  training.Set("training", int64_t{1});
  absl::StatusOr<std::vector<Var>> a = ApplyOp("FusedSequence", in, inference);
  absl::StatusOr<std::vector<Var>> b = ApplyOp("FusedSequence", in, training);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->size(), 1 + p.states.size());
  ASSERT_EQ(b->size(), 2 + p.states.size());  // + the workspace
  for (size_t k = 0; k < a->size(); ++k) {
    ExpectClose((*a)[k].value(), (*b)[k].value(), absl::StrCat("output ", k));
  }
}

TEST_P(FusedSequenceKindTest, InferenceFormGivesTheSameForward) {
  ExpectInferenceSameAsTraining(MakeProblem(GetParam(), 5, 3, 3, 5, AllRoles(GetParam(), true), 5));
}

// At these sizes oneDNN 2.6 picks padded weight layouts (reorders from ldigo in both
// directions) and, for inference, its packed-GEMM format for the recurrent weights.
TEST_P(FusedSequenceKindTest, LargerSizesWithOtherWeightLayouts) {
  const Problem p = MakeProblem(GetParam(), 3, 64, 96, 128, AllRoles(GetParam(), true), 8);
  ExpectSameAsSteps(p);
  ExpectInferenceSameAsTraining(p);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, FusedSequenceKindTest, ::testing::ValuesIn(kKinds),
                         [](const auto& info) { return info.param; });

TEST(FusedSequenceTest, SomeBiasesAndPeepholesAbsent) {
  ExpectSameAsSteps(MakeProblem(
      "peephole", 5, 3, 3, 5,
      {"W_i", "U_i", "W_f", "U_f", "b_f", "W_g", "U_g", "W_o", "U_o", "p_f", "b_o"}, 11));
  ExpectSameAsSteps(
      MakeProblem("gru_lbr", 5, 3, 7, 4, {"W_r", "U_r", "W_z", "U_z", "W_n", "U_n", "bh_n"}, 12));
  ExpectSameAsSteps(
      MakeProblem("gru", 5, 3, 7, 4, {"W_r", "U_r", "b_z", "W_z", "U_z", "W_n", "U_n"}, 13));
}

// The gate slots by their meaning, independently of the step reference: an update
// gate z saturated at 1 keeps h (h' = (1 - z) n + z h); in oneDNN's slot order
// u, r, o that bias must land in slot u, not in r.
TEST(FusedSequenceTest, GruUpdateGateSaturatedKeepsTheState) {
  for (const std::string kind : {"gru", "gru_lbr"}) {
    Problem p = MakeProblem(kind, 5, 3, 7, 4, AllRoles(kind, true), 21);
    for (size_t k = 0; k < p.roles.size(); ++k) {
      if (p.roles[k] == "b_z") p.values[k] = Tensor::Full({4}, DType::kF32, 30);
    }
    NoGradGuard no_grad;
    std::vector<Var> states, values;
    for (const Tensor& t : p.states) states.push_back(Var::Constant(t));
    for (const Tensor& t : p.values) values.push_back(Var::Constant(t));
    absl::StatusOr<std::vector<Var>> out =
        FusedSequence(kind, Var::Constant(p.x), states, p.roles, values);
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectClose((*out)[1].value(), p.states[0], kind + " hT vs h0");
  }
}

// LSTM slots i, f, c~, o: forget gate open and input gate shut keep c.
TEST(FusedSequenceTest, LstmForgetOpenInputShutKeepsTheCell) {
  Problem p = MakeProblem("lstm", 5, 3, 7, 4, AllRoles("lstm", true), 22);
  for (size_t k = 0; k < p.roles.size(); ++k) {
    if (p.roles[k] == "b_f") p.values[k] = Tensor::Full({4}, DType::kF32, 30);
    if (p.roles[k] == "b_i") p.values[k] = Tensor::Full({4}, DType::kF32, -30);
  }
  NoGradGuard no_grad;
  std::vector<Var> states, values;
  for (const Tensor& t : p.states) states.push_back(Var::Constant(t));
  for (const Tensor& t : p.values) values.push_back(Var::Constant(t));
  absl::StatusOr<std::vector<Var>> out =
      FusedSequence("lstm", Var::Constant(p.x), states, p.roles, values);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectClose((*out)[2].value(), p.states[1], "cT vs c0");
}

TEST(FusedSequenceTest, NoGradRecordsTheInferenceForm) {
  const Problem p = MakeProblem("lstm", 5, 3, 3, 5, AllRoles("lstm", true), 3);
  const std::vector<Var> leaves = Leaves(p, DType::kF32, true);
  NoGradGuard no_grad;
  absl::StatusOr<std::vector<Var>> out =
      FusedSequence(p.kind, leaves[0], {leaves[1], leaves[2]}, p.roles,
                    std::vector<Var>(leaves.begin() + 3, leaves.end()));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].producer(), nullptr);
}

// A node recorded in the inference form (no workspace) still differentiates: its rule
// reruns the training form first.
TEST(FusedSequenceTest, InferenceFormGradientRecomputesTheWorkspace) {
  const Problem p = MakeProblem("gru_lbr", 5, 3, 7, 4, AllRoles("gru_lbr", true), 4);
  absl::StatusOr<Result> want = RunFused(p);
  ASSERT_TRUE(want.ok()) << want.status();
  const std::vector<Var> leaves = Leaves(p, DType::kF32, true);
  std::vector<VarOr> in(leaves.begin(), leaves.end());
  absl::StatusOr<std::vector<Var>> out =
      ApplyOp("FusedSequence", in,
              {{"kind", p.kind}, {"roles", absl::StrJoin(p.roles, ",")}, {"training", int64_t{0}}});
  ASSERT_TRUE(out.ok()) << out.status();
  absl::StatusOr<Result> got = Differentiate(p, leaves, *out, DType::kF32);
  ASSERT_TRUE(got.ok()) << got.status();
  for (size_t k = 0; k < got->grads.size(); ++k) {
    ExpectClose(got->grads[k], want->grads[k], "d loss / d " + InputName(p, k));
  }
}

// The backward primitive overwrites the workspace it runs on; the saved one must
// survive for a second backward through the same tape.
TEST(FusedSequenceTest, RetainedGraphDifferentiatesTwice) {
  const Problem p = MakeProblem("peephole", 5, 3, 7, 4, AllRoles("peephole", true), 6);
  const std::vector<Var> leaves = Leaves(p, DType::kF32, true);
  std::vector<Var> states(leaves.begin() + 1, leaves.begin() + 3);
  std::vector<Var> values(leaves.begin() + 3, leaves.end());
  absl::StatusOr<std::vector<Var>> out = FusedSequence(p.kind, leaves[0], states, p.roles, values);
  ASSERT_TRUE(out.ok()) << out.status();
  absl::StatusOr<Result> first = Differentiate(p, leaves, *out, DType::kF32, {true, false});
  absl::StatusOr<Result> second = Differentiate(p, leaves, *out, DType::kF32);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  for (size_t k = 0; k < first->grads.size(); ++k) {
    EXPECT_EQ(first->grads[k].ToVector(), second->grads[k].ToVector()) << InputName(p, k);
  }
}

TEST(FusedSequenceTest, GradOpSaysItHasNoGradient) {
  absl::StatusOr<const OpDef*> grad = OpRegistry::Global().Find("FusedSequenceGrad");
  ASSERT_TRUE(grad.ok()) << grad.status();
  EXPECT_FALSE((*grad)->gradient);
  EXPECT_FALSE((*grad)->no_gradient.empty());
}

// FusedSequence on constants holding `p`.
absl::StatusOr<std::vector<Var>> RunConstants(const Problem& p) {
  std::vector<Var> states, values;
  for (const Tensor& t : p.states) states.push_back(Var::Constant(t));
  for (const Tensor& t : p.values) values.push_back(Var::Constant(t));
  return FusedSequence(p.kind, Var::Constant(p.x), states, p.roles, values);
}

// Packed weights are reused while the parameters are unchanged, and packed again
// after an in-place change (an optimizer step writes into the same tensors).
TEST(FusedSequenceTest, InPlaceParameterChangeIsSeen) {
  Problem p = MakeProblem("lstm", 4, 2, 3, 5, AllRoles("lstm", true), 8);
  absl::StatusOr<std::vector<Var>> before = RunConstants(p);
  absl::StatusOr<std::vector<Var>> again = RunConstants(p);
  ASSERT_TRUE(before.ok() && again.ok());
  EXPECT_EQ((*before)[0].value().ToVector(), (*again)[0].value().ToVector());
  for (Tensor& t : p.values) t.data<float>()[0] += 0.5f;  // in place: same storage
  absl::StatusOr<std::vector<Var>> after = RunConstants(p);
  Problem copy = p;
  for (Tensor& t : copy.values) t = t.Clone();  // fresh tensors: packed for sure
  absl::StatusOr<std::vector<Var>> fresh = RunConstants(copy);
  ASSERT_TRUE(after.ok() && fresh.ok());
  EXPECT_NE((*after)[0].value().ToVector(), (*before)[0].value().ToVector());
  EXPECT_EQ((*after)[0].value().ToVector(), (*fresh)[0].value().ToVector());

  // Each part is keyed on its own: a change of one bias alone, or one recurrent
  // weight alone, is seen too.
  for (const std::string role : {"b_f", "U_o"}) {
    SCOPED_TRACE(role);
    const size_t k = std::find(p.roles.begin(), p.roles.end(), role) - p.roles.begin();
    ASSERT_LT(k, p.roles.size());
    absl::StatusOr<std::vector<Var>> was = RunConstants(p);
    p.values[k].data<float>()[1] -= 0.25f;
    absl::StatusOr<std::vector<Var>> now = RunConstants(p);
    Problem clone = p;
    for (Tensor& t : clone.values) t = t.Clone();
    absl::StatusOr<std::vector<Var>> want = RunConstants(clone);
    ASSERT_TRUE(was.ok() && now.ok() && want.ok());
    EXPECT_NE((*now)[0].value().ToVector(), (*was)[0].value().ToVector());
    EXPECT_EQ((*now)[0].value().ToVector(), (*want)[0].value().ToVector());
  }
}

TEST(FusedSequenceTest, BadInputsAreInvalidArgumentNamingTheOp) {
  const Problem good = MakeProblem("lstm", 5, 3, 7, 4, AllRoles("lstm", true), 9);
  ASSERT_TRUE(RunConstants(good).ok()) << RunConstants(good).status();

  Problem p = good;  // W_i transposed: [H, I] instead of [I, H]
  for (size_t k = 0; k < p.roles.size(); ++k) {
    if (p.roles[k] == "W_i") p.values[k] = Tensor::Zeros({4, 7}, DType::kF32);
  }
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "W_i", "[7,4]"});

  p = good;  // W_f missing
  for (size_t k = 0; k < p.roles.size(); ++k) {
    if (p.roles[k] == "W_f") {
      p.roles.erase(p.roles.begin() + k);
      p.values.erase(p.values.begin() + k);
      break;
    }
  }
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "W_f", "missing"});

  p = good;  // T = 0
  p.x = Tensor::Zeros({0, 3, 7}, DType::kF32);
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "T, B and I positive"});

  p = good;  // batch of c0 differs from x's
  p.states[1] = Tensor::Zeros({2, 4}, DType::kF32);
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "state c", "B = 3"});

  p = good;  // a role the kind does not have
  p.roles.push_back("bh_n");
  p.values.push_back(Tensor::Zeros({4}, DType::kF32));
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "no role 'bh_n'"});

  p = good;  // f64
  p.x = p.x.Cast(DType::kF64);
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "f32"});
}

// The kinds tested above are exactly those the cell kind table gives a fused kernel.
TEST(FusedSequenceTest, TheTestedKindsAreTheTablesFusedKinds) {
  EXPECT_EQ(FusedCellKindNames(), kKinds);
}

// An old name of a kind runs as that kind: the same primitive, bit for bit.
TEST(FusedSequenceTest, OldKindNamesRunAsTheirKind) {
  for (const auto& [old_name, kind] : std::vector<std::pair<std::string, std::string>>{
           {"peephole_lstm", "peephole"}, {"cifg_lstm", "cifg"}}) {
    SCOPED_TRACE(old_name);
    EXPECT_EQ(CanonicalCellKind(old_name), kind);
    Problem p = MakeProblem(kind, 4, 2, 3, 5, AllRoles(kind, true), 31);
    absl::StatusOr<std::vector<Var>> want = RunConstants(p);
    p.kind = old_name;
    absl::StatusOr<std::vector<Var>> got = RunConstants(p);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), want->size());
    for (size_t k = 0; k < want->size(); ++k) {
      EXPECT_EQ((*got)[k].value().ToVector(), (*want)[k].value().ToVector()) << "output " << k;
    }
  }
  EXPECT_EQ(CanonicalCellKind("lstm"), "lstm");
  EXPECT_EQ(CanonicalCellKind("my_cell"), "my_cell");  // a .cell's own name is kept
}

TEST(FusedSequenceTest, UnknownAndUnfusedKindsAreInvalidArgument) {
  ExpectInvalidArgument(FindCellKind("lsmt"),
                        {"unknown cell kind 'lsmt'",
                         "builtin: rnn_tanh rnn_relu lstm peephole cifg gru gru_lbr mgu"});
  Problem p = MakeProblem("lstm", 4, 2, 3, 5, AllRoles("lstm", true), 32);
  p.kind = "lsmt";
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "unknown cell kind 'lsmt'"});
  p.kind = "mgu";  // a kind of the table, but no oneDNN primitive runs it
  ExpectInvalidArgument(RunConstants(p), {"FusedSequence", "'mgu' has no fused kernel"});
}

TEST(FusedSequenceTest, BadGradInputsAreInvalidArgument) {
  const Problem p = MakeProblem("rnn_tanh", 5, 3, 7, 4, AllRoles("rnn_tanh", true), 10);
  std::vector<VarOr> in;
  for (const Var& v : Leaves(p, DType::kF32, false)) in.push_back(v);
  // No forward outputs, workspace or output gradients.
  ExpectInvalidArgument(
      ApplyOp("FusedSequenceGrad", in, {{"kind", p.kind}, {"roles", absl::StrJoin(p.roles, ",")}}),
      {"FusedSequenceGrad", "workspace"});
}

}  // namespace
}  // namespace gatefuse
