// Import checked end to end: ONNX's own node tests and models exported by PyTorch
// (outputs against the references stored with them, and the path each recurrent
// node runs), the .gfm round trip, gradients of an imported model by finite
// differences, and the refusals a bad file gets.
#include "models/onnx/onnx_import.h"

#include <cmath>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "core/compare_testing.h"
#include "core/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/onnx/onnx_attributes.h"
#include "models/onnx/onnx_test_data.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr char kNodeTests[] = "/usr/share/libonnx-testdata/data/node/";
constexpr char kTorch[] = "tests/data/onnx/torch/";

struct Case {
  std::string dir;
  std::vector<std::string> paths;  // PathLines(), in node order
};

void ExpectPasses(const Case& c) {
  const OnnxTestResult r = RunOnnxTest(c.dir);
  EXPECT_TRUE(r.ok) << r.Line(c.dir);
  EXPECT_GE(r.data_sets, 1) << c.dir;
  EXPECT_THAT(r.path_lines, ElementsAreArray(c.paths)) << c.dir;
}

TEST(OnnxImportTest, OnnxNodeTestsPassOnTheFusedPath) {
  const std::vector<std::pair<std::string, std::string>> tests = {
      {"test_lstm_defaults", "lstm"},         {"test_lstm_with_initial_bias", "lstm"},
      {"test_lstm_with_peepholes", "peephole"}, {"test_lstm_batchwise", "lstm"},
      {"test_gru_defaults", "gru"},           {"test_gru_with_initial_bias", "gru"},
      {"test_gru_seq_length", "gru"},         {"test_gru_batchwise", "gru"},
      {"test_simple_rnn_defaults", "rnn_tanh"}, {"test_simple_rnn_with_initial_bias", "rnn_tanh"},
      {"test_simple_rnn_batchwise", "rnn_tanh"}, {"test_rnn_seq_length", "rnn_tanh"},
  };
  for (const auto& [name, kind] : tests) {
    const std::string op = kind == "lstm" || kind == "peephole" ? "LSTM"
                           : kind == "gru"                     ? "GRU"
                                                               : "RNN";
    ExpectPasses({kNodeTests + name, {absl::StrCat("path: fused ", kind, " (", op, "_0.fwd)")}});
  }
}

TEST(OnnxImportTest, PyTorchExportsMatchPyTorch) {
  const std::string t = kTorch;
  ExpectPasses({t + "lstm_2layer_bidirectional",
                {"path: fused lstm (/rnn/LSTM.fwd)", "path: fused lstm (/rnn/LSTM.bwd)",
                 "path: fused lstm (/rnn/LSTM_1.fwd)", "path: fused lstm (/rnn/LSTM_1.bwd)"}});
  ExpectPasses({t + "gru_h0", {"path: fused gru_lbr (/rnn/GRU.fwd)"}});
  ExpectPasses({t + "rnn_relu_batch_first", {"path: fused rnn_relu (/rnn/RNN.fwd)"}});
  ExpectPasses({t + "embedding_lstm_classifier", {"path: fused lstm (/rnn/LSTM.fwd)"}});
  ExpectPasses({t + "bigru_lstm",
                {"path: fused gru_lbr (/gru/GRU.fwd)", "path: fused gru_lbr (/gru/GRU.bwd)",
                 "path: fused lstm (/lstm/LSTM.fwd)"}});
  ExpectPasses({t + "embedding_bigru_lstm_linear",
                {"path: fused gru_lbr (/gru/GRU.fwd)", "path: fused gru_lbr (/gru/GRU.bwd)",
                 "path: fused lstm (/lstm/LSTM.fwd)"}});
}

TEST(OnnxImportTest, TheModelFromGfmGivesTheSameOutputs) {
  for (const std::string name : {"lstm_2layer_bidirectional", "embedding_bigru_lstm_linear"}) {
    const std::string dir = kTorch + name;
    absl::StatusOr<ModelFile> file = ImportOnnxFile(dir + "/model.onnx");
    ASSERT_TRUE(file.ok()) << file.status();
    absl::StatusOr<std::string> bytes = SerializeModelFile(*file);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    absl::StatusOr<ModelFile> back = ParseModelFileBytes(*bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    absl::StatusOr<Network> from_onnx = Network::FromModelFile(*file);
    absl::StatusOr<Network> from_gfm = Network::FromModelFile(*back);
    ASSERT_TRUE(from_onnx.ok() && from_gfm.ok());
    EXPECT_EQ(from_onnx->PathLines(), from_gfm->PathLines());
    absl::StatusOr<std::map<std::string, Tensor>> inputs =
        ReadTestInputs(dir + "/test_data_set_0", *from_onnx);
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    auto a = from_onnx->Run(*inputs), b = from_gfm->Run(*inputs);
    ASSERT_TRUE(a.ok() && b.ok());
    for (const auto& [out, t] : *a) EXPECT_TRUE(TensorsClose(b->at(out), t, 0.0, out)) << name;
  }
}

// d/dθ of sum(logits * M) for a fixed random M, by central differences in f64 (the
// tape, op by op) against Backward; and the f32 model's gradients (fused paths)
// against the f64 ones.
TEST(OnnxImportTest, GradientsOfAnImportedModelMatchFiniteDifferences) {
  const std::string dir = std::string(kTorch) + "embedding_bigru_lstm_linear";
  absl::StatusOr<Network> f64 = LoadNetwork(dir + "/model.onnx", {.dtype = DType::kF64});
  absl::StatusOr<Network> f32 = LoadNetwork(dir + "/model.onnx");
  ASSERT_TRUE(f64.ok() && f32.ok()) << f64.status() << f32.status();
  for (const std::string& line : f64->PathLines()) EXPECT_THAT(line, HasSubstr("op-by-op"));
  for (const std::string& line : f32->PathLines()) EXPECT_THAT(line, HasSubstr("fused"));
  absl::StatusOr<std::map<std::string, Tensor>> inputs =
      ReadTestInputs(dir + "/test_data_set_0", *f64);
  ASSERT_TRUE(inputs.ok());
  const Tensor tokens = inputs->at("tokens");
  auto loss = [&](const Network& net) -> VarOr {
    using Outputs = std::map<std::string, Var>;
    GF_ASSIGN_OR_RETURN(Outputs out, net.Forward({{"tokens", Var::Constant(tokens)}}));
    const Var& logits = out.at("logits");
    const Tensor m = Tensor::Uniform(logits.shape(), logits.dtype(), 7, -1, 1);
    return Sum(Mul(logits, Var::Constant(m)));
  };
  for (const Network* net : {&*f64, &*f32}) {
    VarOr l = loss(*net);
    ASSERT_TRUE(l.ok()) << l.status();
    ASSERT_TRUE(Backward(*l).ok());
  }
  ASSERT_EQ(f64->params().size(), f32->params().size());
  int checked = 0;
  for (const auto& [name, p] : f64->params()) {
    ASSERT_TRUE(p.grad().defined()) << name << " got no gradient";
    const Tensor grad = p.grad();
    // Up to 4 elements of every parameter: first, last and two between.
    const int64_t n = p.shape().num_elements();
    for (int64_t i : {int64_t{0}, n / 3, 2 * n / 3, n - 1}) {
      const Tensor base = p.value().Clone();
      auto at = [&](double delta) {
        Tensor t = base.Clone();
        t.data<double>()[i] += delta;
        Var(p).SetValue(t);
        NoGradGuard no_grad;
        return loss(*f64)->value().At(0);
      };
      const double eps = 1e-6;
      const double fd = (at(eps) - at(-eps)) / (2 * eps);
      Var(p).SetValue(base);
      EXPECT_NEAR(grad.At(i), fd, 1e-7 * std::max(1.0, std::abs(fd))) << name << "[" << i << "]";
      ++checked;
    }
    EXPECT_TRUE(TensorsClose(f32->params().at(name).grad().Cast(DType::kF64), grad, 1e-4, name));
  }
  EXPECT_GE(checked, 4 * 10);
}

// ---- refusals ------------------------------------------------------------------------

onnx::ModelProto OneNodeModel(const std::string& op, int opset = 14) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("g");
  for (const char* name : {"x", "y"}) {
    onnx::ValueInfoProto* v = std::string(name) == "x" ? g->add_input() : g->add_output();
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_value(2);
    t->mutable_shape()->add_dim()->set_dim_value(3);
  }
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name("the_node");
  n->add_input("x");
  n->add_output("y");
  return m;
}

absl::Status BuildStatus(const onnx::ModelProto& m) {
  absl::StatusOr<ModelFile> file = ImportOnnxModel(m, "test.onnx");
  if (!file.ok()) return file.status();
  return Network::FromModelFile(*file).status();
}

TEST(OnnxImportTest, AnUnsupportedOpIsRefusedByNodeAndOp) {
  const absl::Status st = BuildStatus(OneNodeModel("Cos"));
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("Cos node 'the_node': op Cos is not supported"));
  EXPECT_THAT(st.message(), HasSubstr("LSTM"));  // the list of what is
}

// The ONNX checker refuses attributes an op does not define; a network that reaches
// gatefuse another way (a .gfm) gets the same refusal from gatefuse itself.
TEST(OnnxImportTest, AnUnsupportedAttributeIsRefusedByName) {
  absl::StatusOr<ModelFile> file = ImportOnnxModel(OneNodeModel("Softmax"), "test.onnx");
  ASSERT_TRUE(file.ok()) << file.status();
  NetworkAttributeProto* a = file->mutable_network()->mutable_nodes(0)->add_attributes();
  a->set_name("mystery");
  a->set_kind(NetworkAttributeProto::INT);
  a->set_i(3);
  const absl::Status st = Network::FromModelFile(*file).status();
  EXPECT_THAT(st.message(), HasSubstr("Softmax node 'the_node': attribute 'mystery' is not "
                                      "supported"));
}

TEST(OnnxImportTest, AnOpOfAnotherDomainIsRefused) {
  onnx::ModelProto m = OneNodeModel("Relu");
  m.mutable_graph()->mutable_node(0)->set_domain("com.example");
  m.add_opset_import()->set_domain("com.example");
  m.mutable_opset_import(1)->set_version(1);
  EXPECT_THAT(BuildStatus(m).message(), HasSubstr("domain 'com.example' is not supported"));
}

TEST(OnnxImportTest, DamagedBytesAreRefused) {
  std::string bytes;
  ASSERT_TRUE(OneNodeModel("Relu").SerializeToString(&bytes));
  EXPECT_TRUE(ImportOnnxBytes(bytes, "ok.onnx").ok());
  absl::StatusOr<ModelFile> cut = ImportOnnxBytes(bytes.substr(0, bytes.size() / 2), "cut.onnx");
  EXPECT_FALSE(cut.ok());
  absl::StatusOr<ModelFile> junk = ImportOnnxBytes("\x08\x96\x01 not a model", "junk.onnx");
  EXPECT_FALSE(junk.ok());
  EXPECT_THAT(junk.status().message(), HasSubstr("junk.onnx"));
}

// ONNX does not check that names are UTF-8; gatefuse's file format needs them to be.
TEST(OnnxImportTest, ANameThatIsNotUtf8IsRefused) {
  onnx::ModelProto m = OneNodeModel("Relu");
  m.mutable_graph()->mutable_node(0)->set_name("bad\xff\xfename");
  absl::StatusOr<ModelFile> file = ImportOnnxModel(m, "test.onnx");
  EXPECT_THAT(file.status().message(), HasSubstr("the name of a node is not valid UTF-8"));
  m.mutable_graph()->mutable_node(0)->set_name("caf\xc3\xa9");  // UTF-8 is fine
  EXPECT_TRUE(ImportOnnxModel(m, "test.onnx").ok());
}

TEST(OnnxImportTest, TheCheckerRefusesAnInconsistentModel) {
  onnx::ModelProto m = OneNodeModel("Relu");
  m.mutable_graph()->mutable_node(0)->set_input(0, "nowhere");
  const absl::Status st = BuildStatus(m);
  EXPECT_THAT(st.message(), HasSubstr("the ONNX checker refuses the model"));
}

// An LSTM whose W does not fit its R and hidden_size.
TEST(OnnxImportTest, RecurrentWeightsOfTheWrongShapeAreRefused) {
  onnx::ModelProto m = OneNodeModel("LSTM");
  onnx::GraphProto* g = m.mutable_graph();
  onnx::NodeProto* n = g->mutable_node(0);
  n->set_input(0, "x");
  n->add_input("W");
  n->add_input("R");
  auto init = [&](const std::string& name, std::vector<int64_t> dims) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t count = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      count *= d;
    }
    for (int64_t k = 0; k < count; ++k) t->add_float_data(0.1f);
  };
  init("W", {1, 8, 3});  // H = 2
  init("R", {1, 8, 5});  // should be [1, 8, 2]
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name("hidden_size");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(2);
  // x as [T, B, I] = [2, 3, 3]: the graph's x is [2, 3]; give it a third dim.
  g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(3);
  const absl::Status st = BuildStatus(m);
  EXPECT_THAT(st.message(), HasSubstr("LSTM node 'the_node': R must be floating [1,8,2]"));
}

// Every float node test of the elementwise and reduction ops. Left out: Clip's int8
// tests and Min/Max of the integer types (these builders take floats only; integers
// are shape arithmetic here), and float16, uint16, uint32, uint64 (element types the
// importer refuses).
TEST(OnnxImportTest, OnnxNodeTestsOfElementwiseAndReductionOpsPass) {
  const std::vector<std::string> tests = {
      "test_sqrt", "test_sqrt_example", "test_abs", "test_softsign", "test_softsign_example",
      "test_softplus", "test_softplus_example",
      "test_leakyrelu", "test_leakyrelu_default", "test_leakyrelu_example",
      "test_elu", "test_elu_default", "test_elu_example",
      "test_thresholdedrelu", "test_thresholdedrelu_default", "test_thresholdedrelu_example",
      "test_hardsigmoid", "test_hardsigmoid_default", "test_hardsigmoid_example",
      "test_clip", "test_clip_default_inbounds", "test_clip_default_max", "test_clip_default_min",
      "test_clip_example", "test_clip_inbounds", "test_clip_outbounds", "test_clip_splitbounds",
      "test_min_example", "test_min_float32", "test_min_float64", "test_min_one_input",
      "test_min_two_inputs",
      "test_max_example", "test_max_float32", "test_max_float64", "test_max_one_input",
      "test_max_two_inputs",
      "test_sum_example", "test_sum_one_input", "test_sum_two_inputs",
      "test_reduce_mean_default_axes_keepdims_example",
      "test_reduce_mean_default_axes_keepdims_random",
      "test_reduce_mean_do_not_keepdims_example", "test_reduce_mean_do_not_keepdims_random",
      "test_reduce_mean_keepdims_example", "test_reduce_mean_keepdims_random",
      "test_reduce_mean_negative_axes_keepdims_example",
      "test_reduce_mean_negative_axes_keepdims_random",
      "test_reduce_sum_default_axes_keepdims_example",
      "test_reduce_sum_default_axes_keepdims_random",
      "test_reduce_sum_do_not_keepdims_example", "test_reduce_sum_do_not_keepdims_random",
      "test_reduce_sum_empty_axes_input_noop_example",
      "test_reduce_sum_empty_axes_input_noop_random",
      "test_reduce_sum_keepdims_example", "test_reduce_sum_keepdims_random",
      "test_reduce_sum_negative_axes_keepdims_example",
      "test_reduce_sum_negative_axes_keepdims_random",
  };
  for (const std::string& name : tests) ExpectPasses({kNodeTests + name, {}});
}

// The ops that build masks: comparisons (bool outputs) and Range.
TEST(OnnxImportTest, OnnxNodeTestsOfComparisonsAndRangePass) {
  for (const std::string name :
       {"test_equal", "test_equal_bcast", "test_greater", "test_greater_bcast",
        "test_greater_equal", "test_greater_equal_bcast", "test_less", "test_less_bcast",
        "test_less_equal", "test_less_equal_bcast", "test_range_float_type_positive_delta",
        "test_range_int32_type_negative_delta"}) {
    ExpectPasses({kNodeTests + name, {}});
  }
}

// ONNX's node tests are all of opset 13: the attribute forms of older opsets here.
TEST(OnnxImportTest, ClipAndReduceSumOfOlderOpsetsReadTheirAttributes) {
  onnx::ModelProto clip = OneNodeModel("Clip", 10);
  onnx::NodeProto* c = clip.mutable_graph()->mutable_node(0);
  AddAttribute(c, "min", -1.0f);
  AddAttribute(c, "max", 0.7f);
  onnx::ModelProto sum = OneNodeModel("ReduceSum", 12);
  onnx::NodeProto* r = sum.mutable_graph()->mutable_node(0);
  AddAttribute(r, "axes", std::vector<int64_t>{-1});
  AddAttribute(r, "keepdims", int64_t{0});
  absl::StatusOr<Tensor> x = Tensor::FromValues({2, 3}, {-3, -0.5, 0.2, 0.9, 2, -1.5}, DType::kF32);
  ASSERT_TRUE(x.ok());
  for (const auto& [model, expected] :
       {std::pair<onnx::ModelProto, std::vector<double>>{clip, {-1, -0.5, 0.2, 0.7, 0.7, -1}},
        {sum, {-3.3, 1.4}}}) {
    absl::StatusOr<ModelFile> file = ImportOnnxModel(model, "test.onnx");
    ASSERT_TRUE(file.ok()) << file.status();
    absl::StatusOr<Network> net = Network::FromModelFile(*file);
    ASSERT_TRUE(net.ok()) << net.status();
    absl::StatusOr<std::map<std::string, Tensor>> y = net->Run({{"x", *x}});
    ASSERT_TRUE(y.ok()) << y.status();
    const std::vector<double> got = y->at("y").ToVector();
    ASSERT_EQ(got.size(), expected.size());
    for (size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], expected[k], 1e-6) << k;
  }
}

}  // namespace
}  // namespace gatefuse
