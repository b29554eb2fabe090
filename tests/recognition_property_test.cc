// A seeded property test of cell recognition. For every fusible kind, the kind's
// equations (models/cells/KIND.cell) are respelled by random sequences of
// meaning-preserving rewrites (tests/spelling_rewrites.h): commuted, re-associated,
// distributed and factored, sigmoid and tanh written with exp, values inlined or
// named, matmuls merged or concatenated, biases split. Every spelling must
// compile, fuse to its kind, compute what its own unfused equations compute, and
// compute what the original cell computes (values and every gradient, f64): the
// two run on the same inputs and parameters, a spelling's parameters derived from
// the original's (a merged W is the concatenation of the per-gate ones; a split
// bias b1 + b2 has b1 random and b2 = b - b1) so that the tape maps their
// gradients back. Meaning-changing perturbations of the same equations (an extra
// term, a changed coefficient, a squared gate, a swapped role, a dropped gate)
// must compile, stay custom, and differ from the original.
//
// RECOGNITION_PROPERTY_SUMMARY=1 prints, per kind and rewrite class, how many
// spellings fuse, and how many of those with that class alone do, with examples.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/compare.h"
#include "core/status.h"
#include "graph/executor.h"
#include "graph/sequence_compare.h"
#include "gtest/gtest.h"
#include "models/cells/cell_language.h"
#include "ops/ops.h"
#include "tests/recognition_testing.h"
#include "tests/spelling_rewrites.h"

namespace gatefuse {
namespace {

using spelling::ApplyRandomRewrites;
using spelling::Param;
using spelling::ParamSource;
using spelling::Program;
using spelling::Rewrite;
using testing_recognition::Change;
using testing_recognition::Compile;
using testing_recognition::Compiled;

constexpr int64_t kT = 3, kB = 2;
const std::map<std::string, int64_t> kSizes = {{"I", 3}, {"H", 4}};
constexpr int kSpellings = 200;     // distinct texts per kind
constexpr int kPerturbations = 56;  // per kind
constexpr int kMaxRewrites = 10;    // per spelling
constexpr double kSame = 1e-10, kDifferent = 1e-6;

std::string CellText(const std::string& kind) {
  absl::StatusOr<CellSource> src = ReadCellFile("models/cells/" + kind + ".cell");
  EXPECT_TRUE(src.ok()) << src.status();
  return src.ok() ? src->text : "";
}

// ---- the original equations as a spelling::Program ----

spelling::Expr FromSource(const Expr& e) {
  using spelling::Node;
  static const std::map<char, Node::Kind> kBinary = {{'+', Node::Kind::kAdd},
                                                     {'-', Node::Kind::kSub},
                                                     {'*', Node::Kind::kMul},
                                                     {'/', Node::Kind::kDiv},
                                                     {'@', Node::Kind::kMatMul}};
  std::vector<spelling::Expr> args;
  for (const Expr& a : e.args) args.push_back(FromSource(a));
  switch (e.kind) {
    case Expr::Kind::kNumber: return spelling::Num(e.number);
    case Expr::Kind::kName: return spelling::Name(e.name);
    case Expr::Kind::kNeg: return spelling::Neg(args[0]);
    case Expr::Kind::kCall: return spelling::Call(e.name, std::move(args));
    case Expr::Kind::kBinary: break;
  }
  return spelling::Bin(kBinary.at(e.op), args[0], args[1]);
}

// A cell's text as a Program whose every parameter is its own original; the 1-D
// parameters named b... are biases.
absl::StatusOr<Program> ProgramFromText(const std::string& text) {
  absl::StatusOr<CellSource> src = ParseCellSource(text, "original.cell");
  if (!src.ok()) return src.status();
  Program p;
  p.input = src->input.name;
  for (const Declaration& s : src->states) p.states.push_back(s.name);
  for (const Declaration& d : src->params) {
    Param q{d.name, {}, {ParamSource::Kind::kOriginal, d.name}, false};
    for (const SizeExpr& s : d.shape) {
      std::string dim;
      for (const SizeFactor& f : s.factors) {
        absl::StrAppend(&dim,
                        dim.empty()     ? ""
                        : f.starts_term ? "+"
                                        : "*",
                        f.symbol.empty() ? absl::StrCat(f.value) : f.symbol);
      }
      q.dims.push_back(dim);
    }
    q.bias = q.dims.size() == 1 && d.name[0] == 'b';
    p.params.push_back(std::move(q));
  }
  for (const Statement& s : src->statements) {
    p.statements.push_back({s.targets, s.is_next, FromSource(s.value)});
  }
  return p;
}

// ---- running a spelling on the original cell's values ----

using Named = std::vector<std::pair<std::string, Tensor>>;

struct Results {
  Named tensors;      // y, the final states, d_x, d_<state>..., d_<original param>...
  Named random_part;  // d of every random bias part: zero when the spelling is right
};

// The original cell, its random inputs, parameters and loss weights, and its results.
struct Reference {
  Graph original;
  Tensor x;
  std::vector<std::string> states;  // the original's order
  std::map<std::string, Tensor> initial, weights;
  std::vector<std::pair<std::string, Tensor>> params;
  Results results;
};

Tensor Random(const Shape& s, uint64_t& seed) {
  return Tensor::Uniform(s, DType::kF64, ++seed, -1.0, 1.0);
}

VarOr Derive(const ParamSource& s, const std::map<std::string, Var>& original,
             const std::map<std::string, Var>& random_parts) {
  switch (s.kind) {
    case ParamSource::Kind::kOriginal: return original.at(s.name);
    case ParamSource::Kind::kRandomPart: break;
    case ParamSource::Kind::kRest:
      return Derive(s.parts[0], original, random_parts) - random_parts.at(s.partner);
    case ParamSource::Kind::kConcat: {
      std::vector<VarOr> parts;
      for (const ParamSource& p : s.parts) parts.push_back(Derive(p, original, random_parts));
      return Concat(parts, s.axis);
    }
  }
  return absl::InternalError("a random part is a leaf of its own");
}

// Runs `cell` (whose parameters `program` derives from the original's) over the
// reference sequence: the loss sum(w_k * out_k), and its gradients with respect to
// x, the initial states, the original parameters and the random bias parts.
absl::StatusOr<Results> RunOnReference(const Graph& cell, const Program& program,
                                       const Reference& ref) {
  std::vector<std::pair<std::string, Var>> wrt = {{"x", Var::Leaf(ref.x, true)}};
  std::map<std::string, Var> initial, original, random_parts, params;
  for (const std::string& s : ref.states) {
    initial[s] = Var::Leaf(ref.initial.at(s), true);
    wrt.push_back({s, initial[s]});
  }
  for (const auto& [name, t] : ref.params) {
    original[name] = Var::Leaf(t, true);
    wrt.push_back({name, original[name]});
  }
  uint64_t seed = 5000;
  for (const Param& q : program.params) {
    if (q.source.kind != ParamSource::Kind::kRandomPart) continue;
    const Shape& shape = cell.node(cell.FindInput(q.name)).outputs[0].shape;
    random_parts[q.name] = Var::Leaf(Random(shape, seed), true);
    params[q.name] = random_parts[q.name];
  }
  for (const Param& q : program.params) {
    if (q.source.kind == ParamSource::Kind::kRandomPart) continue;
    GF_ASSIGN_OR_RETURN(params[q.name], Derive(q.source, original, random_parts));
  }
  GF_ASSIGN_OR_RETURN(GraphSequenceResult run,
                      RunGraphSequence(cell, wrt[0].second, initial, params));
  Named outputs = {{"y", run.y.value()}};
  VarOr loss = Sum(run.y * Var::Constant(ref.weights.at("y")));
  for (const std::string& s : ref.states) {
    const Var& last = run.final_states.at(s);
    outputs.push_back({s + "_T", last.value()});
    loss = loss + Sum(last * Var::Constant(ref.weights.at(s)));
  }
  GF_ASSIGN_OR_RETURN(Var l, loss);
  for (const auto& [name, v] : random_parts) wrt.push_back({name, v});
  std::vector<Var> leaves;
  for (const auto& [name, v] : wrt) leaves.push_back(v);
  GF_ASSIGN_OR_RETURN(std::vector<Var> grads,
                      Gradients({l}, {Tensor::Full({}, DType::kF64, 1.0)}, leaves));
  Results r;
  r.tensors = outputs;
  for (size_t k = 0; k < wrt.size(); ++k) {
    Named& to = random_parts.count(wrt[k].first) ? r.random_part : r.tensors;
    to.push_back({"d_" + wrt[k].first, grads[k].defined()
                                           ? grads[k].value()
                                           : Tensor::Zeros(wrt[k].second.shape(), DType::kF64)});
  }
  return r;
}

absl::StatusOr<Reference> MakeReference(const std::string& kind, uint64_t seed) {
  Reference ref;
  absl::StatusOr<CellSource> src = ParseCellSource(CellText(kind), kind + ".cell");
  if (!src.ok()) return src.status();
  GF_ASSIGN_OR_RETURN(ref.original, CompileCell(*src, kSizes, DType::kF64));
  GF_ASSIGN_OR_RETURN(CellSignature sig, GetCellSignature(ref.original));
  GF_ASSIGN_OR_RETURN(Program program, ProgramFromText(src->text));
  const int64_t H = ref.original.node(ref.original.FindInput(sig.states[0])).outputs[0].shape[1];
  ref.x = Random({kT, kB, kSizes.at("I")}, seed);
  ref.states = sig.states;
  ref.weights["y"] = Random({kT, kB, H}, seed);
  for (const std::string& s : sig.states) {
    ref.initial[s] = Random({kB, H}, seed);
    ref.weights[s] = Random({kB, H}, seed);
  }
  for (const std::string& p : sig.params) {
    ref.params.push_back(
        {p, Random(ref.original.node(ref.original.FindInput(p)).outputs[0].shape, seed)});
  }
  GF_ASSIGN_OR_RETURN(ref.results, RunOnReference(ref.original, program, ref));
  return ref;
}

// The largest relative difference of a spelling's results from the original's
// (a random bias part's gradient against zero), and where it is.
double Difference(const Results& ours, const Results& ref, std::string* worst) {
  double max = 0;
  for (size_t k = 0; k < ours.tensors.size() + ours.random_part.size(); ++k) {
    const bool part = k >= ours.tensors.size();
    const auto& [name, t] = part ? ours.random_part[k - ours.tensors.size()] : ours.tensors[k];
    const Tensor& want = part ? Tensor::Zeros(t.shape(), DType::kF64) : ref.tensors[k].second;
    const TensorComparison c = CompareTensors(t, want);
    if (k == 0 || c.error > max) {
      max = c.error;
      *worst = absl::StrCat(name, " ", c.Describe(t.shape()));
    }
  }
  return max;
}

// ---- the kinds, their rewrite classes and their perturbations ----

const std::vector<std::string>& Kinds() {
  static const std::vector<std::string> kinds = {"lstm",    "peephole", "cifg",    "gru",
                                                 "gru_lbr", "rnn_tanh", "rnn_relu"};
  return kinds;
}

// The classes that have sites in a kind's equations (merged matmuls and biases
// need two gates, the linear-before-reset product exists only in gru_lbr, rnn_relu
// has neither sigmoid nor tanh).
std::vector<Rewrite> ClassesFor(const std::string& kind) {
  std::set<Rewrite> skip;
  if (kind != "gru_lbr") skip.insert(Rewrite::kLinearBeforeReset);
  if (kind.rfind("rnn", 0) == 0) skip.insert({Rewrite::kMergeMatMul, Rewrite::kMergeBias});
  if (kind == "rnn_relu") {
    skip.insert(
        {Rewrite::kSigmoidNeg, Rewrite::kSigmoidExp, Rewrite::kTanhSigmoid, Rewrite::kTanhExp});
  }
  std::vector<Rewrite> out;
  for (int r = 0; r < static_cast<int>(Rewrite::kCount); ++r) {
    if (!skip.count(static_cast<Rewrite>(r))) out.push_back(static_cast<Rewrite>(r));
  }
  return out;
}

// Classes a kind's own equations have no site for, so that they occur only after
// other rewrites made one (factor needs a common factor, which lstm and peephole
// get only from a distributed product; order needs two independent statements, which
// an rnn gets only from named subexpressions): not required in many spellings.
std::set<Rewrite> RareFor(const std::string& kind) {
  if (kind == "lstm" || kind == "peephole") return {Rewrite::kFactor};
  if (kind.rfind("rnn", 0) == 0) return {Rewrite::kFactor, Rewrite::kOrder};
  return {};
}

struct Perturbation {
  std::string what;
  std::vector<std::pair<std::string, std::string>> edits;  // from, to in KIND.cell
};

// Each must change what the cell computes in a way no role binding can absorb:
// 2 * sigmoid(3 * a) - 1 of a pre-activation a is tanh(1.5 * a), a tanh gate with
// its weights scaled, and (1 - z) * h + z * n is a GRU whose update gate is
// sigmoid(-a); both fuse rightly, so neither is here.
std::vector<Perturbation> PerturbationsFor(const std::string& kind) {
  const std::string tanh_c = "next h = o * tanh(c2)";
  if (kind == "lstm" || kind == "peephole" || kind == "cifg") {
    const std::string update = kind == "cifg" ? "(1 - i) * c + i * g" : "f * c + i * g";
    std::vector<Perturbation> p = {
        {"extra term", {{update, update + " + 0.5 * c"}}},
        {"changed coefficient", {{tanh_c, "next h = o * (2 * sigmoid(3 * c2) - 1)"}}},
        {"changed coefficient", {{"+ i * g", "+ 0.5 * i * g"}}},
        {"squared gate", {{"+ i * g", "+ i * i * g"}}},
        {"squared gate", {{tanh_c, "next h = o * o * tanh(c2)"}}},
        {"swapped role", {{"state h[H] c[H]", "state c[H] h[H]"}}},
        {"swapped role", {{tanh_c, "next h = o * tanh(c)"}}},
        {"dropped gate", {{tanh_c, "next h = tanh(c2)"}}},
    };
    if (kind == "cifg") {
      p.push_back({"changed coefficient", {{"(1 - i)", "(1 - 0.5 * i)"}}});
      p.push_back({"half-coupled gate", {{update, "c - 0.5 * i * c + i * g"}}});
      p.push_back({"dropped gate", {{"+ i * g", "+ g"}}});
    } else {
      p.push_back({"squared gate", {{"c2 = f * c", "c2 = f * f * c"}}});
      p.push_back({"dropped gate", {{"c2 = f * c", "c2 = c"}}});
    }
    if (kind == "peephole") p.push_back({"swapped role", {{"po * c2", "po * c"}}});
    return p;
  }
  if (kind == "gru" || kind == "gru_lbr") {
    const std::string update = "next h = (1 - z) * n + z * h";
    const std::string reset = kind == "gru" ? "(r * h) @ Un" : "r * (h @ Un + bhn)";
    return {
        {"extra term", {{update, update + " + 0.5 * h"}}},
        {"changed coefficient", {{"(1 - z)", "(1 - 0.5 * z)"}}},
        {"changed coefficient", {{"+ z * h", "+ 0.5 * z * h"}}},
        {"squared gate", {{update, "next h = n + z * h - z * z * n"}}},
        {"squared gate", {{reset, kind == "gru" ? "(r * r * h) @ Un" : "r * r * (h @ Un + bhn)"}}},
        {"swapped role", {{"+ z * h", "+ z * n"}}},
        {"swapped role", {{"+ z * h", "+ r * h"}}},
        {"dropped gate", {{reset, kind == "gru" ? "h @ Un" : "(h @ Un + bhn)"}}},
        {"dropped gate", {{update, "next h = n + z * h"}}},
    };
  }
  // Every spelling keeps h in each sigmoid: `1 / (1 + exp(-(x @ W)))`, a number
  // divided by a value of the input only, crashes the executor (see the report).
  const std::string act = kind == "rnn_tanh" ? "tanh" : "relu";
  const std::string pre = "x @ W + h @ U + b", cell = act + "(" + pre + ")";
  std::vector<Perturbation> p = {
      {"extra term", {{pre, pre + " + 0.5 * h"}}},
      {"extra term", {{cell, cell + " + 0.5 * h"}}},
      {"changed coefficient",
       {{cell, kind == "rnn_tanh" ? "2 * sigmoid(2 * (" + pre + ")) - 0.5"
                                  : cell + " - 0.5 * relu(-(" + pre + "))"}}},
      {"changed coefficient", {{cell, "0.5 * " + cell}}},
      {"squared", {{cell, cell + " * " + cell}}},
      {"swapped role", {{cell, act + "(h @ U + b) + x @ W"}}},
      {"dropped term", {{pre, "h @ U + b"}}},
  };
  if (kind == "rnn_relu") p.push_back({"dropped term", {{pre, "x @ W + b"}}});
  return p;
}

// ---- the checks ----

struct Tally {
  int spellings = 0, fused = 0;
  std::vector<std::string> failing;  // texts that did not fuse
};

class RecognitionPropertyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    kind_index_ = static_cast<uint64_t>(std::find(Kinds().begin(), Kinds().end(), GetParam()) -
                                        Kinds().begin());
    absl::StatusOr<Reference> ref = MakeReference(GetParam(), 100 * kind_index_);
    ASSERT_TRUE(ref.ok()) << ref.status();
    ref_ = *std::move(ref);
    absl::StatusOr<Program> base = ProgramFromText(CellText(GetParam()));
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = *std::move(base);
  }

  // Compiles a spelling and compares it with its own unfused graph and with the
  // original (which it must equal unless `custom`); returns the fused kind ("" if
  // it did not compile) and the difference from the original.
  std::string Check(const Program& p, bool custom, double* difference) {
    const std::string text = p.Print();
    Compiled c = Compile(text);
    if (c.fusion.empty()) return "";  // did not compile: a failure is recorded
    absl::StatusOr<SequenceComparison> self =
        CompareCellGraphs(c.compiled, c.source, {.T = kT, .B = kB, .dtype = DType::kF64});
    EXPECT_TRUE(self.ok()) << self.status();
    if (self.ok()) {
      EXPECT_LE(self->max_rel_err, kSame) << "fused vs unfused: " << self->worst;
    }
    absl::StatusOr<Results> r = RunOnReference(c.source, p, ref_);
    EXPECT_TRUE(r.ok()) << r.status();
    std::string worst;
    *difference = r.ok() ? Difference(*r, ref_.results, &worst) : 0;
    if (!custom) {
      EXPECT_LE(*difference, kSame) << "vs the original: " << worst;
    }
    return c.fusion;
  }

  uint64_t kind_index_ = 0;
  Reference ref_;
  Program base_;
};

TEST_P(RecognitionPropertyTest, TheUnchangedEquationsFuseAndEqualTheOriginal) {
  SCOPED_TRACE(base_.Print());
  double difference = 0;
  EXPECT_EQ(Check(base_, false, &difference), GetParam());
  EXPECT_LE(difference, 1e-14);
}

TEST_P(RecognitionPropertyTest, SpellingsFuseAndEqualTheOriginal) {
  std::mt19937 rng(1000 + kind_index_);
  const std::vector<Rewrite> classes = ClassesFor(GetParam());
  std::set<std::string> texts;
  std::map<Rewrite, Tally> by_class;
  Tally all;
  for (int attempt = 0; static_cast<int>(texts.size()) < kSpellings && attempt < 20 * kSpellings;
       ++attempt) {
    Program p = base_;
    const std::vector<Rewrite> applied =
        ApplyRandomRewrites(p, rng, 1 + static_cast<int>(rng() % kMaxRewrites), classes);
    const std::string text = p.Print();
    if (!texts.insert(text).second) continue;
    SCOPED_TRACE(text);
    double difference = 0;
    const std::string fusion = Check(p, false, &difference);
    EXPECT_EQ(fusion, GetParam());
    const bool fused = fusion == GetParam();
    if (!fused && std::getenv("RECOGNITION_PROPERTY_SUMMARY")) {
      std::cout << "summary " << GetParam() << " not fused, after";
      for (Rewrite r : applied) std::cout << " " << spelling::RewriteName(r);
      std::cout << ":\n" << text;
    }
    for (Rewrite r : std::set<Rewrite>(applied.begin(), applied.end())) {
      Tally& t = by_class[r];
      ++t.spellings;
      t.fused += fused;
    }
    ++all.spellings;
    all.fused += fused;
  }
  EXPECT_EQ(static_cast<int>(texts.size()), kSpellings);
  for (Rewrite r : classes) {
    if (RareFor(GetParam()).count(r)) continue;
    EXPECT_GE(by_class[r].spellings, 10) << spelling::RewriteName(r) << " is rarely used";
  }
  if (!std::getenv("RECOGNITION_PROPERTY_SUMMARY")) return;
  std::cout << "summary " << GetParam() << ": " << all.fused << " of " << all.spellings
            << " spellings fuse\n";
  // Each class alone, 1 to 3 times: which ones today's recognizer follows.
  for (Rewrite r : classes) {
    Tally alone;
    std::set<std::string> seen;
    for (int k = 0; k < 40 && alone.spellings < 20; ++k) {
      Program p = base_;
      if (ApplyRandomRewrites(p, rng, 1 + k % 3, {r}).empty()) break;  // no site
      if (!seen.insert(p.Print()).second) continue;
      SCOPED_TRACE(p.Print());
      double difference = 0;
      const bool fused = Check(p, false, &difference) == GetParam();
      ++alone.spellings;
      alone.fused += fused;
      if (!fused) alone.failing.push_back(p.Print());
    }
    std::cout << "summary " << GetParam() << " " << spelling::RewriteName(r)
              << ": in mixed spellings " << by_class[r].fused << "/" << by_class[r].spellings
              << " fuse; alone " << alone.fused << "/" << alone.spellings << "\n";
    std::sort(alone.failing.begin(), alone.failing.end(),
              [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
    for (size_t k = 0; k < alone.failing.size() && k < 2; ++k) {
      std::cout << "  not fused:\n" << alone.failing[k];
    }
  }
}

TEST_P(RecognitionPropertyTest, PerturbationsStayCustomAndDiffer) {
  const std::vector<Perturbation> perturbations = PerturbationsFor(GetParam());
  const std::string original = CellText(GetParam());
  std::mt19937 rng(2000 + kind_index_);
  for (int k = 0; k < kPerturbations; ++k) {
    const Perturbation& change = perturbations[k % perturbations.size()];
    std::string text = original;
    for (const auto& [from, to] : change.edits) text = Change(text, from, to);
    absl::StatusOr<Program> p = ProgramFromText(text);
    ASSERT_TRUE(p.ok()) << p.status() << "\n" << text;
    ApplyRandomRewrites(*p, rng, static_cast<int>(rng() % 6), ClassesFor(GetParam()));
    SCOPED_TRACE(absl::StrCat(change.what, "\n", p->Print()));
    double difference = 0;
    EXPECT_EQ(Check(*p, true, &difference), "custom") << "a perturbation fuses";
    EXPECT_GT(difference, kDifferent) << "a perturbation computes the original";
  }
}

// The comparison with the original can fail: a merged weight bound with two gates'
// parts swapped computes something else.
TEST_P(RecognitionPropertyTest, AWrongParameterBindingDiffers) {
  std::mt19937 rng(3000 + kind_index_);
  for (int k = 0; k < 50; ++k) {
    Program p = base_;
    if (ApplyRandomRewrites(p, rng, 1, {Rewrite::kMergeMatMul, Rewrite::kConcat}).empty()) continue;
    ParamSource& merged = p.params.back().source;
    ASSERT_EQ(merged.kind, ParamSource::Kind::kConcat);
    std::swap(merged.parts[0], merged.parts[1]);
    Compiled c = Compile(p.Print());
    ASSERT_FALSE(c.fusion.empty());
    absl::StatusOr<Results> r = RunOnReference(c.source, p, ref_);
    ASSERT_TRUE(r.ok()) << r.status();
    std::string worst;
    EXPECT_GT(Difference(*r, ref_.results, &worst), kDifferent) << p.Print();
    return;
  }
  FAIL() << "no spelling merged or concatenated a weight";
}

INSTANTIATE_TEST_SUITE_P(Kinds, RecognitionPropertyTest, ::testing::ValuesIn(Kinds()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace gatefuse
