// Tests of Verify (graph/verifier.h): one bad graph per invariant, each reported
// with its code and the node named as the text form prints it.
#include "graph/verifier.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph/text.h"
#include "gtest/gtest.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

TensorSpec F64(Shape shape) { return {std::move(shape), DType::kF64}; }

NodeData Op(std::string op, std::vector<ValueRef> inputs, std::vector<TensorSpec> outputs,
            Attrs attrs = {}) {
  NodeData d;
  d.op = std::move(op);
  d.inputs = std::move(inputs);
  d.outputs = std::move(outputs);
  d.attrs = std::move(attrs);
  return d;
}

// "node %1 (Tanh)", as the verifier names node `id`.
std::string Named(const Graph& g, NodeId id) {
  return absl::StrCat("node ", NodeLabel(g, id), " (", g.node(id).op, ")");
}

// x f64[2,3] -> %0 = Tanh(x) -> output y; the starting point of most cases.
struct Small {
  Graph g{"small"};
  NodeId x, t;
  Small() {
    x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
    t = g.AddNode("Tanh", {{x, 0}}).value();
    g.AddOutput("y", {t, 0});
  }
};

void ExpectInvalid(const Graph& g, const std::string& node, const std::string& what) {
  const absl::Status s = Verify(g);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("graph ", g.name(), ": ", node, ": ", what)));
}

TEST(VerifierTest, AcceptsAWellFormedGraph) {
  Small s;
  const NodeId w = s.g.AddInput("W", InputRole::kParam, F64({3, 4}));
  const NodeId c = s.g.AddConstant(Tensor::Full({4}, DType::kF64, 0.5));
  const NodeId mm =
      s.g.AddNode("MatMul", {{s.t, 0}, {w, 0}},
                  Attrs{{"transpose_a", int64_t{0}}, {"transpose_b", int64_t{0}}})
          .value();
  const NodeId sum = s.g.AddNode("Add", {{mm, 0}, {c, 0}}).value();
  s.g.AddOutput("z", {sum, 0});
  EXPECT_TRUE(Verify(s.g).ok()) << Verify(s.g);
  // Dead nodes are not checked: a removed node with a dangling input is fine.
  const NodeId junk = s.g.AddNodeUnchecked(Op("Tanh", {{99, 0}}, {F64({2, 3})}));
  EXPECT_FALSE(Verify(s.g).ok());
  s.g.RemoveNode(junk);
  EXPECT_TRUE(Verify(s.g).ok()) << Verify(s.g);
}

TEST(VerifierTest, DanglingInput) {
  Small s;
  const NodeId bad = s.g.AddNodeUnchecked(Op("Exp", {{42, 0}}, {F64({2, 3})}));
  EXPECT_EQ(Named(s.g, bad), "node %1 (Exp)");
  ExpectInvalid(s.g, "node %1 (Exp)", "input 0 refers to no value (dangling edge)");

  // An output index the producer does not have.
  Small s2;
  s2.g.AddNodeUnchecked(Op("Mul", {{s2.t, 0}, {s2.t, 1}}, {F64({2, 3})}));
  ExpectInvalid(s2.g, "node %1 (Mul)", "input 1 refers to no value");

  // A removed producer.
  Small s3;
  const NodeId e = s3.g.AddNode("Exp", {{s3.x, 0}}).value();
  const NodeId u = s3.g.AddNode("Log", {{e, 0}}).value();
  s3.g.RemoveNode(e);
  ExpectInvalid(s3.g, Named(s3.g, u), "input 0 refers to no value");
}

TEST(VerifierTest, InputWithOperands) {
  Small s;
  NodeData d = Op(kInputOp, {{s.x, 0}}, {F64({2, 3})});
  d.name = "y";
  s.g.AddNodeUnchecked(std::move(d));
  ExpectInvalid(s.g, "node y (Input)", "an input takes no operands");
}

TEST(VerifierTest, InputNames) {
  Small s;
  s.g.AddInput("x", InputRole::kState, F64({2, 3}));
  ExpectInvalid(s.g, "node x (Input)", "input name 'x' is used twice");

  Small s2;
  NodeData d = Op(kInputOp, {}, {F64({2})});
  s2.g.AddNodeUnchecked(std::move(d));
  const absl::Status status = Verify(s2.g);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("an input needs a name"));

  Small s3;
  const NodeId two = s3.g.AddInput("two", InputRole::kParam, F64({2}));
  s3.g.mutable_node(two).outputs.push_back(F64({2}));
  ExpectInvalid(s3.g, "node two (Input)", "an input has one value");
}

TEST(VerifierTest, ConstantMustMatchItsValue) {
  const std::string what = "a constant has no operands and one value matching its type";
  {
    Small s;
    const NodeId c = s.g.AddConstant(Tensor::Full({3}, DType::kF64, 1));
    s.g.mutable_node(c).outputs[0] = F64({4});  // shape
    EXPECT_EQ(Named(s.g, c), "node %1 (Constant)");
    ExpectInvalid(s.g, "node %1 (Constant)", what);
  }
  {
    Small s;
    const NodeId c = s.g.AddConstant(Tensor::Full({3}, DType::kF64, 1));
    s.g.mutable_node(c).outputs[0].dtype = DType::kF32;  // dtype
    ExpectInvalid(s.g, Named(s.g, c), what);
  }
  {
    Small s;
    const NodeId c = s.g.AddConstant(Tensor::Full({3}, DType::kF64, 1));
    s.g.mutable_node(c).value = Tensor();  // no value
    ExpectInvalid(s.g, Named(s.g, c), what);
  }
  {
    Small s;
    const NodeId c = s.g.AddConstant(Tensor::Full({2, 3}, DType::kF64, 1));
    s.g.SetInputs(c, {{s.x, 0}});  // operands
    ExpectInvalid(s.g, Named(s.g, c), what);
  }
}

TEST(VerifierTest, UnregisteredOp) {
  Small s;
  const NodeId f = s.g.AddNodeUnchecked(Op("Frobnicate", {{s.t, 0}}, {F64({2, 3})}));
  EXPECT_EQ(Named(s.g, f), "node %1 (Frobnicate)");
  ExpectInvalid(s.g, "node %1 (Frobnicate)", "unknown op 'Frobnicate'");
}

TEST(VerifierTest, DeclaredOutputsMustBeWhatTheOpGives) {
  {
    Small s;
    s.g.mutable_node(s.t).outputs[0] = F64({2, 4});
    EXPECT_EQ(Named(s.g, s.t), "node %0 (Tanh)");
    ExpectInvalid(s.g, "node %0 (Tanh)", "declared f64[2,4] but the op gives f64[2,3]");
  }
  {
    Small s;
    s.g.mutable_node(s.t).outputs[0].dtype = DType::kF32;
    ExpectInvalid(s.g, "node %0 (Tanh)", "declared f32[2,3] but the op gives f64[2,3]");
  }
  {
    Small s;
    s.g.mutable_node(s.t).outputs.push_back(F64({2, 3}));
    ExpectInvalid(s.g, "node %0 (Tanh)",
                  "declared f64[2,3], f64[2,3] but the op gives f64[2,3]");
  }
  {
    // Inputs the op's shape function rejects.
    Small s;
    const NodeId w = s.g.AddInput("W", InputRole::kParam, F64({4, 5}));
    const NodeId mm = s.g.AddNodeUnchecked(
        Op("MatMul", {{s.t, 0}, {w, 0}}, {F64({2, 5})},
           Attrs{{"transpose_a", int64_t{0}}, {"transpose_b", int64_t{0}}}));
    const absl::Status st = Verify(s.g);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(st.message(), HasSubstr(absl::StrCat(Named(s.g, mm), ": MatMul")));
    EXPECT_THAT(st.message(), HasSubstr("f64[2,3]"));
    EXPECT_THAT(st.message(), HasSubstr("f64[4,5]"));
  }
  {
    Small s;
    s.g.AddNodeUnchecked(Op("Tanh", {{s.x, 0}, {s.x, 0}}, {F64({2, 3})}));
    ExpectInvalid(s.g, "node %1 (Tanh)", "Tanh: expects 1 inputs, got 2");
  }
}

TEST(VerifierTest, BadAttributes) {
  {
    Small s;
    s.g.AddNodeUnchecked(Op("AddScalar", {{s.t, 0}}, {F64({2, 3})}));
    ExpectInvalid(s.g, "node %1 (AddScalar)", "AddScalar: missing attribute 'value'");
  }
  {
    Small s;
    s.g.AddNodeUnchecked(
        Op("AddScalar", {{s.t, 0}}, {F64({2, 3})}, Attrs{{"value", int64_t{1}}}));
    ExpectInvalid(s.g, "node %1 (AddScalar)",
                  "AddScalar: attribute 'value' must be of type float");
  }
  {
    Small s;
    s.g.AddNodeUnchecked(Op("Transpose", {{s.t, 0}}, {F64({3, 2})},
                            Attrs{{"perm", std::vector<int64_t>{0, 0}}}));
    const absl::Status st = Verify(s.g);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(st.message(), HasSubstr("node %1 (Transpose): Transpose"));
  }
  {
    // A changed attribute changes what the op gives.
    Small s;
    const NodeId tr = s.g.AddNode("Transpose", {{s.t, 0}},
                                  Attrs{{"perm", std::vector<int64_t>{1, 0}}}).value();
    ASSERT_TRUE(Verify(s.g).ok());
    s.g.mutable_node(tr).attrs.Set("perm", std::vector<int64_t>{0, 1});
    ExpectInvalid(s.g, "node %1 (Transpose)", "declared f64[3,2] but the op gives f64[2,3]");
  }
}

TEST(VerifierTest, OutputsMustReferToLiveValues) {
  {
    Small s;
    s.g.RemoveNode(s.t);
    const absl::Status st = Verify(s.g);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(st.message(), HasSubstr("graph small: output y refers to no value"));
  }
  {
    Small s;
    s.g.AddOutput("z", {s.t, 1});
    EXPECT_THAT(Verify(s.g).message(), HasSubstr("output z refers to no value"));
  }
  {
    Small s;
    s.g.AddOutput("w", {-1, 0});
    EXPECT_THAT(Verify(s.g).message(), HasSubstr("output w refers to no value"));
  }
}

TEST(VerifierTest, OutputNamesAreUnique) {
  Small s;
  s.g.AddOutput("y", {s.x, 0});
  const absl::Status st = Verify(s.g);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_THAT(st.message(), HasSubstr("graph small: output name 'y' is used twice"));
}

TEST(VerifierTest, CycleNamesANodeOnIt) {
  Graph g("loop");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({3}));
  const NodeId a = g.AddNode("Tanh", {{x, 0}}).value();
  const NodeId b = g.AddNode("Sigmoid", {{a, 0}}).value();
  const NodeId c = g.AddNode("Exp", {{b, 0}}).value();
  const NodeId d = g.AddNode("Log", {{c, 0}}).value();
  g.AddOutput("y", {d, 0});
  ASSERT_TRUE(Verify(g).ok());
  g.SetInput(b, 0, {c, 0});  // b <-> c; a upstream, d downstream
  const absl::Status st = Verify(g);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  const std::string msg(st.message());
  // Printed in id order when cyclic: a = %0, b = %1, c = %2, d = %3.
  EXPECT_EQ(Named(g, b), "node %1 (Sigmoid)");
  EXPECT_TRUE(msg == "graph loop: node %1 (Sigmoid): is on a cycle" ||
              msg == "graph loop: node %2 (Exp): is on a cycle")
      << msg;
}

}  // namespace
}  // namespace gatefuse
