// Every elementwise op the compiled plan fuses is written once, as its lowering
// (ops/pointwise_lowering.h). These tests hold each lowering in the registry to
// the op's own kernel:
//  - f64: the gradient rule read from the lowering (the tape's rule) against
//    central differences of the kernel;
//  - f32: the interpreter running the code the plan's generator emits from the
//    lowering (EmitForward, EmitAdjoint) against the kernel and the tape gradient.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "graph/compiled_codegen.h"
#include "graph/compiled_pointwise.h"
#include "gtest/gtest.h"
#include "ops/ops.h"
#include "ops/registry.h"
#include "ops/testing/gradient_check.h"

namespace gatefuse::compiled {
namespace {

using pointwise::Instr;
using pointwise::Lowering;
using pointwise::Op;

// The values of an op's scalar attributes: the first (s), the second (t). With
// inputs of magnitude [0.2, 2), clip(x, 0.7, 1.6) and hard_sigmoid(x, 0.7, 1.6)
// see values below, inside and above their band.
constexpr double kScalar = 0.7;
constexpr double kScalar2 = 1.6;

std::vector<std::string> LoweredOps() {
  std::vector<std::string> ops;
  for (const std::string& name : OpRegistry::Global().Names()) {
    if (LoweringOf(name) != nullptr) ops.push_back(name);
  }
  return ops;
}

const OpDef& Def(const std::string& op) { return **OpRegistry::Global().Find(op); }

int Arity(const std::string& op) {
  return Def(op).lowering->variadic ? 3 : Def(op).num_inputs();
}

Attrs AttrsOf(const std::string& op) {
  const Lowering& l = *Def(op).lowering;
  Attrs a;
  if (!l.scalar_attr.empty()) a.Set(l.scalar_attr, kScalar);
  if (!l.scalar_attr2.empty()) a.Set(l.scalar_attr2, kScalar2);
  return a;
}

// Values of magnitude in [0.2, 2) with mixed signs: away from the kinks of relu,
// step and abs and from division by ~0. `positive` drops the signs.
Tensor Sample(const Shape& shape, DType dtype, uint64_t seed, bool positive) {
  std::vector<double> v = Tensor::Uniform(shape, DType::kF64, seed, 0.2, 2.0).ToVector();
  for (size_t i = 0; i < v.size(); ++i) {
    if (!positive && (i * 7 + seed) % 3 == 0) v[i] = -v[i];
  }
  return *Tensor::FromValues(shape, v, dtype);
}

// Inputs of `op` of these shapes; all positive where mixed signs leave the op's
// domain (log, sqrt).
std::vector<Tensor> InputsFor(const std::string& op, const std::vector<Shape>& shapes,
                              DType dtype) {
  for (bool positive : {false, true}) {
    std::vector<Tensor> in;
    for (size_t k = 0; k < shapes.size(); ++k) in.push_back(Sample(shapes[k], dtype, 11 + k, positive));
    absl::StatusOr<std::vector<Tensor>> out = RunOp(Def(op), in, AttrsOf(op));
    if (!out.ok()) continue;
    bool finite = true;
    for (double y : (*out)[0].ToVector()) finite = finite && std::isfinite(y);
    if (finite) return in;
  }
  ADD_FAILURE() << op << ": no inputs in its domain";
  return {};
}

TEST(CompiledLoweringTest, EveryElementwiseOpIsLoweredAndWellFormed) {
  const std::vector<std::string> lowered = LoweredOps();
  EXPECT_THAT(lowered, ::testing::IsSupersetOf({"Add", "AddN", "Sub", "Mul", "Div", "Neg",
                                                "AddScalar", "MulScalar", "RSubScalar",
                                                "Sigmoid", "Tanh", "Relu", "Step", "Exp",
                                                "Log", "LeakyRelu", "ThresholdedRelu", "Elu",
                                                "Softsign", "Softplus", "HardSigmoid", "Clip",
                                                "Abs", "Sqrt"}));
  for (const std::string& op : lowered) {
    const OpDef& d = Def(op);
    EXPECT_TRUE(pointwise::Validate(op, d.num_inputs(), *d.lowering).ok())
        << pointwise::Validate(op, d.num_inputs(), *d.lowering);
    EXPECT_TRUE(d.gradient) << op << ": a lowered op's gradient rule is read from its lowering";
  }
  EXPECT_EQ(LoweringOf("MatMul"), nullptr);
  EXPECT_EQ(LoweringOf("NoSuchOp"), nullptr);
}

TEST(CompiledLoweringTest, MalformedLoweringsAreRejectedByName) {
  // tanh's adjoint needs g and y; given only g it reads a register that is not there.
  const Lowering short_args{Op::kTanh, {{{Op::kAccTanh, {pointwise::kGrad}}}}};
  absl::Status s = pointwise::Validate("MyTanh", 1, short_args);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("MyTanh"));
  EXPECT_THAT(s.message(), ::testing::HasSubstr("acc_tanh"));
  // A forward instruction is no adjoint; an input index beyond the op's arity.
  EXPECT_FALSE(pointwise::Validate("X", 1, {Op::kTanh, {{{Op::kMul, {pointwise::kGrad,
                                                                      pointwise::kOutput}}}}})
                   .ok());
  EXPECT_FALSE(pointwise::Validate("X", 1, {Op::kExp, {{{Op::kAccMul, {pointwise::kGrad,
                                                                        pointwise::Input(1)}}}}})
                   .ok());
  // A scalar op without the attribute its immediate comes from.
  EXPECT_FALSE(pointwise::Validate("X", 1, {Op::kMulScalar, {{{Op::kAccScale, {pointwise::kGrad}}}}})
                   .ok());
  // A two-scalar op given one attribute: its forward, then its adjoint, lacks t.
  s = pointwise::Validate("MyClip", 1,
                          {Op::kClip, {{{Op::kAccClip, {pointwise::kGrad, pointwise::Input(0)}}}},
                           "lo"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("MyClip: clip needs two scalars"));
  s = pointwise::Validate("MyClip", 1,
                          {Op::kAbs, {{{Op::kAccClip, {pointwise::kGrad, pointwise::Input(0)}}}},
                           "lo"});
  EXPECT_THAT(s.message(), ::testing::HasSubstr("acc_clip needs two scalars"));
  EXPECT_TRUE(pointwise::Validate("MyClip", 1,
                                  {Op::kClip,
                                   {{{Op::kAccClip, {pointwise::kGrad, pointwise::Input(0)}}}},
                                   "lo", "hi"})
                  .ok());
}

// The emitted instructions carry the immediates they use and no others, so an
// attribute an instruction ignores does not show in the program.
TEST(CompiledLoweringTest, EmittedInstructionsCarryTheirImmediates) {
  const Lowering& clip = *Def("Clip").lowering;
  pointwise::Program p;
  p.num_registers = 1;  // r0 = x
  const int y = EmitForward(clip, {0}, {0.25f, 0.75f}, p);
  EmitAdjoint(clip, 2, y, {0}, {3}, {0.25f, 0.75f}, p);
  ASSERT_EQ(p.code.size(), 2u);
  EXPECT_EQ(p.code[0].op, Op::kClip);
  EXPECT_EQ(p.code[0].imm, 0.25f);
  EXPECT_EQ(p.code[0].imm2, 0.75f);
  EXPECT_EQ(p.code[1].op, Op::kAccClip);
  EXPECT_EQ(p.code[1].imm2, 0.75f);
  EXPECT_THAT(p.ToString(), ::testing::HasSubstr("clip d=1 a=0 b=-1 c=-1 imm=0.25 operand=-1 "
                                                 "imm2=0.75"));
  const Lowering& sqrt = *Def("Sqrt").lowering;
  pointwise::Program q;
  q.num_registers = 1;
  EmitForward(sqrt, {0}, {0.25f, 0.75f}, q);
  EXPECT_EQ(q.code[0].imm, 0.0f);
  EXPECT_EQ(q.code[0].imm2, 0.0f);
  const Lowering& leaky = *Def("LeakyRelu").lowering;
  EmitForward(leaky, {0}, {0.25f, 0.75f}, q);
  EXPECT_EQ(q.code[1].imm, 0.25f);
  EXPECT_EQ(q.code[1].imm2, 0.0f);
}

// f64: the tape's rule, read from the lowering, is the derivative of the kernel,
// with every input the same shape and (binary ops) the second broadcast.
TEST(CompiledLoweringTest, LoweredGradientsMatchFiniteDifferencesOfTheKernel) {
  for (const std::string& op : LoweredOps()) {
    const int n = Arity(op);
    std::vector<std::vector<Shape>> cases = {std::vector<Shape>(n, Shape{2, 5})};
    if (n == 2) cases.push_back({Shape{2, 5}, Shape{5}});
    for (const std::vector<Shape>& shapes : cases) {
      const std::vector<Tensor> in = InputsFor(op, shapes, DType::kF64);
      ASSERT_EQ(in.size(), shapes.size()) << op;
      const Attrs attrs = AttrsOf(op);
      const absl::Status s = testing::CheckGradients(
          [&](const std::vector<Var>& v) {
            return Apply(op, std::vector<VarOr>(v.begin(), v.end()), attrs);
          },
          in);
      EXPECT_TRUE(s.ok()) << op << " " << shapes.back().ToString() << ": " << s;
    }
  }
}

// f32: what the plan runs for one node of each op equals the tape's values and
// gradients, over rows wider than one register chunk.
TEST(CompiledLoweringTest, InterpreterRunsEachLoweringLikeTheTape) {
  const int64_t rows = 3, width = pointwise::kChunk + 6;
  for (const std::string& op : LoweredOps()) {
    const int n = Arity(op);
    const Lowering& l = *Def(op).lowering;
    const Immediates imm{l.scalar_attr.empty() ? 0.0f : static_cast<float>(kScalar),
                         l.scalar_attr2.empty() ? 0.0f : static_cast<float>(kScalar2)};
    std::vector<Tensor> in = InputsFor(op, std::vector<Shape>(n, Shape{rows, width}), DType::kF32);
    ASSERT_EQ(static_cast<int>(in.size()), n) << op;
    // The tape: y = op(x), and dx for dL/dy = g.
    std::vector<Var> leaves;
    for (const Tensor& t : in) leaves.push_back(Var::Leaf(t, true));
    VarOr y = Apply(op, std::vector<VarOr>(leaves.begin(), leaves.end()), AttrsOf(op));
    ASSERT_TRUE(y.ok()) << op << ": " << y.status();
    Tensor g = Sample({rows, width}, DType::kF32, 5, false);
    absl::StatusOr<std::vector<Var>> dx = Gradients({*y}, {g}, leaves);
    ASSERT_TRUE(dx.ok()) << op << ": " << dx.status();

    // Operands: the inputs, then y (forward) or g (backward), then the dx.
    std::vector<Tensor> buffers = in;
    buffers.push_back(Tensor::Zeros({rows, width}, DType::kF32));
    for (int k = 0; k < n; ++k) buffers.push_back(Tensor::Zeros({rows, width}, DType::kF32));
    std::vector<pointwise::Operand> operands;
    for (Tensor& t : buffers) operands.push_back({t.data<float>(), width, 1});
    auto load_inputs = [&](pointwise::Program& p) {
      std::vector<int> x;
      for (int k = 0; k < n; ++k) {
        x.push_back(p.num_registers++);
        p.code.push_back({Op::kLoad, x.back(), -1, -1, -1, 0, k});
      }
      return x;
    };

    pointwise::Program forward;
    forward.width = width;
    const int out = EmitForward(l, load_inputs(forward), imm, forward);
    forward.code.push_back({Op::kStore, -1, out, -1, -1, 0, n});
    pointwise::Run(forward, rows, operands.data());
    for (int64_t i = 0; i < rows * width; ++i) {
      const double want = y->value().At(i);
      ASSERT_NEAR(buffers[n].At(i), want, 1e-5 * (1 + std::abs(want))) << op << " y[" << i << "]";
    }

    std::memcpy(buffers[n].data<float>(), g.data<float>(), rows * width * sizeof(float));
    pointwise::Program backward;
    backward.width = width;
    const std::vector<int> x = load_inputs(backward);
    const int yr = EmitForward(l, x, imm, backward);
    const int gy = backward.num_registers++;
    backward.code.push_back({Op::kLoad, gy, -1, -1, -1, 0, n});
    std::vector<int> adj;
    for (int k = 0; k < n; ++k) {
      adj.push_back(backward.num_registers++);
      backward.code.push_back({Op::kZero, adj.back()});
    }
    EmitAdjoint(l, gy, yr, x, adj, imm, backward);
    for (int k = 0; k < n; ++k) {
      backward.code.push_back({Op::kAccStore, -1, adj[k], -1, -1, 0, n + 1 + k});
    }
    pointwise::Run(backward, rows, operands.data());
    for (int k = 0; k < n; ++k) {
      const Var& want = (*dx)[k];
      for (int64_t i = 0; i < rows * width; ++i) {
        const double w = want.defined() ? want.value().At(i) : 0.0;
        ASSERT_NEAR(buffers[n + 1 + k].At(i), w, 1e-5 * (1 + std::abs(w)))
            << op << " dx" << k << "[" << i << "]";
      }
    }
  }
}

}  // namespace
}  // namespace gatefuse::compiled
