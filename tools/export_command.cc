// gatefuse export: a task model out as ONNX (models/onnx/onnx_export.h).
//
//   gatefuse export MODEL.gfm --out DIR [--test-data N] [--opset N] [--T N] [--B N] [--seed N]
//
// writes DIR/model.onnx and, with --test-data N, DIR/test_data_set_0 .. N-1 in the ONNX
// backend test layout: inputs and sequence_lens, and gatefuse's outputs on them, so any
// ONNX runtime can check itself against gatefuse (`gatefuse onnx-test DIR` is gatefuse's
// importer doing so). The inputs are the model's own test set in batches of --B (the
// run it was trained with is in the file), else, or with --random-test-data, seeded
// random ones of [T, B] (tokens uniform over the vocabulary, adding values in [0, 1),
// the first sequence full and the others shorter, pre-padded).
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_io.h"
#include "core/status.h"
#include "models/io/model_file.h"
#include "models/onnx/onnx_export.h"
#include "models/onnx/onnx_tensor.h"
#include "models/tasks/task_model.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "models/tasks/trainer.h"
#include "tools/run_settings.h"

namespace gatefuse::cli {
namespace {

constexpr char kExportUsage[] =
    "usage: gatefuse export MODEL.gfm --out DIR [--test-data N] [--random-test-data] "
    "[--opset 14..17] [--T N] [--B N] [--seed N]";

absl::Status MakeFolder(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(dir, ": exists and is not a folder"));
  }
  return absl::InvalidArgumentError(absl::StrCat(dir, ": cannot create: ", std::strerror(errno)));
}

// The exported input for one test data set.
Tensor TestInput(const TaskModel& model, int64_t T, int64_t B, uint64_t seed) {
  if (model.config().task == Task::kAdding) {
    return Tensor::Uniform({T, B, 2}, DType::kF32, seed, 0, 1);
  }
  const Tensor u = Tensor::Uniform({T, B}, DType::kF64, seed, 0, 1);
  Tensor ids = Tensor::Zeros({T, B}, DType::kI64);
  const int64_t V = model.config().vocab_size;
  for (int64_t k = 0; k < T * B; ++k) {
    ids.data<int64_t>()[k] = std::min<int64_t>(V - 1, static_cast<int64_t>(u.data<double>()[k] * V));
  }
  return ids;
}

// Sequence lengths for one test data set: the first sequence full, the others
// uniform in [1, T] (pre-padded, as gatefuse pads).
Tensor TestLengths(int64_t T, int64_t B, uint64_t seed) {
  const Tensor u = Tensor::Uniform({B}, DType::kF64, seed + 7, 0, 1);
  std::vector<int64_t> lengths(B, T);
  for (int64_t b = 1; b < B; ++b) {
    lengths[b] = std::min<int64_t>(T, 1 + static_cast<int64_t>(u.data<double>()[b] * T));
  }
  return LengthsTensor(lengths);
}

absl::Status ExportModel(const Args& args) {
  if (args.positionals.size() != 1 || !args.Has("out")) {
    return absl::InvalidArgumentError(kExportUsage);
  }
  GF_ASSIGN_OR_RETURN(const int64_t sets, args.GetInt("test-data", 0));
  GF_ASSIGN_OR_RETURN(const int64_t opset, args.GetInt("opset", 14));
  GF_ASSIGN_OR_RETURN(const int64_t T, args.GetInt("T", 16));
  GF_ASSIGN_OR_RETURN(const int64_t B, args.GetInt("B", 4));
  GF_ASSIGN_OR_RETURN(const int64_t seed, args.GetInt("seed", 1));
  if (sets < 0 || sets > 1000) return absl::InvalidArgumentError("--test-data must be in 0..1000");
  if (T < 1 || B < 1 || T * B > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError("--T and --B must be >= 1 (and T*B at most 2^24)");
  }
  const std::string& path = args.positionals[0];
  GF_ASSIGN_OR_RETURN(ModelFile file, LoadModelFile(path));
  GF_ASSIGN_OR_RETURN(TaskModel model, TaskModel::FromModelFile(file));
  // The test inputs: the model's own test set, batch by batch, when the file records
  // the run that trained it; else (or with --random-test-data) seeded random ones.
  std::vector<ModelInput> inputs;
  std::string source = "seeded random inputs";
  const absl::StatusOr<Settings> stored = StoredSettings(file, path);
  if (sets > 0 && stored.ok() && !args.Has("random-test-data")) {
    GF_ASSIGN_OR_RETURN(const RunConfig run, Resolve(*stored));
    absl::StatusOr<TaskData> data = LoadData(run);
    if (!data.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the test data comes from the model's ", TaskName(model.config().task),
          " test set, which does not load (", data.status().message(),
          "); --random-test-data writes seeded random inputs instead"));
    }
    GF_RETURN_IF_ERROR(CheckVocabulary(file, *data));
    GF_ASSIGN_OR_RETURN(std::vector<Batch> batches, data->TestBatches(B));
    for (int64_t k = 0; k < sets && k < static_cast<int64_t>(batches.size()); ++k) {
      ModelInput in = batches[k].input;
      if (!in.lengths.defined()) {
        in.lengths = LengthsTensor(std::vector<int64_t>(in.x.dim(1), in.x.dim(0)));
      }
      inputs.push_back(in);
    }
    source = absl::StrCat("the first ", inputs.size(), " test batches of ", B);
  } else {
    for (int64_t k = 0; k < sets; ++k) {
      const uint64_t set_seed = static_cast<uint64_t>(seed) * 1000 + k;
      inputs.push_back({TestInput(model, T, B, set_seed), TestLengths(T, B, set_seed)});
    }
  }
  GF_ASSIGN_OR_RETURN(onnx::ModelProto proto, ExportTaskModel(model, {.opset = opset}));
  const std::string dir = args.Get("out", "");
  GF_RETURN_IF_ERROR(MakeFolder(dir));
  GF_RETURN_IF_ERROR(WriteFileAtomically(dir + "/model.onnx", proto.SerializeAsString()));
  std::vector<std::string> nodes;
  for (const onnx::NodeProto& n : proto.graph().node()) {
    if (n.op_type() == "LSTM" || n.op_type() == "GRU" || n.op_type() == "RNN" ||
        n.op_type() == "Scan") {
      nodes.push_back(n.op_type());
    }
  }
  std::printf("exported %s (task %s, cell %s): %d nodes (recurrent: %s), opset %lld\n",
              path.c_str(), TaskName(model.config().task).c_str(),
              model.config().cell.DisplayName().c_str(), proto.graph().node_size(),
              absl::StrJoin(nodes, ", ").c_str(), static_cast<long long>(opset));
  std::printf("inputs %s: %s, sequence_lens: int32 [B]; outputs: %s\n",
              ExportedInputName(model).c_str(),
              model.config().task == Task::kAdding ? "float [T, B, 2]" : "int64 [T, B]",
              absl::StrJoin(ExportedOutputNames(model), ", ").c_str());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string set = absl::StrCat(dir, "/test_data_set_", k);
    GF_RETURN_IF_ERROR(MakeFolder(set));
    const ModelInput& in = inputs[k];
    GF_RETURN_IF_ERROR(
        WriteOnnxTensorFile(TensorToOnnx(in.x, ExportedInputName(model)), set + "/input_0.pb"));
    GF_RETURN_IF_ERROR(WriteOnnxTensorFile(
        TensorToOnnx(in.lengths, "sequence_lens", /*as_int32=*/true), set + "/input_1.pb"));
    GF_ASSIGN_OR_RETURN(auto outputs, ExportedOutputs(model, in.x, in.lengths));
    const std::vector<std::string> names = ExportedOutputNames(model);
    for (size_t j = 0; j < names.size(); ++j) {
      GF_RETURN_IF_ERROR(WriteOnnxTensorFile(TensorToOnnx(outputs.at(names[j]), names[j]),
                                             absl::StrCat(set, "/output_", j, ".pb")));
    }
  }
  std::printf("wrote %s/model.onnx%s\n", dir.c_str(),
              inputs.empty() ? ""
                             : absl::StrCat(" and ", inputs.size(), " test data set(s): ", source)
                                   .c_str());
  return absl::OkStatus();
}

}  // namespace

int Export(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args =
      ParseArgs(argv, {"out", "test-data", "opset", "T", "B", "seed"}, {"random-test-data"});
  if (!args.ok()) return Fail("export", kUsage, args.status());
  absl::Status st = ExportModel(*args);
  return st.ok() ? 0 : Fail("export", absl::StartsWith(st.message(), "usage:") ? kUsage : kFailed, st);
}

}  // namespace gatefuse::cli
