// Task models exported to ONNX and read back by the importer: the imported network
// gives the model's own outputs (f32, 1e-5), for every fused kind, each task, a
// stacked bidirectional model, and custom cells, which export as Scans. (ONNX
// Runtime runs the same exports in tools/onnx_export_check.sh.)
#include "models/onnx/onnx_export.h"

#include <string>

#include "core/compare.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/onnx/network.h"
#include "models/io/model_file.h"
#include "models/onnx/onnx_import.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

ModelConfig Config(Task task, const std::string& cell) {
  ModelConfig c;
  c.task = task;
  c.cell = *CellSpecFromFlag(cell);
  c.vocab_size = 11;
  c.embed = 5;
  c.hidden = 6;
  c.seed = 7;
  return c;
}

Tensor Input(Task task, int64_t T, int64_t B) {
  if (task == Task::kAdding) return Tensor::Uniform({T, B, 2}, DType::kF32, 5, 0, 1);
  Tensor ids = Tensor::Zeros({T, B}, DType::kI64);
  for (int64_t k = 0; k < T * B; ++k) ids.data<int64_t>()[k] = (k * 7 + 3) % 11;
  return ids;
}

// Exports, checks, imports, runs: the imported outputs equal the model's. Returns
// the imported network's path lines.
std::vector<std::string> ExpectRoundTrip(const ModelConfig& config) {
  SCOPED_TRACE(absl::StrCat(TaskName(config.task), " ", config.cell.DisplayName(), " layers ",
                            config.num_layers, config.bidirectional ? " bidirectional" : ""));
  absl::StatusOr<TaskModel> model = TaskModel::Create(config);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  absl::StatusOr<onnx::ModelProto> proto = ExportTaskModel(*model);
  EXPECT_TRUE(proto.ok()) << proto.status();
  if (!proto.ok()) return {};
  // Through the model file's bytes, as `gatefuse import` writes and reads it.
  absl::StatusOr<ModelFile> imported = ImportOnnxBytes(proto->SerializeAsString(), "exported");
  EXPECT_TRUE(imported.ok()) << imported.status();
  if (!imported.ok()) return {};
  absl::StatusOr<std::string> bytes = SerializeModelFile(*imported);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return {};
  absl::StatusOr<ModelFile> file = ParseModelFileBytes(*bytes);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return {};
  absl::StatusOr<Network> net = Network::FromModelFile(*file);
  EXPECT_TRUE(net.ok()) << net.status();
  if (!net.ok()) return {};
  EXPECT_EQ(net->output_names(), ExportedOutputNames(*model));
  const Tensor input = Input(config.task, 5, 3);
  // Full length, and pre-padded sequences of 5, 2 and 1 steps.
  for (const std::vector<int64_t>& lengths :
       {std::vector<int64_t>{5, 5, 5}, std::vector<int64_t>{5, 2, 1}}) {
    SCOPED_TRACE(absl::StrCat("lengths ", lengths[0], " ", lengths[1], " ", lengths[2]));
    const Tensor lens = LengthsTensor(lengths);
    absl::StatusOr<std::map<std::string, Tensor>> ours = ExportedOutputs(*model, input, lens);
    EXPECT_TRUE(ours.ok()) << ours.status();
    absl::StatusOr<std::map<std::string, Tensor>> back =
        net->Run({{ExportedInputName(*model), input}, {"sequence_lens", lens}});
    EXPECT_TRUE(back.ok()) << back.status();
    if (!ours.ok() || !back.ok()) continue;
    EXPECT_EQ(back->size(), ours->size());
    for (const auto& [name, t] : *ours) {
      EXPECT_TRUE(back->count(name)) << name;
      if (back->count(name)) {
        EXPECT_LE(CompareTensors(back->at(name), t).error, 1e-5) << name;
      }
    }
  }
  return net->PathLines();
}

TEST(OnnxExportTest, EveryFusedKindRoundTrips) {
  for (const char* kind : {"lstm", "peephole", "cifg", "gru", "gru_lbr", "rnn_tanh", "rnn_relu"}) {
    ExpectRoundTrip(Config(Task::kSentiment, kind));
  }
}

TEST(OnnxExportTest, EveryTaskRoundTrips) {
  ExpectRoundTrip(Config(Task::kLm, "gru"));
  ExpectRoundTrip(Config(Task::kAdding, "lstm"));
}

TEST(OnnxExportTest, StackedAndBidirectionalLayersRoundTrip) {
  ModelConfig c = Config(Task::kLm, "lstm");
  c.num_layers = 2;
  c.bidirectional = true;
  ExpectRoundTrip(c);
  c.cell = *CellSpecFromFlag("gru_lbr");
  ExpectRoundTrip(c);
}

TEST(OnnxExportTest, ACellWrittenOtherwiseExportsAsItsKind) {
  // The .cell LSTM fuses, so it exports as an LSTM node like the builtin.
  ExpectRoundTrip(Config(Task::kSentiment, "models/cells/lstm.cell"));
}

// A custom cell becomes one Scan per layer and direction, whose body holds the
// step's recurrent part; the input projection stays outside.
TEST(OnnxExportTest, ACustomCellExportsAsScans) {
  ModelConfig c = Config(Task::kSentiment, "models/cells/mgu.cell");
  c.num_layers = 2;
  c.bidirectional = true;
  absl::StatusOr<TaskModel> model = TaskModel::Create(c);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<onnx::ModelProto> proto = ExportTaskModel(*model);
  ASSERT_TRUE(proto.ok()) << proto.status();
  int scans = 0, outer_matmuls = 0;
  for (const onnx::NodeProto& n : proto->graph().node()) {
    outer_matmuls += n.op_type() == "MatMul";
    if (n.op_type() != "Scan") continue;
    ++scans;
    const onnx::GraphProto* body = nullptr;
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.name() == "body") body = &a.g();
    }
    ASSERT_NE(body, nullptr);
    int body_matmuls = 0;
    for (const onnx::NodeProto& b : body->node()) body_matmuls += b.op_type() == "MatMul";
    EXPECT_EQ(body_matmuls, 2) << "h @ Uf and (f * h) @ Un";
    EXPECT_EQ(body->input_size(), 1 + 2 + 1)
        << "h, the projection's two halves (f's and n's, their biases added), the mask";
  }
  EXPECT_EQ(scans, 4);
  EXPECT_EQ(outer_matmuls, 4 + 1) << "each direction's input projection, and the head";
}

// The importer runs the Scans (their bodies on the tape, which the path lines
// say): custom cells, layer norm included, come back with the model's outputs.
TEST(OnnxExportTest, CustomCellsRoundTripThroughScan) {
  ModelConfig c = Config(Task::kSentiment, "models/cells/mgu.cell");
  c.num_layers = 2;
  c.bidirectional = true;
  const std::vector<std::string> paths = ExpectRoundTrip(c);
  ASSERT_EQ(paths.size(), 4u);
  for (const std::string& line : paths) {
    EXPECT_THAT(line, ::testing::StartsWith("path: tape (Scan node '"));
    EXPECT_THAT(line, HasSubstr("body ops, one by one at each iteration)"));
  }
  ExpectRoundTrip(Config(Task::kLm, "models/cells/ln_lstm.cell"));
  ExpectRoundTrip(Config(Task::kAdding, "models/cells/ln_gru.cell"));
}

TEST(OnnxExportTest, AnOpsetOutsideTheRangeIsRefused) {
  absl::StatusOr<TaskModel> model = TaskModel::Create(Config(Task::kAdding, "gru"));
  ASSERT_TRUE(model.ok());
  absl::StatusOr<onnx::ModelProto> proto = ExportTaskModel(*model, {.opset = 9});
  ASSERT_FALSE(proto.ok());
  EXPECT_THAT(proto.status().message(), HasSubstr("opsets 14 to 17"));
}

}  // namespace
}  // namespace gatefuse
