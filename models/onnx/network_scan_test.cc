// ONNX's Scan in an imported network (models/onnx/network_scan.cc): ONNX's own node
// test, a Scan with every kind of axis and direction, outer-scope reads and a body
// initializer against a loop written here, its gradients against central finite
// differences in f64, and the refusals.
#include <cmath>
#include <string>

#include "core/compare_testing.h"
#include "core/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/onnx/network.h"
#include "models/onnx/onnx_attributes.h"
#include "models/onnx/onnx_import.h"
#include "models/onnx/onnx_test_data.h"
#include "onnx/onnx_pb.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

constexpr char kNodeTests[] = "/usr/share/libonnx-testdata/data/node/";

TEST(NetworkScanTest, OnnxScanNodeTestPasses) {
  const std::string dir = std::string(kNodeTests) + "test_scan9_sum";
  const OnnxTestResult r = RunOnnxTest(dir);
  EXPECT_TRUE(r.ok) << r.Line(dir);
  EXPECT_GE(r.data_sets, 1);
  ASSERT_EQ(r.path_lines.size(), 1u);
  EXPECT_THAT(r.path_lines[0], HasSubstr("path: tape (Scan node '"));
}

TEST(NetworkScanTest, ScanOfOpset8IsRefusedByName) {
  const std::string dir = std::string(kNodeTests) + "test_scan_sum";
  const OnnxTestResult r = RunOnnxTest(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.reason, HasSubstr("Scan of opset 8 (a batch axis and sequence_lens) is not "
                                  "supported"));
}

void SetType(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) {
    if (d >= 0) {
      t->mutable_shape()->add_dim()->set_dim_value(d);
    } else {
      t->mutable_shape()->add_dim()->set_dim_param("n");
    }
  }
}

onnx::TensorProto FloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<float>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float v : values) t.add_float_data(v);
  return t;
}

onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op,
                         const std::vector<std::string>& in, const std::string& out) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  for (const std::string& s : in) n->add_input(s);
  n->add_output(out);
  return n;
}

// s' = tanh(s @ W + x_t + half * y_t), out_t = s' * s', over T = 3 steps: the state
// s [1, 2] from s0; x [3, 1, 2] scanned along axis 0 forward, y [1, 3, 2] along axis 1
// in reverse; W an initializer of the enclosing graph, `half` the body's own; the
// scan output stacked along axis 1 in reverse ([1, 3, 2]).
onnx::ModelProto ScanModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(14);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("scan_test");
  SetType(g->add_input(), "s0", {1, 2});
  SetType(g->add_input(), "x", {-1, 1, 2});
  SetType(g->add_input(), "y", {1, -1, 2});
  *g->add_initializer() = FloatTensor("W", {2, 2}, {0.5f, -0.3f, 0.8f, 0.2f});
  SetType(g->add_output(), "s_final", {1, 2});
  SetType(g->add_output(), "outs", {1, -1, 2});
  onnx::NodeProto* scan = g->add_node();
  scan->set_op_type("Scan");
  scan->set_name("scan");
  for (const char* in : {"s0", "x", "y"}) scan->add_input(in);
  for (const char* out : {"s_final", "outs"}) scan->add_output(out);
  onnx::AttributeProto* body_attr = scan->add_attribute();
  body_attr->set_name("body");
  body_attr->set_type(onnx::AttributeProto::GRAPH);
  onnx::GraphProto* body = body_attr->mutable_g();
  body->set_name("step");
  SetType(body->add_input(), "s_in", {1, 2});
  SetType(body->add_input(), "x_t", {1, 2});
  SetType(body->add_input(), "y_t", {1, 2});
  *body->add_initializer() = FloatTensor("half", {}, {0.5f});
  AddNode(body, "MatMul", {"s_in", "W"}, "sw");
  AddNode(body, "Add", {"sw", "x_t"}, "a");
  AddNode(body, "Mul", {"y_t", "half"}, "hy");
  AddNode(body, "Add", {"a", "hy"}, "pre");
  AddNode(body, "Tanh", {"pre"}, "s_out");
  AddNode(body, "Mul", {"s_out", "s_out"}, "out_t");
  SetType(body->add_output(), "s_out", {1, 2});
  SetType(body->add_output(), "out_t", {1, 2});
  AddAttribute(scan, "num_scan_inputs", int64_t{2});
  AddAttribute(scan, "scan_input_axes", std::vector<int64_t>{0, 1});
  AddAttribute(scan, "scan_input_directions", std::vector<int64_t>{0, 1});
  AddAttribute(scan, "scan_output_axes", std::vector<int64_t>{1});
  AddAttribute(scan, "scan_output_directions", std::vector<int64_t>{1});
  return m;
}

absl::StatusOr<Network> Load(const onnx::ModelProto& m, DType dtype = DType::kF32) {
  absl::StatusOr<ModelFile> file = ImportOnnxModel(m, "scan.onnx");
  if (!file.ok()) return file.status();
  return Network::FromModelFile(*file, {.dtype = dtype});
}

struct Inputs {
  Tensor s0, x, y;
};

Inputs MakeInputs(int64_t T, DType dtype) {
  return {Tensor::Uniform({1, 2}, dtype, 1, -1, 1), Tensor::Uniform({T, 1, 2}, dtype, 2, -1, 1),
          Tensor::Uniform({1, T, 2}, dtype, 3, -1, 1)};
}

TEST(NetworkScanTest, AxesDirectionsAndOuterValuesFollowTheSpec) {
  absl::StatusOr<Network> net = Load(ScanModel());
  ASSERT_TRUE(net.ok()) << net.status();
  ASSERT_EQ(net->PathLines().size(), 1u);
  EXPECT_EQ(net->PathLines()[0], "path: tape (Scan node 'scan': 6 body ops, one by one at each "
                                 "iteration)");
  const int64_t T = 3;
  const Inputs in = MakeInputs(T, DType::kF32);
  absl::StatusOr<std::map<std::string, Tensor>> out =
      net->Run({{"s0", in.s0}, {"x", in.x}, {"y", in.y}});
  ASSERT_TRUE(out.ok()) << out.status();
  // The loop, by hand.
  const double W[2][2] = {{0.5, -0.3}, {0.8, 0.2}};
  double s[2] = {in.s0.At(0), in.s0.At(1)};
  double outs[3][2];
  for (int64_t t = 0; t < T; ++t) {
    const int64_t ty = T - 1 - t;  // y in reverse
    double next[2];
    for (int j = 0; j < 2; ++j) {
      const double sw = s[0] * W[0][j] + s[1] * W[1][j];
      next[j] = std::tanh(sw + in.x.At(t * 2 + j) + 0.5 * in.y.At(ty * 2 + j));
    }
    for (int j = 0; j < 2; ++j) {
      s[j] = next[j];
      outs[T - 1 - t][j] = next[j] * next[j];  // the output in reverse
    }
  }
  const Tensor& s_final = out->at("s_final");
  ASSERT_EQ(s_final.shape(), Shape({1, 2}));
  for (int j = 0; j < 2; ++j) EXPECT_NEAR(s_final.At(j), s[j], 1e-6);
  const Tensor& o = out->at("outs");
  ASSERT_EQ(o.shape(), Shape({1, 3, 2}));
  for (int64_t t = 0; t < T; ++t) {
    for (int j = 0; j < 2; ++j) EXPECT_NEAR(o.At(t * 2 + j), outs[t][j], 1e-6) << t << " " << j;
  }
}

// d/dθ of sum(outs * M) + sum(s_final) with respect to W (the enclosing graph's
// parameter, read inside the body) and the inputs, against central differences.
TEST(NetworkScanTest, GradientsThroughTheBodyMatchFiniteDifferences) {
  absl::StatusOr<Network> net = Load(ScanModel(), DType::kF64);
  ASSERT_TRUE(net.ok()) << net.status();
  const Inputs in = MakeInputs(4, DType::kF64);
  const Tensor m = Tensor::Uniform({1, 4, 2}, DType::kF64, 9, -1, 1);
  auto loss = [&](const Tensor& s0, const Tensor& x, const Tensor& y, Var* s0v, Var* xv,
                  Var* yv) -> VarOr {
    Var a = Var::Leaf(s0, true), b = Var::Leaf(x, true), c = Var::Leaf(y, true);
    if (s0v) *s0v = a;
    if (xv) *xv = b;
    if (yv) *yv = c;
    using Outputs = std::map<std::string, Var>;
    GF_ASSIGN_OR_RETURN(Outputs out, net->Forward({{"s0", a}, {"x", b}, {"y", c}}));
    return Add(Sum(Mul(out.at("outs"), Var::Constant(m))), Sum(out.at("s_final")));
  };
  Var s0v, xv, yv;
  VarOr l = loss(in.s0, in.x, in.y, &s0v, &xv, &yv);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_TRUE(Backward(*l).ok());
  const Var w = net->params().at("W");
  ASSERT_TRUE(w.grad().defined());
  struct Checked {
    std::string name;
    Tensor value, grad;
  };
  const std::vector<Checked> checked = {{"W", w.value().Clone(), w.grad()},
                                        {"s0", in.s0, s0v.grad()},
                                        {"x", in.x, xv.grad()},
                                        {"y", in.y, yv.grad()}};
  const double eps = 1e-6;
  for (const Checked& c : checked) {
    ASSERT_TRUE(c.grad.defined()) << c.name;
    for (int64_t i = 0; i < c.value.num_elements(); ++i) {
      auto at = [&](double delta) {
        Tensor t = c.value.Clone();
        t.data<double>()[i] += delta;
        NoGradGuard no_grad;
        if (c.name == "W") {
          Var(w).SetValue(t);
          const double v = loss(in.s0, in.x, in.y, nullptr, nullptr, nullptr)->value().At(0);
          Var(w).SetValue(c.value);
          return v;
        }
        return loss(c.name == "s0" ? t : in.s0, c.name == "x" ? t : in.x,
                    c.name == "y" ? t : in.y, nullptr, nullptr, nullptr)
            ->value()
            .At(0);
      };
      const double fd = (at(eps) - at(-eps)) / (2 * eps);
      EXPECT_NEAR(c.grad.At(i), fd, 1e-7 * std::max(1.0, std::abs(fd))) << c.name << "[" << i << "]";
    }
  }
}

TEST(NetworkScanTest, ScanInputsOfDifferentLengthsAreRefused) {
  absl::StatusOr<Network> net = Load(ScanModel());
  ASSERT_TRUE(net.ok()) << net.status();
  const Inputs three = MakeInputs(3, DType::kF32), four = MakeInputs(4, DType::kF32);
  absl::StatusOr<std::map<std::string, Tensor>> out =
      net->Run({{"s0", three.s0}, {"x", three.x}, {"y", four.y}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("Scan node 'scan': scan input 1 'y' has 4 iterations along its axis, the "
                        "first scan input 3"));
}

// Damaged model files reach gatefuse without ONNX's checker: each is refused with
// the node and what is wrong.
TEST(NetworkScanTest, InconsistentScansAreRefusedByNode) {
  absl::StatusOr<ModelFile> file = ImportOnnxModel(ScanModel(), "scan.onnx");
  ASSERT_TRUE(file.ok()) << file.status();
  auto refusal = [&](const std::function<void(ModelFile&)>& damage) {
    ModelFile f = *file;
    damage(f);
    absl::Status st = ValidateModelFile(f);
    if (st.ok()) st = Network::FromModelFile(f).status();
    return std::string(st.message());
  };
  auto scan = [](ModelFile& f) { return f.mutable_network()->mutable_nodes(0); };
  auto attr = [&](ModelFile& f, const std::string& name) -> NetworkAttributeProto* {
    for (NetworkAttributeProto& a : *scan(f)->mutable_attributes()) {
      if (a.name() == name) return &a;
    }
    return nullptr;
  };
  EXPECT_THAT(refusal([](ModelFile& f) { f.mutable_network()->set_opset(8); }),
              HasSubstr("Scan node 'scan': Scan of opset 8"));
  EXPECT_THAT(refusal([&](ModelFile& f) { attr(f, "num_scan_inputs")->set_i(4); }),
              HasSubstr("Scan node 'scan': num_scan_inputs 4 for 3 inputs"));
  EXPECT_THAT(refusal([&](ModelFile& f) { attr(f, "scan_input_directions")->set_ints(1, 2); }),
              HasSubstr("scan_input_directions holds 2 (0 forward, 1 reverse)"));
  EXPECT_THAT(refusal([&](ModelFile& f) { attr(f, "scan_output_axes")->add_ints(0); }),
              HasSubstr("scan_output_axes has 2 entries for 1 values"));
  EXPECT_THAT(refusal([&](ModelFile& f) {
                attr(f, "body")->mutable_g()->mutable_nodes(1)->set_inputs(1, "nowhere");
              }),
              HasSubstr("Scan node 'scan': its subgraph reads 'nowhere', which is not a graph "
                        "input, a parameter or an earlier node's output"));
  EXPECT_THAT(refusal([&](ModelFile& f) {
                attr(f, "body")->mutable_g()->mutable_outputs(0)->set_name("nothing");
              }),
              HasSubstr("output 'nothing' is computed by no node"));
}

}  // namespace
}  // namespace gatefuse
