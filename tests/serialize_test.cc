// Tests of graph/serialize.h: exact round trips Graph -> GraphProto -> bytes ->
// GraphProto -> Graph (the text form is the witness), bit-exact tensors, and a
// table of damaged protos that FromProto must refuse with InvalidArgument.
#include "graph/serialize.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph/text.h"
#include "graph/verifier.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/cells/cell_graph.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

TensorSpec F64(Shape shape) { return {std::move(shape), DType::kF64}; }

// g -> proto -> bytes -> proto -> graph; the result prints exactly as g does.
Graph ExpectRoundTrip(const Graph& g) {
  absl::StatusOr<GraphProto> p = ToProto(g);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return Graph("failed");
  GraphProto parsed;
  EXPECT_TRUE(parsed.ParseFromString(p->SerializeAsString()));
  absl::StatusOr<Graph> back = FromProto(parsed);
  EXPECT_TRUE(back.ok()) << back.status();
  if (!back.ok()) return Graph("failed");
  EXPECT_EQ(PrintGraph(*back), PrintGraph(g));
  EXPECT_TRUE(Verify(*back).ok());
  return *std::move(back);
}

std::string Bytes(const Tensor& t) {
  const Tensor c = t.Contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.num_elements() * SizeOf(c.dtype()));
}

TEST(SerializeTest, EveryBuiltinCellRoundTripsExactly) {
  for (const std::string& kind : BuiltinCellKinds()) {
    SCOPED_TRACE(kind);
    absl::StatusOr<Cell> cell = BuiltinCell(kind, 3, 4);
    ASSERT_TRUE(cell.ok()) << cell.status();
    for (DType dtype : {DType::kF32, DType::kF64}) {
      absl::StatusOr<Graph> g = TraceCell(*cell, dtype);
      ASSERT_TRUE(g.ok()) << g.status();
      const Graph back = ExpectRoundTrip(*g);
      EXPECT_EQ(back.name(), kind);
      EXPECT_EQ(back.num_live_nodes(), g->num_live_nodes());
      for (NodeId id : back.Inputs()) {
        const NodeId orig = g->FindInput(back.node(id).name);
        ASSERT_GE(orig, 0);
        EXPECT_EQ(back.node(id).role, g->node(orig).role);
      }
    }
  }
}

TEST(SerializeTest, ConstantsKeepEveryBitAndPlacementsSurvive) {
  const std::vector<double> values = {0.1, 1e-30, -0.0, 3, -2.5e300, 1.0 / 3,
                                      std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::denorm_min()};
  const int64_t n = static_cast<int64_t>(values.size());
  Graph g("consts");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, n}));
  const NodeId h = g.AddInput("h", InputRole::kState, F64({2, n}));
  const NodeId b = g.AddInput("b", InputRole::kParam, F64({n}));
  const NodeId c = g.AddConstant(Tensor::FromValues({n}, values, DType::kF64).value());
  const NodeId f = g.AddConstant(
      Tensor::FromValues({2, 2}, {0.1, -0.0, 3, 1e-30}, DType::kF32).value());
  const NodeId i = g.AddConstant(Tensor::FromValues({3}, {-1, 0, 1e15}, DType::kI64).value());
  const NodeId s = g.AddConstant(Tensor::Scalar(7, DType::kF64));
  const NodeId e = g.AddConstant(Tensor::Zeros({0, 3}, DType::kF32));
  const NodeId xb = g.AddNode("Add", {{x, 0}, {c, 0}}).value();
  g.mutable_node(xb).placement = Placement::kTimeBatched;
  const NodeId bs = g.AddNode("Mul", {{b, 0}, {s, 0}}).value();
  g.mutable_node(bs).placement = Placement::kInvariant;
  const NodeId y = g.AddNode("Add", {{xb, 0}, {bs, 0}}).value();
  const NodeId z = g.AddNode("Add", {{y, 0}, {h, 0}}).value();
  g.AddOutput("h", {z, 0});
  g.AddOutput("f", {f, 0});
  g.AddOutput("i", {i, 0});
  g.AddOutput("e", {e, 0});

  const Graph back = ExpectRoundTrip(g);
  int constants = 0, placed = 0;
  for (NodeId id = 0; id < back.num_node_slots(); ++id) {
    const NodeData& d = back.node(id);
    placed += d.placement != Placement::kStep;
    if (d.op != kConstantOp) continue;
    // Ids are kept (no dead nodes), so the original is the same id.
    const Tensor& want = g.node(id).value;
    EXPECT_EQ(d.value.dtype(), want.dtype()) << id;
    EXPECT_EQ(d.value.shape(), want.shape()) << id;
    EXPECT_EQ(Bytes(d.value), Bytes(want)) << id;  // NaN, -0 and denormals included
    ++constants;
  }
  EXPECT_EQ(constants, 5);
  EXPECT_EQ(placed, 2);
}

TEST(SerializeTest, AttributesKeepTheirTypes) {
  Graph g("attrs");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId l = g.AddInput("labels", InputRole::kInput, {Shape{2}, DType::kI64});
  const NodeId a = g.AddNode("AddScalar", {{x, 0}}, Attrs{{"value", -0.0}}).value();
  const NodeId t = g.AddNode("Transpose", {{a, 0}},
                             Attrs{{"perm", std::vector<int64_t>{1, 0}}}).value();
  const NodeId rs = g.AddNode("Reshape", {{t, 0}},
                              Attrs{{"shape", std::vector<int64_t>{-1, 2}}}).value();
  const NodeId sum = g.AddNode("Sum", {{rs, 0}},
                               Attrs{{"axes", std::vector<int64_t>{}}, {"keepdims", int64_t{0}}})
                         .value();
  const NodeId oh = g.AddNode("OneHot", {{l, 0}},
                              Attrs{{"depth", int64_t{4}}, {"dtype", std::string("f64")}})
                        .value();
  g.AddOutput("sum", {sum, 0});
  g.AddOutput("oh", {oh, 0});
  const Graph back = ExpectRoundTrip(g);
  for (NodeId id = 0; id < g.num_node_slots(); ++id) {
    EXPECT_TRUE(back.node(id).attrs == g.node(id).attrs) << id;
  }
  const AttrValue v = back.node(a).attrs.values().at("value");
  ASSERT_TRUE(std::holds_alternative<double>(v));
  EXPECT_TRUE(std::signbit(std::get<double>(v)));
  EXPECT_TRUE(std::get<std::vector<int64_t>>(back.node(sum).attrs.values().at("axes")).empty());
}

TEST(SerializeTest, DeadNodesAreDroppedAndTheRestRenumbered) {
  absl::StatusOr<Graph> g = TraceCell(*BuiltinCell("gru", 3, 4), DType::kF64);
  ASSERT_TRUE(g.ok()) << g.status();
  // A node nobody uses, then removed: a dead slot in the middle.
  const NodeId extra = g->AddNode("Tanh", {{g->FindInput("x"), 0}}).value();
  const NodeId after = g->AddNode("Sigmoid", {{g->FindInput("h"), 0}}).value();
  g->AddOutput("extra", {after, 0});
  g->RemoveNode(extra);
  absl::StatusOr<GraphProto> p = ToProto(*g);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->nodes_size(), g->num_live_nodes());
  EXPECT_EQ(p->outputs(p->outputs_size() - 1).value().node(), g->num_live_nodes() - 1);
  ExpectRoundTrip(*g);
}

TEST(SerializeTest, ToProtoRefusesADanglingReference) {
  Graph g("dangling");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2}));
  const NodeId t = g.AddNode("Tanh", {{x, 0}}).value();
  g.AddOutput("y", {t, 0});
  g.mutable_node(x).dead = true;  // as a buggy pass would leave it
  absl::StatusOr<GraphProto> p = ToProto(g);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("dead or missing node 0"));
}

TEST(SerializeTest, TensorsRoundTripBitExactInLittleEndian) {
  const Tensor f = Tensor::FromValues({2, 3}, {1, -2, 0.5, 1e-40, -0.0, 3}, DType::kF32).value();
  const Tensor d = Tensor::Uniform({4, 5}, DType::kF64, 7, -1, 1);
  const Tensor i = Tensor::FromValues({2}, {-5, 1e18}, DType::kI64).value();
  const Tensor view = d.Slice(1, 1, 3).value();  // non-contiguous
  for (const Tensor& t : {f, d, i, view, Tensor::Scalar(2, DType::kF64),
                          Tensor::Zeros({3, 0}, DType::kF32)}) {
    absl::StatusOr<TensorProto> p = TensorToProto(t, "w");
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->name(), "w");
    absl::StatusOr<Tensor> back = TensorFromProto(*p);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->shape(), t.shape());
    EXPECT_EQ(back->dtype(), t.dtype());
    EXPECT_EQ(Bytes(*back), Bytes(t));
  }
  // 1.0f is 0x3f800000: the bytes 00 00 80 3f.
  absl::StatusOr<TensorProto> one = TensorToProto(Tensor::Scalar(1, DType::kF32));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->data(), std::string("\x00\x00\x80\x3f", 4));
  EXPECT_EQ(TensorToProto(Tensor()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SerializeTest, BadTensorProtosAreRefused) {
  TensorProto good = TensorToProto(Tensor::Zeros({2, 3}, DType::kF32), "W").value();
  struct Case {
    std::string what;
    std::function<void(TensorProto&)> damage;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"no dtype", [](TensorProto& p) { p.set_dtype(DTYPE_UNSPECIFIED); }, "dtype is not set"},
      {"unknown dtype", [](TensorProto& p) { p.set_dtype(static_cast<DTypeProto>(9)); },
       "unknown dtype 9"},
      {"short data", [](TensorProto& p) { p.mutable_data()->pop_back(); },
       "f32[2,3] needs 24 bytes of data, has 23"},
      {"long data", [](TensorProto& p) { p.mutable_data()->push_back('x'); }, "has 25"},
      {"negative dim", [](TensorProto& p) { p.set_dims(0, -2); }, "is negative"},
      {"huge dim", [](TensorProto& p) { p.set_dims(0, int64_t{1} << 40); },
       "is above the limit"},
      {"too many elements",
       [](TensorProto& p) {
         p.clear_dims();
         for (int k = 0; k < 3; ++k) p.add_dims(int64_t{1} << 20);
       },
       "more than 2^40 elements"},
      {"zero hides a huge product",
       [](TensorProto& p) {
         p.clear_dims();
         p.add_dims(0);
         for (int k = 0; k < 3; ++k) p.add_dims(int64_t{1} << 30);
         p.clear_data();
       },
       "more than 2^40 elements"},
      {"rank", [](TensorProto& p) { for (int k = 0; k < 40; ++k) p.add_dims(1); },
       "rank 42 is above the limit"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TensorProto bad = good;
    c.damage(bad);
    absl::StatusOr<Tensor> t = TensorFromProto(bad);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(t.status().message(), HasSubstr(c.message));
    EXPECT_THAT(t.status().message(), HasSubstr("tensor 'W'"));
  }
}

// A small valid graph proto to damage: x, W -> MatMul -> Tanh; a constant.
GraphProto SmallProto() {
  Graph g("small");
  const NodeId x = g.AddInput("x", InputRole::kInput, F64({2, 3}));
  const NodeId w = g.AddInput("W", InputRole::kParam, F64({3, 4}));
  const NodeId m = g.AddNode("MatMul", {{x, 0}, {w, 0}},
                             Attrs{{"transpose_a", int64_t{0}}, {"transpose_b", int64_t{0}}})
                       .value();
  const NodeId c = g.AddConstant(Tensor::Full({4}, DType::kF64, 0.5));
  const NodeId a = g.AddNode("Add", {{m, 0}, {c, 0}}).value();
  const NodeId t = g.AddNode("Tanh", {{a, 0}}).value();
  g.AddOutput("y", {t, 0});
  return ToProto(g).value();
}

TEST(SerializeTest, BadGraphProtosAreInvalidArgumentNamingTheProblem) {
  // Nodes: 0 x, 1 W, 2 MatMul, 3 Constant, 4 Add, 5 Tanh.
  struct Case {
    std::string what;
    std::function<void(GraphProto&)> damage;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"input node out of range", [](GraphProto& p) { p.mutable_nodes(5)->mutable_inputs(0)->set_node(6); },
       "node 5 (Tanh): input 0 refers to node 6 but the graph has 6 nodes"},
      {"negative node", [](GraphProto& p) { p.mutable_nodes(5)->mutable_inputs(0)->set_node(-1); },
       "refers to node -1"},
      {"output index out of range",
       [](GraphProto& p) { p.mutable_nodes(2)->mutable_inputs(1)->set_index(1); },
       "node 2 (MatMul): input 1 refers to output 1 of node 1, which has 1 outputs"},
      {"negative index", [](GraphProto& p) { p.mutable_nodes(2)->mutable_inputs(1)->set_index(-3); },
       "refers to output -3"},
      {"graph output out of range", [](GraphProto& p) { p.mutable_outputs(0)->mutable_value()->set_node(99); },
       "output y refers to node 99"},
      {"graph output without value", [](GraphProto& p) { p.mutable_outputs(0)->clear_value(); },
       "output y has no value"},
      {"unknown dtype", [](GraphProto& p) { p.mutable_nodes(0)->mutable_outputs(0)->set_dtype(static_cast<DTypeProto>(42)); },
       "node 0 (Input): unknown dtype 42"},
      {"no dtype", [](GraphProto& p) { p.mutable_nodes(4)->mutable_outputs(0)->set_dtype(DTYPE_UNSPECIFIED); },
       "node 4 (Add): dtype is not set"},
      {"negative dim", [](GraphProto& p) { p.mutable_nodes(0)->mutable_outputs(0)->set_dims(0, -1); },
       "node 0 (Input): output 0: dimension -1 in [-1,3] is negative"},
      {"absurd shape", [](GraphProto& p) { p.mutable_nodes(1)->mutable_outputs(0)->set_dims(0, int64_t{1} << 62); },
       "is above the limit"},
      {"constant bytes", [](GraphProto& p) { p.mutable_nodes(3)->mutable_value()->mutable_data()->resize(3); },
       "node 3 (Constant): value: f64[4] needs 32 bytes of data, has 3"},
      {"constant without value", [](GraphProto& p) { p.mutable_nodes(3)->clear_value(); },
       "a constant needs a value"},
      {"constant type differs from its spec", [](GraphProto& p) { p.mutable_nodes(3)->mutable_outputs(0)->set_dims(0, 5); },
       "a constant has no operands and one value matching its type"},
      {"value on another node", [](GraphProto& p) { *p.mutable_nodes(5)->mutable_value() = p.nodes(3).value(); },
       "only a Constant node has a value"},
      {"input without role", [](GraphProto& p) { p.mutable_nodes(0)->set_role(ROLE_UNSPECIFIED); },
       "an input needs a role"},
      {"unknown role", [](GraphProto& p) { p.mutable_nodes(0)->set_role(static_cast<InputRoleProto>(17)); },
       "an input needs a role, got 17"},
      {"role on another node", [](GraphProto& p) { p.mutable_nodes(5)->set_role(ROLE_STATE); },
       "only an Input node has a role"},
      {"unknown placement", [](GraphProto& p) { p.mutable_nodes(5)->set_placement(static_cast<PlacementProto>(7)); },
       "unknown placement 7"},
      {"attr twice", [](GraphProto& p) { *p.mutable_nodes(2)->add_attrs() = p.nodes(2).attrs(0); },
       "attribute 'transpose_a' is given twice"},
      {"attr without value", [](GraphProto& p) { p.mutable_nodes(2)->mutable_attrs(0)->clear_value(); },
       "attribute 'transpose_a' has no value"},
      {"attr without name", [](GraphProto& p) { p.mutable_nodes(2)->mutable_attrs(0)->clear_name(); },
       "an attribute has no name"},
      {"attr of another type", [](GraphProto& p) { p.mutable_nodes(2)->mutable_attrs(0)->set_s("0"); },
       "transpose_a"},
      {"no op", [](GraphProto& p) { p.mutable_nodes(5)->clear_op(); }, "node 5 (): has no op"},
      {"unknown op", [](GraphProto& p) { p.mutable_nodes(5)->set_op("Frobnicate"); }, "Frobnicate"},
      {"wrong declared spec", [](GraphProto& p) { p.mutable_nodes(5)->mutable_outputs(0)->set_dims(1, 5); },
       "declared f64[2,5] but the op gives f64[2,4]"},
      {"missing output spec", [](GraphProto& p) { p.mutable_nodes(0)->clear_outputs(); },
       "input 0 refers to output 0 of node 0, which has 0 outputs"},
      {"wrong arity", [](GraphProto& p) { p.mutable_nodes(5)->add_inputs()->set_node(0); },
       "expects 1 inputs, got 2"},
      {"cycle", [](GraphProto& p) { p.mutable_nodes(4)->mutable_inputs(1)->set_node(5); },
       "is on a cycle"},
      {"input names twice", [](GraphProto& p) { p.mutable_nodes(1)->set_name("x"); },
       "input name 'x' is used twice"},
      {"output names twice", [](GraphProto& p) { *p.add_outputs() = p.outputs(0); },
       "output name 'y' is used twice"},
  };
  const GraphProto good = SmallProto();
  ASSERT_TRUE(FromProto(good).ok());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    GraphProto bad = good;
    c.damage(bad);
    absl::StatusOr<Graph> g = FromProto(bad);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << g.status();
    EXPECT_THAT(g.status().message(), HasSubstr(c.message));
    EXPECT_THAT(g.status().message(), HasSubstr("GraphProto"));
  }
}

TEST(SerializeTest, AbsurdReshapeAttributeIsRefusedNotOverflowed) {
  GraphProto p;
  p.set_name("reshape");
  NodeProto* x = p.add_nodes();
  x->set_op(kInputOp);
  x->set_name("x");
  x->set_role(ROLE_INPUT);
  TensorSpecProto* s = x->add_outputs();
  s->set_dtype(DTYPE_F32);
  s->add_dims(4);
  NodeProto* r = p.add_nodes();
  r->set_op("Reshape");
  r->add_inputs()->set_node(0);
  AttrProto* shape = r->add_attrs();
  shape->set_name("shape");
  for (int k = 0; k < 3; ++k) shape->mutable_ints()->add_values(int64_t{1} << 40);
  TensorSpecProto* out = r->add_outputs();
  out->set_dtype(DTYPE_F32);
  out->add_dims(4);
  absl::StatusOr<Graph> g = FromProto(p);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("Reshape"));
}

TEST(SerializeTest, AnEmptyProtoIsAnEmptyGraph) {
  absl::StatusOr<Graph> g = FromProto(GraphProto());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->num_live_nodes(), 0);
}

}  // namespace
}  // namespace gatefuse
