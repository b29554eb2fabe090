#include "models/tasks/task_model.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "graph/serialize.h"
#include "graph/text.h"
#include "models/cells/cell_language.h"
#include "ops/cell_kinds.h"
#include "ops/ops.h"

namespace gatefuse {
namespace {

// Each part's own seed, so that adding a layer does not change the others' values.
uint64_t PartSeed(uint64_t seed, uint64_t part) { return seed * 1000003 + part * 7919; }

absl::Status InvalidConfig(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("model: ", what));
}

absl::Status CheckConfig(const ModelConfig& c) {
  const bool text = c.task != Task::kAdding;
  if (text && c.vocab_size < 3) {
    return InvalidConfig(absl::StrCat("vocabulary size ", c.vocab_size,
                                      " is too small (needs <pad>, <unk> and a word)"));
  }
  if (text && c.embed < 1) return InvalidConfig(absl::StrCat("--embed ", c.embed, " must be >= 1"));
  if (c.hidden < 1) return InvalidConfig(absl::StrCat("--hidden ", c.hidden, " must be >= 1"));
  if (c.num_layers < 1) {
    return InvalidConfig(absl::StrCat("--layers ", c.num_layers, " must be >= 1"));
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) {
    return InvalidConfig(absl::StrCat("--dropout ", c.dropout, " must be in [0, 1)"));
  }
  return absl::OkStatus();
}

// The labels [B] as f32 [B, 1] targets of the binary cross-entropy.
absl::StatusOr<Tensor> BinaryTargets(const Tensor& labels) {
  const int64_t n = labels.num_elements();
  return Tensor::FromValues({n, 1}, labels.ToVector(), DType::kF32);
}

// ---- ModelFile layer configs ----

LayerConfig MakeLayer(const std::string& type, std::map<std::string, int64_t> ints) {
  LayerConfig layer;
  layer.set_type(type);
  layer.set_name(type);
  for (const auto& [k, v] : ints) (*layer.mutable_int_params())[k] = v;
  return layer;
}

absl::StatusOr<const LayerConfig*> FindLayer(const ModelFile& file, const std::string& name) {
  for (const LayerConfig& layer : file.layers()) {
    if (layer.name() == name) return &layer;
  }
  return absl::InvalidArgumentError(absl::StrCat("model file: no layer named '", name, "'"));
}

absl::StatusOr<int64_t> IntParam(const LayerConfig& layer, const std::string& key) {
  auto it = layer.int_params().find(key);
  if (it == layer.int_params().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model file: layer '", layer.name(), "' has no int parameter '", key, "'"));
  }
  return it->second;
}

CellSourceProto CellSourceOf(const CellSpec& spec, int64_t input_size, int64_t hidden) {
  CellSourceProto cell;
  if (!spec.cell_text.empty()) {
    absl::StatusOr<CellSource> src = ParseCellSource(spec.cell_text, spec.cell_filename);
    if (src.ok()) cell.set_kind(src->name);
    cell.set_cell_text(spec.cell_text);
    cell.set_cell_filename(spec.cell_filename);
  } else if (!spec.builtin.empty()) {
    cell.set_kind(spec.builtin);
  } else {
    cell.set_kind(spec.name);  // a C++ cell: the graphs ToModelFile stores define it
  }
  (*cell.mutable_sizes())["I"] = input_size;
  (*cell.mutable_sizes())["H"] = hidden;
  return cell;
}

bool IsBuiltinKind(const std::string& kind) {
  const std::vector<std::string> kinds = BuiltinCellKinds();
  return std::find(kinds.begin(), kinds.end(), CanonicalCellKind(kind)) != kinds.end();
}

absl::StatusOr<CellSpec> CellSpecOf(const CellSourceProto& cell) {
  CellSpec spec;
  if (!cell.cell_text().empty()) {
    spec.cell_text = cell.cell_text();
    spec.cell_filename = cell.cell_filename().empty() ? "<model file>" : cell.cell_filename();
  } else if (IsBuiltinKind(cell.kind()) || !cell.has_graph()) {
    spec.builtin = CanonicalCellKind(cell.kind());  // an old alias loads as its kind
  } else {
    // A cell written in C++: run from its stored step graphs.
    spec.name = cell.kind();
    GF_ASSIGN_OR_RETURN(Graph first, FromProto(cell.graph()));
    spec.graphs.push_back(std::move(first));
    if (cell.has_deep_graph()) {
      GF_ASSIGN_OR_RETURN(Graph deep, FromProto(cell.deep_graph()));
      spec.graphs.push_back(std::move(deep));
    }
  }
  return spec;
}

absl::StatusOr<ModelConfig> ConfigFromFile(const ModelFile& file) {
  auto task_it = file.metadata().find("task");
  if (task_it == file.metadata().end()) {
    return absl::InvalidArgumentError("model file: metadata has no 'task'");
  }
  ModelConfig c;
  GF_ASSIGN_OR_RETURN(c.task, ParseTask(task_it->second));
  if (!file.has_cell()) return absl::InvalidArgumentError("model file: no cell");
  GF_ASSIGN_OR_RETURN(c.cell, CellSpecOf(file.cell()));
  GF_ASSIGN_OR_RETURN(const LayerConfig* rnn, FindLayer(file, "recurrent"));
  GF_ASSIGN_OR_RETURN(c.hidden, IntParam(*rnn, "hidden_size"));
  GF_ASSIGN_OR_RETURN(const int64_t layers, IntParam(*rnn, "num_layers"));
  GF_ASSIGN_OR_RETURN(const int64_t bidirectional, IntParam(*rnn, "bidirectional"));
  c.num_layers = static_cast<int>(layers);
  c.bidirectional = bidirectional != 0;
  if (c.task != Task::kAdding) {
    GF_ASSIGN_OR_RETURN(const LayerConfig* embed, FindLayer(file, "embedding"));
    GF_ASSIGN_OR_RETURN(c.vocab_size, IntParam(*embed, "vocab_size"));
    GF_ASSIGN_OR_RETURN(c.embed, IntParam(*embed, "dim"));
  }
  GF_ASSIGN_OR_RETURN(const LayerConfig* drop, FindLayer(file, "dropout"));
  auto rate = drop->float_params().find("rate");
  c.dropout = rate == drop->float_params().end() ? 0 : rate->second;
  return c;
}

// The cell graphs a file stores (its unfused equations: the first layer's and
// the deeper layers') must be those its cell source gives: a file whose equations
// and declared cell disagree is refused rather than run with either.
absl::Status CheckStoredGraphs(const ModelFile& file, const Recurrent& rnn) {
  const CellSourceProto& cell = file.cell();
  auto check = [&](const GraphProto& proto, const Graph& rebuilt) -> absl::Status {
    GF_ASSIGN_OR_RETURN(Graph stored, FromProto(proto));
    if (PrintGraph(stored) != PrintGraph(rebuilt)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file: the stored cell graph '", stored.name(),
          "' is not the graph its cell source (", cell.kind(), ") gives"));
    }
    return absl::OkStatus();
  };
  if (cell.has_graph()) GF_RETURN_IF_ERROR(check(cell.graph(), rnn.source_cell(0)));
  if (cell.has_deep_graph()) {
    if (rnn.options().num_layers < 2) {
      return absl::InvalidArgumentError(
          "model file: the cell has a graph for deeper layers but the model has one layer");
    }
    GF_RETURN_IF_ERROR(check(cell.deep_graph(), rnn.source_cell(1)));
  }
  return absl::OkStatus();
}

// Copies every saved parameter into the model's leaf of the same name and shape.
absl::Status LoadParameters(const ModelFile& file, const std::map<std::string, Var>& params) {
  GF_ASSIGN_OR_RETURN(auto tensors, ParameterTensors(file));
  for (const auto& [name, var] : params) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model file: parameter '", name, "' is missing"));
    }
    if (it->second.shape() != var.shape() || it->second.dtype() != var.dtype()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file: parameter '", name, "' is ", it->second.shape().ToString(),
          " but the model needs ", var.shape().ToString(), " of ", DTypeName(var.dtype())));
    }
    Var leaf = var;
    leaf.SetValue(it->second.Contiguous());
  }
  if (tensors.size() != params.size()) {
    for (const auto& [name, t] : tensors) {
      if (!params.count(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("model file: parameter '", name, "' belongs to no layer of the model"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {
struct TaskInfo {
  Task task;
  const char* name;
  const char* metric;
};
constexpr TaskInfo kTasks[] = {{Task::kSentiment, "sentiment", "accuracy"},
                               {Task::kAdding, "adding", "mse"},
                               {Task::kLm, "lm", "perplexity"}};
}  // namespace

absl::StatusOr<Task> ParseTask(const std::string& name) {
  for (const TaskInfo& t : kTasks) {
    if (name == t.name) return t.task;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown task '", name, "' (sentiment, adding, lm)"));
}

std::string TaskName(Task task) { return kTasks[static_cast<int>(task)].name; }

std::string MetricName(Task task) { return kTasks[static_cast<int>(task)].metric; }

bool HigherIsBetter(Task task) { return task == Task::kSentiment; }

Tensor LengthsTensor(const std::vector<int64_t>& lengths) {
  Tensor t = Tensor::Empty({static_cast<int64_t>(lengths.size())}, DType::kI64);
  for (size_t i = 0; i < lengths.size(); ++i) t.data<int64_t>()[i] = lengths[i];
  return t;
}

TaskModel::TaskModel(ModelConfig config, std::optional<EmbeddingLayer> embedding,
                     Recurrent recurrent, DenseLayer dense, DropoutLayer dropout)
    : config_(std::move(config)),
      embedding_(std::move(embedding)),
      recurrent_(std::move(recurrent)),
      dense_(std::move(dense)),
      dropout_(dropout) {
  if (embedding_) params_["embedding.table"] = embedding_->table();
  AddParams("recurrent", recurrent_.params(), params_);
  params_["dense.W"] = dense_.weight();
  params_["dense.b"] = dense_.bias();
}

absl::StatusOr<TaskModel> TaskModel::Create(const ModelConfig& config) {
  GF_RETURN_IF_ERROR(CheckConfig(config));
  std::optional<EmbeddingLayer> embedding;
  int64_t input_size = 2;
  if (config.task != Task::kAdding) {
    GF_ASSIGN_OR_RETURN(embedding, EmbeddingLayer::Create(config.vocab_size, config.embed,
                                                          PartSeed(config.seed, 1)));
    input_size = config.embed;
  }
  RecurrentOptions options{.input_size = input_size,
                           .hidden_size = config.hidden,
                           .num_layers = config.num_layers,
                           .bidirectional = config.bidirectional};
  GF_ASSIGN_OR_RETURN(Recurrent recurrent,
                      Recurrent::Create(config.cell, options, PartSeed(config.seed, 2)));
  const int64_t out = config.task == Task::kLm ? config.vocab_size : 1;
  GF_ASSIGN_OR_RETURN(DenseLayer dense,
                      DenseLayer::Create(recurrent.output_size(), out, PartSeed(config.seed, 3)));
  GF_ASSIGN_OR_RETURN(DropoutLayer dropout, DropoutLayer::Create(config.dropout));
  return TaskModel(config, std::move(embedding), std::move(recurrent), std::move(dense), dropout);
}

VarOr TaskModel::Forward(const ModelInput& input, bool training, uint64_t dropout_seed) const {
  Var x = Var::Constant(input.x);
  if (embedding_) {
    if (input.x.dtype() != DType::kI64 || input.x.rank() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(TaskName(config_.task), ": input must be i64 ids [T, B], got ",
                       DTypeName(input.x.dtype()), " ", input.x.shape().ToString()));
    }
    GF_ASSIGN_OR_RETURN(x, dropout_.Forward(*embedding_->Forward(x), dropout_seed, training));
  }
  GF_ASSIGN_OR_RETURN(RecurrentOutput out, recurrent_.Forward(x, input.lengths));
  GF_ASSIGN_OR_RETURN(Var summary, dropout_.Forward(out.last, dropout_seed + 1, training));
  return dense_.Forward(summary);
}

VarOr TaskModel::Loss(const Var& output, const Tensor& targets) const {
  switch (config_.task) {
    case Task::kSentiment: {
      GF_ASSIGN_OR_RETURN(Tensor t, BinaryTargets(targets));
      return BinaryCrossEntropyWithLogits(output, Var::Constant(t));
    }
    case Task::kAdding:
      return MeanSquaredError(output, Var::Constant(targets));
    case Task::kLm:
      return SparseSoftmaxCrossEntropy(output, Var::Constant(targets));
  }
  return absl::InternalError("unknown task");
}

std::vector<Var> TaskModel::ParamList() const {
  std::vector<Var> list;
  for (const auto& [name, var] : params_) list.push_back(var);
  return list;
}

absl::Status TaskModel::ToModelFile(ModelFile& file) const {
  const RecurrentOptions& r = recurrent_.options();
  *file.mutable_cell() = CellSourceOf(config_.cell, r.input_size, r.hidden_size);
  GF_ASSIGN_OR_RETURN(*file.mutable_cell()->mutable_graph(), ToProto(recurrent_.source_cell(0)));
  if (r.num_layers > 1) {
    GF_ASSIGN_OR_RETURN(*file.mutable_cell()->mutable_deep_graph(),
                        ToProto(recurrent_.source_cell(1)));
  }
  file.clear_layers();
  if (embedding_) {
    *file.add_layers() = MakeLayer(
        "embedding", {{"vocab_size", embedding_->vocab_size()}, {"dim", embedding_->dim()}});
  }
  *file.add_layers() = MakeLayer("recurrent", {{"input_size", r.input_size},
                                               {"hidden_size", r.hidden_size},
                                               {"num_layers", r.num_layers},
                                               {"bidirectional", r.bidirectional ? 1 : 0}});
  LayerConfig& rnn = *file.mutable_layers(file.layers_size() - 1);
  (*rnn.mutable_string_params())["cell"] = config_.cell.DisplayName();
  (*rnn.mutable_string_params())["merge"] = r.merge;
  LayerConfig drop = MakeLayer("dropout", {});
  (*drop.mutable_float_params())["rate"] = dropout_.rate();
  *file.add_layers() = drop;
  *file.add_layers() = MakeLayer("dense", {{"in", dense_.in()}, {"out", dense_.out()}});
  (*file.mutable_metadata())["task"] = TaskName(config_.task);
  return SetParameters(params_, file);
}

absl::StatusOr<TaskModel> TaskModel::FromModelFile(const ModelFile& file) {
  GF_ASSIGN_OR_RETURN(ModelConfig config, ConfigFromFile(file));
  GF_ASSIGN_OR_RETURN(TaskModel model, Create(config));
  GF_RETURN_IF_ERROR(CheckStoredGraphs(file, model.recurrent_));
  GF_RETURN_IF_ERROR(LoadParameters(file, model.params_));
  return model;
}

}  // namespace gatefuse
