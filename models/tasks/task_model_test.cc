#include "models/tasks/task_model.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/cells/cell.h"
#include "models/io/model_file.h"
#include "models/nn/cpp_cells_testing.h"

namespace gatefuse {
namespace {

using ::testing::HasSubstr;

ModelConfig Config(Task task, const std::string& cell) {
  ModelConfig c;
  c.task = task;
  c.cell = *CellSpecFromFlag(cell);
  c.vocab_size = 9;
  c.embed = 5;
  c.hidden = 6;
  c.seed = 3;
  return c;
}

// Ids [T=4, B=3], pre-padded; lengths 4, 2, 1.
ModelInput TextInput() {
  Tensor ids = *Tensor::FromValues({4, 3}, {3, 0, 0, 5, 0, 0, 2, 7, 0, 8, 1, 4}, DType::kI64);
  return {ids, LengthsTensor({4, 2, 1})};
}

// Saves through the container bytes and loads back.
TaskModel RoundTrip(const TaskModel& model) {
  ModelFile file;
  EXPECT_TRUE(model.ToModelFile(file).ok());
  absl::StatusOr<std::string> bytes = SerializeModelFile(file);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<ModelFile> parsed = ParseModelFileBytes(*bytes);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<TaskModel> back = TaskModel::FromModelFile(*parsed);
  EXPECT_TRUE(back.ok()) << back.status();
  return *std::move(back);
}

void ExpectSameOutputs(const ModelConfig& config, const ModelInput& input) {
  absl::StatusOr<TaskModel> model = TaskModel::Create(config);
  ASSERT_TRUE(model.ok()) << model.status();
  ModelConfig other = config;
  other.seed = config.seed + 1;  // the loaded values must replace a fresh init
  const Var before = *model->Forward(input, false, 0);
  TaskModel back = RoundTrip(*model);
  EXPECT_EQ(back.fusion(), model->fusion());
  EXPECT_EQ(back.params().size(), model->params().size());
  const Var after = *back.Forward(input, false, 0);
  EXPECT_EQ(before.value().ToVector(), after.value().ToVector());
  const Var fresh = *TaskModel::Create(other)->Forward(input, false, 0);
  EXPECT_NE(before.value().ToVector(), fresh.value().ToVector());
}

class BuiltinRoundTripTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BuiltinRoundTripTest, LmOutputsBitIdentical) {
  ExpectSameOutputs(Config(Task::kLm, GetParam()), TextInput());
}

INSTANTIATE_TEST_SUITE_P(AllKinds, BuiltinRoundTripTest, ::testing::ValuesIn(BuiltinCellKinds()));

TEST(TaskModelRoundTripTest, CellFile) {
  ModelConfig c = Config(Task::kSentiment, "models/cells/mgu.cell");
  ExpectSameOutputs(c, TextInput());
  ModelFile file;
  ASSERT_TRUE(TaskModel::Create(c)->ToModelFile(file).ok());
  EXPECT_EQ(file.cell().kind(), "mgu");
  EXPECT_THAT(file.cell().cell_text(), HasSubstr("next h"));
}

TEST(TaskModelRoundTripTest, StackedAndBidirectional) {
  ModelConfig c = Config(Task::kSentiment, "lstm");
  c.num_layers = 2;
  ExpectSameOutputs(c, TextInput());
  c.num_layers = 1;
  c.bidirectional = true;
  ExpectSameOutputs(c, TextInput());
  c.cell = *CellSpecFromFlag("gru");
  c.num_layers = 2;
  ExpectSameOutputs(c, TextInput());
}

// A C++ cell's model file keeps its step graphs (the first layer's and the
// deeper layers'), and loads from them alone: the loaded model has no factory.
TEST(TaskModelRoundTripTest, CppCellLoadsFromItsGraphs) {
  for (CellSpec (*spec)() : {&testing_cells::Janet, &testing_cells::ConcatLstm}) {
    ModelConfig c = Config(Task::kSentiment, "lstm");
    c.cell = spec();
    c.num_layers = 2;
    c.bidirectional = true;
    SCOPED_TRACE(c.cell.name);
    ExpectSameOutputs(c, TextInput());
    ModelFile file;
    ASSERT_TRUE(TaskModel::Create(c)->ToModelFile(file).ok());
    EXPECT_EQ(file.cell().kind(), c.cell.name);
    EXPECT_TRUE(file.cell().cell_text().empty());
    EXPECT_TRUE(file.cell().has_graph());
    EXPECT_TRUE(file.cell().has_deep_graph());
    absl::StatusOr<TaskModel> back = TaskModel::FromModelFile(file);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_FALSE(back->config().cell.factory);
    EXPECT_EQ(back->config().cell.graphs.size(), 2u);
    EXPECT_EQ(back->PathLines(), TaskModel::Create(c)->PathLines());
  }
}

// A stored graph that is not what the cell's source gives is refused, as is a
// graph-only cell whose first graph is missing.
TEST(TaskModelRoundTripTest, CppCellFileMismatchesAreRefused) {
  ModelConfig c = Config(Task::kSentiment, "lstm");
  c.cell = testing_cells::Janet();
  c.num_layers = 2;
  ModelFile file;
  ASSERT_TRUE(TaskModel::Create(c)->ToModelFile(file).ok());
  ModelFile one_layer = file;
  for (LayerConfig& layer : *one_layer.mutable_layers()) {
    if (layer.name() == "recurrent") (*layer.mutable_int_params())["num_layers"] = 1;
  }
  EXPECT_THAT(TaskModel::FromModelFile(one_layer).status().message(),
              HasSubstr("graph for deeper layers but the model has one layer"));
  ModelFile swapped = file;
  *swapped.mutable_cell()->mutable_deep_graph() = file.cell().graph();
  EXPECT_THAT(TaskModel::FromModelFile(swapped).status().message(),
              HasSubstr("takes inputs of 5 features, the layer gives 6"));
}

TEST(TaskModelRoundTripTest, Adding) {
  ModelConfig c = Config(Task::kAdding, "gru");
  ModelInput in{Tensor::Uniform({7, 4, 2}, DType::kF32, 5, 0, 1), Tensor()};
  ExpectSameOutputs(c, in);
  EXPECT_EQ(TaskModel::Create(c)->Forward(in, false, 0)->shape(), Shape({4, 1}));
}

TEST(TaskModelTest, OutputShapesAndLosses) {
  TaskModel lm = *TaskModel::Create(Config(Task::kLm, "lstm"));
  Var out = *lm.Forward(TextInput(), true, 1);
  EXPECT_EQ(out.shape(), Shape({3, 9}));
  Tensor targets = *Tensor::FromValues({3}, {2, 3, 4}, DType::kI64);
  EXPECT_GT(lm.Loss(out, targets)->value().At(0), 0);
  TaskModel s = *TaskModel::Create(Config(Task::kSentiment, "lstm"));
  Var logit = *s.Forward(TextInput(), true, 1);
  EXPECT_EQ(logit.shape(), Shape({3, 1}));
  Tensor labels = *Tensor::FromValues({3}, {1, 0, 1}, DType::kI64);
  EXPECT_TRUE(s.Loss(logit, labels).ok());
  EXPECT_EQ(s.params().count("embedding.table"), 1);
  EXPECT_EQ(s.params().count("dense.W"), 1);
}

TEST(TaskModelTest, ConfigErrors) {
  ModelConfig c = Config(Task::kLm, "lstm");
  c.hidden = 0;
  EXPECT_THAT(TaskModel::Create(c).status().message(), HasSubstr("--hidden 0"));
  c = Config(Task::kSentiment, "lstm");
  c.vocab_size = 2;
  EXPECT_THAT(TaskModel::Create(c).status().message(), HasSubstr("vocabulary size 2"));
  c = Config(Task::kSentiment, "lstm");
  c.dropout = 1;
  EXPECT_THAT(TaskModel::Create(c).status().message(), HasSubstr("--dropout"));
  EXPECT_THAT(ParseTask("translate").status().message(), HasSubstr("unknown task 'translate'"));
}

TEST(TaskModelTest, LoadRefusesMismatchedFiles) {
  TaskModel model = *TaskModel::Create(Config(Task::kLm, "lstm"));
  ModelFile file;
  ASSERT_TRUE(model.ToModelFile(file).ok());
  ModelFile no_task = file;
  no_task.mutable_metadata()->erase("task");
  EXPECT_THAT(TaskModel::FromModelFile(no_task).status().message(), HasSubstr("'task'"));
  ModelFile missing = file;
  missing.mutable_parameters()->RemoveLast();
  EXPECT_THAT(TaskModel::FromModelFile(missing).status().message(), HasSubstr("is missing"));
  ModelFile wrong_shape = file;
  for (TensorProto& t : *wrong_shape.mutable_parameters()) {
    if (t.name() == "dense.b") {
      t.set_dims(0, 3);
      t.set_data(t.data().substr(0, 12));
    }
  }
  EXPECT_THAT(TaskModel::FromModelFile(wrong_shape).status().message(),
              HasSubstr("'dense.b' is [3]"));
  ModelFile extra = file;
  *extra.add_parameters() = file.parameters(0);
  extra.mutable_parameters()->rbegin()->set_name("stray");
  EXPECT_THAT(TaskModel::FromModelFile(extra).status().message(), HasSubstr("'stray'"));
  // Equations that are not the declared cell's: a gru graph under kind lstm.
  ModelFile gru;
  ASSERT_TRUE(TaskModel::Create(Config(Task::kLm, "gru"))->ToModelFile(gru).ok());
  ASSERT_TRUE(file.cell().has_graph());
  ModelFile swapped = file;
  *swapped.mutable_cell()->mutable_graph() = gru.cell().graph();
  EXPECT_THAT(TaskModel::FromModelFile(swapped).status().message(),
              HasSubstr("is not the graph its cell source (lstm) gives"));
}

// Files written when peephole and cifg were spelled peephole_lstm and cifg_lstm load,
// fuse as the canonical kind and give the same outputs.
TEST(TaskModelRoundTripTest, OldKindSpellingsLoad) {
  for (const auto& [kind, old] : std::vector<std::pair<std::string, std::string>>{
           {"peephole", "peephole_lstm"}, {"cifg", "cifg_lstm"}}) {
    SCOPED_TRACE(old);
    absl::StatusOr<TaskModel> model = TaskModel::Create(Config(Task::kLm, kind));
    ASSERT_TRUE(model.ok()) << model.status();
    ModelFile file;
    ASSERT_TRUE(model->ToModelFile(file).ok());
    ASSERT_EQ(file.cell().kind(), kind);
    file.mutable_cell()->set_kind(old);
    absl::StatusOr<TaskModel> back = TaskModel::FromModelFile(file);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->fusion(), kind);
    EXPECT_EQ(model->Forward(TextInput(), false, 0)->value().ToVector(),
              back->Forward(TextInput(), false, 0)->value().ToVector());
  }
}

}  // namespace
}  // namespace gatefuse
